//! The negative binomial distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{binary_logits, standard_gamma};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `NegativeBinomial(total_count, probs)`: the number of successes before `total_count`
/// failures, each trial succeeding with probability `probs` (torch's convention).
#[derive(Debug)]
pub struct NegativeBinomial {
    /// Number of failures that stops the trials (`> 0`; need not be an integer).
    pub total_count: Tensor,
    /// Success probability of each trial.
    pub probs: Tensor,
    /// Log-odds of success.
    pub logits: Tensor,
    batch_shape: Vec<i64>,
}

impl NegativeBinomial {
    /// From `total_count > 0` and the success probability in `[0, 1)`.
    pub fn new(total_count: impl IntoParam, probs: impl IntoParam) -> Result<Self> {
        let probs = float_param(probs.into_param());
        check_param("NegativeBinomial", "probs", &probs, &Constraint::UnitInterval)?;
        let logits = binary_logits(&probs);
        Self::build(total_count.into_param(), probs, logits)
    }
    /// From `total_count > 0` and the log-odds of success.
    pub fn from_logits(total_count: impl IntoParam, logits: impl IntoParam) -> Result<Self> {
        let logits = float_param(logits.into_param());
        check_param("NegativeBinomial", "logits", &logits, &Constraint::Real)?;
        Self::build(total_count.into_param(), logits.sigmoid(), logits)
    }
    fn build(total_count: Tensor, probs: Tensor, logits: Tensor) -> Result<Self> {
        let [total_count, probs, logits] = same_kind([float_param(total_count), probs, logits]);
        let batch_shape = broadcast_params("NegativeBinomial", &[("total_count", &total_count), ("probs", &probs)])?;
        check_param("NegativeBinomial", "total_count", &total_count, &Constraint::Positive)?;
        Ok(NegativeBinomial { total_count, probs, logits, batch_shape })
    }
}

impl Distribution for NegativeBinomial {
    family_common!("NegativeBinomial");
    fn support(&self) -> Constraint {
        Constraint::NonnegativeInteger
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.probs, &self.total_count])
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        tch::no_grad(|| {
            let rate = standard_gamma(&self.total_count, &self.shape(sample_shape)) * self.logits.exp();
            Ok(rate.poisson())
        })
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let r = &self.total_count;
        let unnormalized = r * (-&self.logits).log_sigmoid() + value * self.logits.log_sigmoid();
        let normalization = -(r + value).lgamma() + (value + 1.0).lgamma() + r.lgamma();
        Ok(unnormalized - normalization)
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(&self.total_count * self.logits.exp())
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(self.mean()? / (-&self.logits).sigmoid())
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("NegativeBinomial", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(NegativeBinomial {
            total_count: expand_param(&self.total_count, batch_shape, &[]),
            probs: expand_param(&self.probs, batch_shape, &[]),
            logits: expand_param(&self.logits, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
