//! When pyrite compiles: by default, wherever a model can be (`PYRITE_COMPILE=0` turns it off
//! for a process; `Svi::compiled` and `Nuts::compiled` for one run).

use std::sync::atomic::{AtomicU8, Ordering};

/// The process's choice, when one was made: 0 none, 1 on, 2 off.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// Whether SVI and MCMC compile by default: as [`set_enabled_by_default`] chose, else true
/// unless the environment variable `PYRITE_COMPILE` is `0`, `false`, `off` or `no`.
///
/// ```
/// // (The test process does not set PYRITE_COMPILE.)
/// assert_eq!(pyrite_compile::enabled_by_default(), std::env::var("PYRITE_COMPILE").map_or(true, |v| v != "0"));
/// ```
pub fn enabled_by_default() -> bool {
    match CHOSEN.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    match std::env::var("PYRITE_COMPILE") {
        Ok(v) => !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "off" | "no"),
        Err(_) => true,
    }
}

/// Sets whether the `Svi` and `Nuts`/`Hmc` made from now on in this process compile by default
/// (a program's `--eager` flag); each can still be set on its own.
pub fn set_enabled_by_default(on: bool) {
    CHOSEN.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// Prints `note: {what}: {why}` on standard error once per process for each distinct pair (a
/// model that cannot be compiled is noted once, not at every run, step or chain).
pub fn note_once(what: &str, why: &str) {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let line = format!("note: {what}: {why}");
    let fresh = SEEN.get_or_init(Default::default).lock().map(|mut seen| seen.insert(line.clone())).unwrap_or(true);
    if fresh {
        eprintln!("{line}");
    }
}
