//! The Delta (point mass) distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::sum_rightmost;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};

/// `Delta(v, log_density, event_dim)`: all mass at `v`, as in Pyro. `rsample` returns `v` itself,
/// so gradients flow to it (AutoDelta relies on this).
#[derive(Debug)]
pub struct Delta {
    /// The point where all the mass lies.
    pub v: Tensor,
    /// Added to `log_prob` at `v` (`0` unless built `with_log_density`).
    pub log_density: Tensor,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
}

impl Delta {
    /// A point mass at `v` whose `event_dim` rightmost dimensions form one event.
    pub fn new(v: impl IntoParam, event_dim: usize) -> Result<Self> {
        Self::with_log_density(v, 0.0, event_dim)
    }
    /// A point mass with an extra `log_density` added to `log_prob` (for transformed deltas).
    pub fn with_log_density(v: impl IntoParam, log_density: impl IntoParam, event_dim: usize) -> Result<Self> {
        let v = float_param(v.into_param());
        let size = v.size();
        if event_dim > size.len() {
            return Err(DistError::InvalidParameter { dist: "Delta", param: "event_dim", problem: format!("{event_dim} exceeds the rank of v {size:?}") });
        }
        let (b, e) = size.split_at(size.len() - event_dim);
        Ok(Delta { log_density: float_param(log_density.into_param()), batch_shape: b.to_vec(), event_shape: e.to_vec(), v })
    }
}

impl Distribution for Delta {
    family_common!("Delta");
    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }
    fn support(&self) -> Constraint {
        Constraint::Real.independent(self.event_shape.len())
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        (self.v.kind(), self.v.device())
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        if sample_shape.is_empty() {
            return Ok(self.v.shallow_clone());
        }
        Ok(self.v.expand(self.shape(sample_shape).as_slice(), false))
    }
    /// `log_density` where `value == v`, `-inf` elsewhere. At `v` itself (the draw `rsample`
    /// returned, as an `AutoDelta` guide scores it) no comparison is needed.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        if crate::host_reads::address(value) == crate::host_reads::address(&self.v) && value.size() == self.v.size() && value.stride() == self.v.stride() {
            return Ok(expand_param(&self.log_density, &self.batch_shape, &[]));
        }
        let lp = value.eq_tensor(&self.v).to_kind(self.v.kind()).log();
        Ok(sum_rightmost(&lp, self.event_shape.len()) + &self.log_density)
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(self.v.shallow_clone())
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(self.v.zeros_like())
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Delta", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Delta {
            v: expand_param(&self.v, batch_shape, &self.event_shape),
            log_density: self.log_density.shallow_clone(),
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
        }))
    }
}
