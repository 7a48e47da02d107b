//! The bad-input catalogue, `docs/errors.md`: each mistake it lists that no other test covers is
//! a typed error here, with the message the catalogue quotes and nothing changed by it; and
//! every message the catalogue quotes, produced by the mistake it describes, is found in the
//! catalogue verbatim (so that the catalogue cannot drift from the code).

mod data;
mod distributions;
mod inference;
mod language;
mod messages;

use std::fmt::Display;
use std::sync::OnceLock;

/// The text of `docs/errors.md`.
fn catalogue() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md");
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    })
}

/// Asserts that `err`'s message is `expected` and that `docs/errors.md` quotes it verbatim.
#[track_caller]
fn documented(err: &impl Display, expected: &str) {
    let msg = err.to_string();
    assert_eq!(msg, expected, "the error's message");
    assert!(catalogue().contains(&msg), "docs/errors.md does not quote the message:\n{msg}");
}

/// Runs `f`, failing the test if it panics instead of returning.
#[track_caller]
fn no_panic<R>(what: &str, f: impl FnOnce() -> R) -> R {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("{what}: panicked instead of returning an error"))
}
