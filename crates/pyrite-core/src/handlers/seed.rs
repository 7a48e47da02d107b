//! `seed` and `set_rng_seed`: reproducible randomness.

/// Seeds libtorch's generator (CPU and CUDA) so that runs repeat exactly (`pyro.set_rng_seed`).
pub fn set_rng_seed(seed: u64) {
    tch::manual_seed(seed as i64);
}

/// Runs `f` after seeding the generator with `seed` (`poutine.seed`): two calls with the same
/// seed draw the same values.
pub fn seed<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    set_rng_seed(seed);
    f()
}
