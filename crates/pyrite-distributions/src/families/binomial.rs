//! The binomial distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{binary_logits, enumerate_range};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};

/// `Binomial(total_count, probs)` or `Binomial::from_logits`: successes in `total_count` trials.
#[derive(Debug)]
pub struct Binomial {
    /// Number of trials (a nonnegative integer, stored as a float).
    pub total_count: Tensor,
    /// Success probability of each trial.
    pub probs: Tensor,
    /// Log-odds of success.
    pub logits: Tensor,
    batch_shape: Vec<i64>,
}

impl Binomial {
    /// From the number of trials (a nonnegative integer) and the success probability.
    pub fn new(total_count: impl IntoParam, probs: impl IntoParam) -> Result<Self> {
        let probs = float_param(probs.into_param());
        check_param("Binomial", "probs", &probs, &Constraint::UnitInterval)?;
        let logits = binary_logits(&probs);
        Self::build(total_count.into_param(), probs, logits)
    }
    /// From the number of trials and the log-odds of success.
    pub fn from_logits(total_count: impl IntoParam, logits: impl IntoParam) -> Result<Self> {
        let logits = float_param(logits.into_param());
        check_param("Binomial", "logits", &logits, &Constraint::Real)?;
        Self::build(total_count.into_param(), logits.sigmoid(), logits)
    }
    fn build(total_count: Tensor, probs: Tensor, logits: Tensor) -> Result<Self> {
        let [total_count, probs, logits] = same_kind([float_param(total_count), probs, logits]);
        let batch_shape = broadcast_params("Binomial", &[("total_count", &total_count), ("probs", &probs)])?;
        check_param("Binomial", "total_count", &total_count, &Constraint::NonnegativeInteger)?;
        Ok(Binomial { total_count, probs, logits, batch_shape })
    }
}

impl Distribution for Binomial {
    family_common!("Binomial");
    fn support(&self) -> Constraint {
        Constraint::IntegerInterval(0, self.total_count.max().int64_value(&[]))
    }
    fn has_enumerate_support(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.probs, &self.total_count])
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let shape = self.shape(sample_shape);
        tch::no_grad(|| {
            let n = self.total_count.expand(shape.as_slice(), false).contiguous();
            let p = self.probs.expand(shape.as_slice(), false).contiguous();
            Ok(Tensor::binomial(&n, &p))
        })
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let n = &self.total_count;
        let logits = &self.logits;
        let log_factorial_n = (n + 1.0).lgamma();
        let log_factorial_k = (value + 1.0).lgamma();
        let log_factorial_nmk = (n - value + 1.0).lgamma();
        let normalize = n * logits.clamp_min(0.0) + n * (-logits.abs()).exp().log1p() - log_factorial_n;
        let lp = value * logits - log_factorial_k - log_factorial_nmk - normalize;
        Ok(lp.masked_fill(&value.gt_tensor(n), f64::NEG_INFINITY))
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(&self.total_count * &self.probs)
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(&self.total_count * &self.probs * (-&self.probs + 1.0))
    }
    fn entropy(&self) -> Result<Tensor> {
        let values = self.enumerate_support(false)?;
        let lp = self.log_prob(&values)?;
        Ok(-(lp.exp() * &lp).sum_dim_intlist(0, false, lp.kind()))
    }
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        let max = self.total_count.max();
        if !bool::try_from(self.total_count.eq_tensor(&max).all()).unwrap_or(false) {
            return Err(DistError::Unsupported { dist: "Binomial", op: "enumerate_support with inhomogeneous total_count" });
        }
        Ok(enumerate_range(max.int64_value(&[]) + 1, &self.batch_shape, expand, self.options()))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Binomial", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Binomial {
            total_count: expand_param(&self.total_count, batch_shape, &[]),
            probs: expand_param(&self.probs, batch_shape, &[]),
            logits: expand_param(&self.logits, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
