//! `Independent`: reinterprets batch dimensions as event dimensions (`to_event`).

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::sum_rightmost;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};
use crate::shape::concat;

/// The `n` rightmost batch dimensions of `base` treated as one event: `log_prob` sums over them.
#[derive(Debug)]
pub struct Independent {
    /// The distribution whose batch dimensions are reinterpreted.
    pub base: DistRef,
    reinterpreted: usize,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
}

impl Independent {
    /// Moves `n` batch dimensions of `base` into its event.
    pub fn new(base: impl IntoDist, n: usize) -> Result<Self> {
        let base = base.into_dist();
        let b = base.batch_shape();
        if n > b.len() {
            return Err(DistError::Shape {
                dist: "Independent",
                detail: format!("to_event({n}) needs {n} batch dims, but {} has batch shape {b:?}", base.name()),
            });
        }
        let (batch, moved) = b.split_at(b.len() - n);
        let event_shape = concat(moved, base.event_shape());
        // Flatten nested Independents.
        if base.reinterpreted_dims() > 0 {
            if let Some(inner) = base_as_independent(&base) {
                return Ok(Independent { base: inner.base.clone(), reinterpreted: inner.reinterpreted + n, batch_shape: batch.to_vec(), event_shape });
            }
        }
        Ok(Independent { batch_shape: batch.to_vec(), event_shape, base, reinterpreted: n })
    }
}

fn base_as_independent(d: &DistRef) -> Option<&Independent> {
    // `d.as_any()` would resolve to the blanket impl for `Rc<dyn Distribution>` itself (and the
    // downcast would always fail); go through the trait object to reach the concrete family.
    let any: &dyn std::any::Any = (**d).as_any();
    any.downcast_ref::<Independent>()
}

impl Distribution for Independent {
    fn name(&self) -> &'static str {
        "Independent"
    }
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }
    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }
    fn support(&self) -> Constraint {
        self.base.support().independent(self.reinterpreted)
    }
    fn has_rsample(&self) -> bool {
        self.base.has_rsample()
    }
    fn options(&self) -> (Kind, Device) {
        self.base.options()
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        self.base.sample(sample_shape)
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        self.base.rsample(sample_shape)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        Ok(sum_rightmost(&self.base.log_prob(value)?, self.reinterpreted))
    }
    fn mean(&self) -> Result<Tensor> {
        self.base.mean()
    }
    fn variance(&self) -> Result<Tensor> {
        self.base.variance()
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(sum_rightmost(&self.base.entropy()?, self.reinterpreted))
    }
    fn reinterpreted_dims(&self) -> usize {
        self.reinterpreted
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Independent", &self.batch_shape, batch_shape)?;
        let n = self.reinterpreted;
        let base_batch = self.base.batch_shape();
        let moved = &base_batch[base_batch.len() - n..];
        let base = self.base.expand(&concat(batch_shape, moved))?;
        Ok(Rc::new(Independent { base, reinterpreted: n, batch_shape: batch_shape.to_vec(), event_shape: self.event_shape.clone() }))
    }
}
