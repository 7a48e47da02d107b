//! Reads of tensor values on the host that pyrite makes for its own checks.
//!
//! While a model is captured by the compiler (`pyrite-compile`), reading a value that depends on
//! the model's latent sites on the host (`double_value`, `Vec::try_from`...) makes the capture
//! refuse: such a value may steer the model, which a recorded graph cannot follow. pyrite's own
//! checks (is this value finite, is it in the support) read values too, but only to raise an
//! error; they run inside [`checking`], which the capture does not count.
//!
//! ```
//! use pyrite_distributions::host_reads::{checking, is_checking};
//!
//! let x = tch::Tensor::from(1.5f64);
//! let finite = checking(|| x.isfinite().all().int64_value(&[]) == 1);
//! assert!(finite && !is_checking());
//! ```

use std::cell::Cell;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static AFTER: Cell<Option<fn()>> = const { Cell::new(None) };
}

/// Runs `f`, a check that reads tensor values on the host only to decide whether to raise an
/// error (never to compute the model's result).
pub fn checking<R>(f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            let depth = DEPTH.with(|d| {
                d.set(d.get() - 1);
                d.get()
            });
            if depth == 0 {
                if let Some(after) = AFTER.with(Cell::get) {
                    after();
                }
            }
        }
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    let _leave = Leave;
    f()
}

/// Whether the current thread is inside [`checking`].
pub fn is_checking() -> bool {
    DEPTH.with(Cell::get) > 0
}

/// Sets (or, with `None`, removes) what runs on this thread after each outermost [`checking`]
/// ends: the compiler's capture watches values again there.
pub fn set_after_checking(f: Option<fn()>) {
    AFTER.with(|a| a.set(f));
}

/// The address of `t`'s data, for identity comparisons (is this the tensor that was drawn?):
/// not a read of its values, so a capture does not count it.
///
/// ```
/// use pyrite_distributions::host_reads::address;
///
/// let x = tch::Tensor::from_slice(&[1.0f64, 2.0]);
/// assert_eq!(address(&x), address(&x.shallow_clone()));
/// assert_ne!(address(&x), address(&x.copy()));
/// ```
pub fn address(t: &tch::Tensor) -> usize {
    checking(|| t.data_ptr() as usize)
}
