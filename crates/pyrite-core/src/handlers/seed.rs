//! `seed` and `set_rng_seed`: reproducible randomness.

use crate::runtime::rng_guard;

/// Seeds libtorch's generator (CPU and CUDA) so that runs repeat exactly (`pyro.set_rng_seed`).
/// The generator is shared by all threads: for runs that repeat while other threads sample, use
/// `seed`.
pub fn set_rng_seed(seed: u64) {
    let _rng = rng_guard();
    tch::manual_seed(seed as i64);
}

/// Runs `f` after seeding the generator with `seed` (`poutine.seed`): two calls with the same
/// seed draw the same values. The thread holds the process-wide generator for the whole of `f`
/// (see [`rng_guard`](crate::runtime::rng_guard)), so other threads' sample statements wait and
/// do not change what `f` draws; `f` must not wait for another thread that samples.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let draw = || sample("x", Normal::new(0.0, 1.0)?);
/// let a = seed(42, draw)?;
/// let b = seed(42, draw)?;
/// assert!(a.equal(&b));
/// # Ok::<(), PyriteError>(())
/// ```
pub fn seed<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    let _rng = rng_guard();
    set_rng_seed(seed);
    f()
}
