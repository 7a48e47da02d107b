//! The half-normal distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{randn, where_or_neg_inf, LN_2PI_HALF};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

const LN_2: f64 = std::f64::consts::LN_2;

/// `HalfNormal(scale)`: `|X|` for `X ~ Normal(0, scale)`, on `[0, inf)`.
#[derive(Debug)]
pub struct HalfNormal {
    /// Scale of the underlying normal (`> 0`).
    pub scale: Tensor,
    batch_shape: Vec<i64>,
}

impl HalfNormal {
    /// A half-normal with the given scale (`> 0`).
    pub fn new(scale: impl IntoParam) -> Result<Self> {
        let scale = float_param(scale.into_param());
        check_param("HalfNormal", "scale", &scale, &Constraint::Positive)?;
        Ok(HalfNormal { batch_shape: scale.size(), scale })
    }
}

impl Distribution for HalfNormal {
    family_common!("HalfNormal");
    fn support(&self) -> Constraint {
        Constraint::Nonnegative
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.scale])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        Ok((randn(&self.shape(sample_shape), self.options()) * &self.scale).abs())
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let z = value / &self.scale;
        let lp = z.square() * -0.5 - self.scale.log() - LN_2PI_HALF + LN_2;
        Ok(where_or_neg_inf(&value.ge(0.0), &lp))
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(&self.scale * (2.0 / std::f64::consts::PI).sqrt())
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(self.scale.square() * (1.0 - 2.0 / std::f64::consts::PI))
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(self.scale.log() + 0.5 + LN_2PI_HALF - LN_2)
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("HalfNormal", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(HalfNormal { scale: expand_param(&self.scale, batch_shape, &[]), batch_shape: batch_shape.to_vec() }))
    }
}
