//! The continuous uniform distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{rand, where_or_neg_inf};
use crate::constraints::{Bound, Constraint};
use crate::distribution::*;
use crate::error::{DistError, Result};
use crate::validation::validation_enabled;

/// `Uniform(low, high)` on `[low, high)`.
#[derive(Debug)]
pub struct Uniform {
    /// Lower bound (inclusive).
    pub low: Tensor,
    /// Upper bound (exclusive).
    pub high: Tensor,
    batch_shape: Vec<i64>,
}

impl Uniform {
    /// A uniform distribution; `low < high` elementwise.
    pub fn new(low: impl IntoParam, high: impl IntoParam) -> Result<Self> {
        let low = float_param(low.into_param());
        let high = float_param(high.into_param());
        let [low, high] = same_kind([low, high]);
        let batch_shape = broadcast_params("Uniform", &[("low", &low), ("high", &high)])?;
        check_param("Uniform", "low", &low, &Constraint::Real)?;
        check_param("Uniform", "high", &high, &Constraint::Real)?;
        if validation_enabled() && !bool::try_from(low.lt_tensor(&high).all()).unwrap_or(false) {
            return Err(DistError::InvalidParameter { dist: "Uniform", param: "high", problem: "must be greater than low".into() });
        }
        Ok(Uniform { low, high, batch_shape })
    }
}

impl Distribution for Uniform {
    family_common!("Uniform");
    fn support(&self) -> Constraint {
        Constraint::Interval(Bound::Tensor(self.low.shallow_clone()), Bound::Tensor(self.high.shallow_clone()))
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.low, &self.high])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let u = rand(&self.shape(sample_shape), self.options());
        Ok(u * (&self.high - &self.low) + &self.low)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let inside = value.ge_tensor(&self.low).logical_and(&value.lt_tensor(&self.high));
        let lp = -(&self.high - &self.low).log();
        Ok(where_or_neg_inf(&inside, &lp.expand_as(&inside)))
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(expand_param(&((&self.high + &self.low) * 0.5), &self.batch_shape, &[]))
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(expand_param(&((&self.high - &self.low).square() / 12.0), &self.batch_shape, &[]))
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(expand_param(&(&self.high - &self.low).log(), &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Uniform", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Uniform {
            low: expand_param(&self.low, batch_shape, &[]),
            high: expand_param(&self.high, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
