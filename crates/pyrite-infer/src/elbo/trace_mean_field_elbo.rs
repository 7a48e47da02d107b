//! `TraceMeanField_ELBO`: `Trace_ELBO` with the KL divergence of each latent site in closed form.

use super::{Elbo, LossAndParams, Program, TraceElbo};
use pyrite_core::prelude::*;

/// Pyro's `TraceMeanField_ELBO`: `sum log p(observed) - sum KL(q(z) || p(z))`, where each latent
/// site's KL divergence between its guide and model distributions is computed in closed form
/// when the pair has one (`kl_divergence`, torch's registry) and the guide site is
/// reparameterised, and estimated from the guide's sample, `log q(z) - log p(z)`, otherwise (a
/// discrete guide site then keeps its score-function gradient, as in `TraceElbo`). For a mean-field guide (each latent site's
/// guide independent of the others, and the model's prior of it not depending on other latent
/// sites) the estimate has lower variance than `TraceElbo`'s; like Pyro's, it does not check that
/// the guide is mean-field.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// // With no data, the loss is exactly KL(q || p), with no sampling noise.
/// let model = |_: &()| sample("z", Normal::new(0.0, 1.0)?);
/// let guide = |_: &()| sample("z", Normal::new(1.0, 0.5)?).map(drop);
/// let svi = Svi::new(&model, &guide, Optimizer::adam(0.01), TraceMeanFieldElbo::new());
/// let want = 2f64.ln() + (0.25 + 1.0) / 2.0 - 0.5;
/// assert!((svi.evaluate_loss(&())? - want).abs() < 1e-6);
/// # Ok::<(), PyriteError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TraceMeanFieldElbo(TraceElbo);

impl Default for TraceMeanFieldElbo {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceMeanFieldElbo {
    /// One particle.
    pub fn new() -> Self {
        TraceMeanFieldElbo(TraceElbo::new().with_analytic_kl())
    }
    /// `n` particles, sequential or vectorised (as `TraceElbo::with_particles`).
    pub fn with_particles(n: usize, vectorize: bool) -> Self {
        TraceMeanFieldElbo(TraceElbo::with_particles(n, vectorize).with_analytic_kl())
    }
}

impl Elbo for TraceMeanFieldElbo {
    fn loss_and_params(&self, model: Program, guide: Program) -> Result<LossAndParams> {
        self.0.loss_and_params(model, guide)
    }
}
