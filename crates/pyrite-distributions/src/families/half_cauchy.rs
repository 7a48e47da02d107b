//! The half-Cauchy distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::cauchy::standard_cauchy;
use super::common::{where_or_neg_inf, LN_PI};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `HalfCauchy(scale)`: `|X|` for `X ~ Cauchy(0, scale)`.
#[derive(Debug)]
pub struct HalfCauchy {
    /// Scale of the underlying Cauchy (`> 0`).
    pub scale: Tensor,
    batch_shape: Vec<i64>,
}

impl HalfCauchy {
    /// A half-Cauchy with `scale > 0`.
    pub fn new(scale: impl IntoParam) -> Result<Self> {
        let scale = float_param(scale.into_param());
        check_param("HalfCauchy", "scale", &scale, &Constraint::Positive)?;
        Ok(HalfCauchy { batch_shape: scale.size(), scale })
    }
}

impl Distribution for HalfCauchy {
    family_common!("HalfCauchy");
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
        Ok((standard_cauchy(&self.shape(sample_shape), self.options()) * &self.scale).abs())
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let z = value / &self.scale;
        let lp = -z.square().log1p() - self.scale.log() - LN_PI + std::f64::consts::LN_2;
        Ok(where_or_neg_inf(&value.ge(0.0), &lp))
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(Tensor::full(self.batch_shape.as_slice(), f64::INFINITY, self.options()))
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(Tensor::full(self.batch_shape.as_slice(), f64::INFINITY, self.options()))
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(self.scale.log() + (2.0 * std::f64::consts::PI).ln())
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("HalfCauchy", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(HalfCauchy { scale: expand_param(&self.scale, batch_shape, &[]), batch_shape: batch_shape.to_vec() }))
    }
}
