//! The Cauchy distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{rand, LN_PI};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `Cauchy(loc, scale)`.
#[derive(Debug)]
pub struct Cauchy {
    /// Location (the median).
    pub loc: Tensor,
    /// Half width at half maximum (`> 0`).
    pub scale: Tensor,
    batch_shape: Vec<i64>,
}

impl Cauchy {
    /// A Cauchy distribution with location `loc` and `scale > 0`.
    pub fn new(loc: impl IntoParam, scale: impl IntoParam) -> Result<Self> {
        let loc = float_param(loc.into_param());
        let scale = float_param(scale.into_param());
        let [loc, scale] = same_kind([loc, scale]);
        let batch_shape = broadcast_params("Cauchy", &[("loc", &loc), ("scale", &scale)])?;
        check_param("Cauchy", "loc", &loc, &Constraint::Real)?;
        check_param("Cauchy", "scale", &scale, &Constraint::Positive)?;
        Ok(Cauchy { loc, scale, batch_shape })
    }
}

/// Standard Cauchy noise by inversion: `tan(pi (u - 1/2))`.
pub(crate) fn standard_cauchy(shape: &[i64], opts: (Kind, Device)) -> Tensor {
    ((rand(shape, opts) - 0.5) * std::f64::consts::PI).tan()
}

impl Distribution for Cauchy {
    family_common!("Cauchy");
    fn support(&self) -> Constraint {
        Constraint::Real
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.loc, &self.scale])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        Ok(standard_cauchy(&self.shape(sample_shape), self.options()) * &self.scale + &self.loc)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let z = (value - &self.loc) / &self.scale;
        Ok(-z.square().log1p() - self.scale.log() - LN_PI)
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(Tensor::full(self.batch_shape.as_slice(), f64::NAN, self.options()))
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(Tensor::full(self.batch_shape.as_slice(), f64::INFINITY, self.options()))
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(expand_param(&(self.scale.log() + (4.0 * std::f64::consts::PI).ln()), &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Cauchy", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Cauchy {
            loc: expand_param(&self.loc, batch_shape, &[]),
            scale: expand_param(&self.scale, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
