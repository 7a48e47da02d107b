//! The exponential distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::where_or_neg_inf;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `Exponential(rate)`: density `rate * exp(-rate x)` on `[0, inf)`.
#[derive(Debug)]
pub struct Exponential {
    /// Rate (`> 0`); the mean is `1 / rate`.
    pub rate: Tensor,
    batch_shape: Vec<i64>,
}

impl Exponential {
    /// An exponential distribution with the given rate (`> 0`).
    pub fn new(rate: impl IntoParam) -> Result<Self> {
        let rate = float_param(rate.into_param());
        check_param("Exponential", "rate", &rate, &Constraint::Positive)?;
        Ok(Exponential { batch_shape: rate.size(), rate })
    }
}

impl Distribution for Exponential {
    family_common!("Exponential");
    fn support(&self) -> Constraint {
        Constraint::Nonnegative
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.rate])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let mut e = Tensor::empty(self.shape(sample_shape), self.options());
        let _ = e.exponential_(1.0);
        Ok(e / &self.rate)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let lp = self.rate.log() - &self.rate * value;
        Ok(where_or_neg_inf(&value.ge(0.0), &lp))
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(self.rate.reciprocal())
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(self.rate.square().reciprocal())
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(-self.rate.log() + 1.0)
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Exponential", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Exponential { rate: expand_param(&self.rate, batch_shape, &[]), batch_shape: batch_shape.to_vec() }))
    }
}
