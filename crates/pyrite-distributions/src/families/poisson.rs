//! The Poisson distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::xlogy;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `Poisson(rate)` on the nonnegative integers (values are floats, as in torch).
#[derive(Debug)]
pub struct Poisson {
    /// Rate, the mean (`> 0`).
    pub rate: Tensor,
    batch_shape: Vec<i64>,
}

impl Poisson {
    /// A Poisson distribution with `rate >= 0`.
    pub fn new(rate: impl IntoParam) -> Result<Self> {
        let rate = float_param(rate.into_param());
        check_param("Poisson", "rate", &rate, &Constraint::Nonnegative)?;
        Ok(Poisson { batch_shape: rate.size(), rate })
    }
}

impl Distribution for Poisson {
    family_common!("Poisson");
    fn support(&self) -> Constraint {
        Constraint::NonnegativeInteger
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.rate])
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        tch::no_grad(|| Ok(self.rate.expand(self.shape(sample_shape).as_slice(), false).contiguous().poisson()))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        Ok(xlogy(value, &self.rate) - &self.rate - (value + 1.0).lgamma())
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(self.rate.shallow_clone())
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(self.rate.shallow_clone())
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Poisson", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Poisson { rate: expand_param(&self.rate, batch_shape, &[]), batch_shape: batch_shape.to_vec() }))
    }
}
