//! The Bernoulli distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{binary_logits, enumerate_range};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `Bernoulli(probs)` or `Bernoulli::from_logits(logits)`, over `{0., 1.}`.
#[derive(Debug)]
pub struct Bernoulli {
    /// Probability of `1`.
    pub probs: Tensor,
    /// Log-odds of `1`: `log(probs / (1 - probs))`.
    pub logits: Tensor,
    batch_shape: Vec<i64>,
}

impl Bernoulli {
    /// A Bernoulli with success probability `probs` in `[0, 1]`.
    pub fn new(probs: impl IntoParam) -> Result<Self> {
        let probs = float_param(probs.into_param());
        check_param("Bernoulli", "probs", &probs, &Constraint::UnitInterval)?;
        Ok(Bernoulli { batch_shape: probs.size(), logits: binary_logits(&probs), probs })
    }
    /// A Bernoulli with log-odds `logits`.
    pub fn from_logits(logits: impl IntoParam) -> Result<Self> {
        let logits = float_param(logits.into_param());
        check_param("Bernoulli", "logits", &logits, &Constraint::Real)?;
        Ok(Bernoulli { batch_shape: logits.size(), probs: logits.sigmoid(), logits })
    }
}

impl Distribution for Bernoulli {
    family_common!("Bernoulli");
    fn support(&self) -> Constraint {
        Constraint::Boolean
    }
    fn has_enumerate_support(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.probs])
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        tch::no_grad(|| Ok(self.probs.expand(self.shape(sample_shape).as_slice(), false).bernoulli()))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        Ok(value * &self.logits - self.logits.softplus())
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(self.probs.shallow_clone())
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(&self.probs * (-&self.probs + 1.0))
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(self.logits.softplus() - &self.probs * &self.logits)
    }
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        Ok(enumerate_range(2, &self.batch_shape, expand, self.options()))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Bernoulli", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Bernoulli {
            probs: expand_param(&self.probs, batch_shape, &[]),
            logits: expand_param(&self.logits, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
