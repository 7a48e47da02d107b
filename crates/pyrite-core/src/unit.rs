//! `Unit`: the distribution behind `factor`, whose log-density is a given tensor.

use std::rc::Rc;

use pyrite_distributions::{Constraint, DistError, DistRef, Distribution};
use tch::{Device, Kind, Tensor};

/// A distribution over empty values whose `log_prob` is `log_factor` (Pyro's `Unit`).
#[derive(Debug)]
pub struct Unit {
    log_factor: Tensor,
    batch_shape: Vec<i64>,
}

impl Unit {
    /// The unit distribution carrying `log_factor`.
    pub fn new(log_factor: &Tensor) -> Self {
        Unit { batch_shape: log_factor.size(), log_factor: log_factor.shallow_clone() }
    }
}

impl Distribution for Unit {
    fn name(&self) -> &'static str {
        "Unit"
    }
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }
    fn event_shape(&self) -> &[i64] {
        &[0]
    }
    fn support(&self) -> Constraint {
        Constraint::Real.independent(1)
    }
    fn options(&self) -> (Kind, Device) {
        (self.log_factor.kind(), self.log_factor.device())
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor, DistError> {
        Ok(Tensor::empty(self.shape(sample_shape).as_slice(), self.options()))
    }
    fn log_prob(&self, _value: &Tensor) -> Result<Tensor, DistError> {
        Ok(self.log_factor.shallow_clone())
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef, DistError> {
        Ok(Rc::new(Unit { log_factor: self.log_factor.expand(batch_shape, false), batch_shape: batch_shape.to_vec() }))
    }
}
