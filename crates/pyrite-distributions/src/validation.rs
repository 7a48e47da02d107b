//! Switches for argument and value validation: a global one, and a per-thread suppression that
//! inference uses once a model has been checked.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

static VALIDATION: AtomicBool = AtomicBool::new(true);

thread_local! {
    static SUPPRESSED: Cell<bool> = const { Cell::new(false) };
}

/// Turns argument and support validation on (the default) or off for every distribution built
/// afterwards, like `pyro.enable_validation`. Switching it off saves a few tensor operations (and,
/// on a GPU, a device synchronisation) per constructor and per `log_prob`.
pub fn set_validation(enabled: bool) {
    VALIDATION.store(enabled, Ordering::Relaxed);
}

/// Whether validation is on (globally, and not suppressed on this thread).
pub fn validation_enabled() -> bool {
    VALIDATION.load(Ordering::Relaxed) && !SUPPRESSED.with(|s| s.get())
}

/// Runs `f` with validation suppressed on this thread (restored afterwards, even on panic).
/// `Svi` uses it after a first, fully validated step.
pub fn without_validation<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SUPPRESSED.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SUPPRESSED.with(|s| s.replace(true)));
    f()
}
