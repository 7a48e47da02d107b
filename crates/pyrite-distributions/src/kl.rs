//! Closed-form KL divergences `KL(p || q)`, as torch's `kl_divergence` registry (torch 2.13's
//! `torch/distributions/kl.py`, formula for formula) for the families of this crate:
//!
//! - **same family**: `Bernoulli`, `Beta`, `Binomial`, `Categorical`, `Cauchy`, `Dirichlet`,
//!   `Exponential`, `Gamma`, `HalfCauchy`, `HalfNormal`, `InverseGamma`, `Laplace`, `LogNormal`,
//!   `Normal`, `OneHotCategorical`, `Poisson`, `Uniform`, and `Independent` pairs that move the
//!   same number of dims into the event (the KL of the bases, summed over those dims);
//! - **Gaussians**: `MultivariateNormal` and `LowRankMultivariateNormal`, in all four pairs;
//! - **across families**: `Bernoulli`–`Poisson`, `Beta`–{`Exponential`, `Gamma`, `Normal`,
//!   `Uniform`}, `Exponential`–{`Gamma`, `Normal`}, `Gamma`–{`Exponential`, `Normal`},
//!   `Laplace`–`Normal`, `Normal`–`Laplace`, `Uniform`–{`Beta`, `Exponential`, `Gamma`,
//!   `Normal`}, and the pairs whose divergence is infinite because the support of `p` is not
//!   inside that of `q` (`Normal`–`Gamma`, `Poisson`–`Bernoulli`, ...).
//!
//! Where `p` puts mass outside the support of `q` the divergence is `inf`, elementwise (two
//! `Uniform`s, `Bernoulli` or `Categorical` probabilities of zero, a `Binomial` `p` with more
//! trials than `q`), as in torch. Other pairs are [`DistError::Unsupported`], never a guess.
//!
//! ```
//! use pyrite_distributions::prelude::*;
//! let q = Normal::new(1.0, 0.5)?;
//! let p = Normal::new(0.0, 1.0)?;
//! // KL(q || p) = log(1 / 0.5) + (0.5^2 + 1^2) / 2 - 1/2
//! let want = 2f64.ln() + (0.25 + 1.0) / 2.0 - 0.5;
//! assert!((kl_divergence(&q, &p)?.double_value(&[]) - want).abs() < 1e-6);
//! // Across families where torch has a closed form: KL(Exponential(1) || Gamma(1, 1)) = 0.
//! let kl = kl_divergence(&Exponential::new(1.0)?, &Gamma::new(1.0, 1.0)?)?;
//! assert!(kl.double_value(&[]).abs() < 1e-6);
//! // No closed form for this pair: a typed error, not a guess.
//! let err = kl_divergence(&Cauchy::new(0.0, 1.0)?, &p).unwrap_err();
//! assert!(matches!(err, DistError::Unsupported { .. }));
//! # Ok::<(), DistError>(())
//! ```

mod cross_family;
mod gaussian;
mod same_family;

use std::any::Any;

use tch::Tensor;

use crate::distribution::Distribution;
use crate::error::{DistError, Result};
use crate::shape::broadcast_shapes;

/// The operation a [`DistError::Unsupported`] names for a pair without a closed form.
const NO_CLOSED_FORM: &str = "kl_divergence (no closed form for this pair)";

/// `KL(p || q)`, of the broadcast batch shape of `p` and `q`.
///
/// # Errors
/// [`DistError::Unsupported`] when the pair has no closed form here (or, for two `Binomial`s,
/// when `q` has more trials than `p` somewhere, which torch does not implement either);
/// [`DistError::Shape`] when the batch shapes do not broadcast or the event sizes differ.
pub fn kl_divergence(p: &dyn Distribution, q: &dyn Distribution) -> Result<Tensor> {
    let (pa, qa) = (p.as_any(), q.as_any());
    same_family::dispatch(pa, qa)
        .or_else(|| gaussian::dispatch(pa, qa))
        .or_else(|| cross_family::dispatch(pa, qa))
        .unwrap_or_else(|| Err(DistError::Unsupported { dist: p.name(), op: NO_CLOSED_FORM }))
}

/// `Some(f(p, q))` when `p` is a `P` and `q` a `Q` (an error if their batch shapes do not
/// broadcast), `None` otherwise.
fn pair<P, Q>(p: &dyn Any, q: &dyn Any, f: fn(&P, &Q) -> Result<Tensor>) -> Option<Result<Tensor>>
where
    P: Distribution + 'static,
    Q: Distribution + 'static,
{
    let (p, q) = (p.downcast_ref::<P>()?, q.downcast_ref::<Q>()?);
    Some(broadcast_batch(p, q).and_then(|_| f(p, q)))
}

/// The broadcast batch shape of `p` and `q`, or a shape error.
fn broadcast_batch(p: &dyn Distribution, q: &dyn Distribution) -> Result<Vec<i64>> {
    broadcast_shapes(&[p.batch_shape(), q.batch_shape()]).ok_or_else(|| DistError::Shape {
        dist: p.name(),
        detail: format!("kl_divergence: batch shape {:?} of {} and {:?} of {}", p.batch_shape(), p.name(), q.batch_shape(), q.name()),
    })
}

/// Checks that `p` and `q` (of family `dist`) have events of one size: `p_size` and `q_size` are
/// their event shapes (for `Categorical`, the number of categories).
fn same_size(dist: &'static str, p_size: &[i64], q_size: &[i64]) -> Result<()> {
    if p_size == q_size {
        return Ok(());
    }
    let detail = format!("kl_divergence needs events of one size, got {p_size:?} and {q_size:?}");
    Err(DistError::Shape { dist, detail })
}

/// `t` with `inf` where `mask` holds (`mask` broadcasts to `t`).
fn inf_where(t: &Tensor, mask: &Tensor) -> Tensor {
    t.masked_fill(mask, f64::INFINITY)
}
