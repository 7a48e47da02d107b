//! Global switch for argument and value validation.

use std::sync::atomic::{AtomicBool, Ordering};

static VALIDATION: AtomicBool = AtomicBool::new(true);

/// Turns argument and support validation on (the default) or off for every distribution built
/// afterwards, like `pyro.enable_validation`. Switching it off saves a few tensor operations (and,
/// on a GPU, a device synchronisation) per constructor and per `log_prob`.
pub fn set_validation(enabled: bool) {
    VALIDATION.store(enabled, Ordering::Relaxed);
}

/// Whether validation is on.
pub fn validation_enabled() -> bool {
    VALIDATION.load(Ordering::Relaxed)
}
