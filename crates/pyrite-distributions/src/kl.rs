//! Closed-form KL divergences, as torch's `kl_divergence` registry: `Normal` to `Normal`, and
//! pairs of `Independent` distributions that move the same number of dims into the event.
//!
//! ```
//! use pyrite_distributions::prelude::*;
//! let q = Normal::new(1.0, 0.5)?;
//! let p = Normal::new(0.0, 1.0)?;
//! // KL(q || p) = log(1 / 0.5) + (0.5^2 + 1^2) / 2 - 1/2
//! let want = 2f64.ln() + (0.25 + 1.0) / 2.0 - 0.5;
//! assert!((kl_divergence(&q, &p)?.double_value(&[]) - want).abs() < 1e-6);
//! // No closed form for this pair: a typed error, not a guess.
//! assert!(kl_divergence(&Gamma::new(2.0, 1.0)?, &p).is_err());
//! # Ok::<(), DistError>(())
//! ```

use tch::Tensor;

use crate::distribution::Distribution;
use crate::error::{DistError, Result};
use crate::families::common::sum_rightmost;
use crate::{Independent, Normal};

/// `KL(p || q)`, of the broadcast batch shape of `p` and `q`.
///
/// # Errors
/// [`DistError::Unsupported`] when the pair has no closed form here.
pub fn kl_divergence(p: &dyn Distribution, q: &dyn Distribution) -> Result<Tensor> {
    let (pa, qa) = (p.as_any(), q.as_any());
    if let (Some(p), Some(q)) = (pa.downcast_ref::<Independent>(), qa.downcast_ref::<Independent>()) {
        let n = p.reinterpreted_dims();
        if n == q.reinterpreted_dims() {
            return Ok(sum_rightmost(&kl_divergence(&*p.base, &*q.base)?, n));
        }
    }
    if let (Some(p), Some(q)) = (pa.downcast_ref::<Normal>(), qa.downcast_ref::<Normal>()) {
        // log(sq / sp) + (sp^2 + (mp - mq)^2) / (2 sq^2) - 1/2
        let var_ratio = (&p.scale / &q.scale).square();
        let t1 = ((&p.loc - &q.loc) / &q.scale).square();
        return Ok((var_ratio.shallow_clone() + t1 - 1.0 - var_ratio.log()) * 0.5);
    }
    Err(DistError::Unsupported { dist: p.name(), op: "kl_divergence (no closed form for this pair)" })
}
