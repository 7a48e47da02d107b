//! The Normal (Gaussian) distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{randn, LN_2PI_HALF};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `Normal(loc, scale)`: density `exp(-(x - loc)^2 / (2 scale^2)) / (scale sqrt(2 pi))`.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// let d = Normal::new(tch::Tensor::from_slice(&[0.0f32, 1.0]), 2.0).unwrap();
/// assert_eq!(d.batch_shape(), &[2]);
/// ```
#[derive(Debug)]
pub struct Normal {
    /// Mean.
    pub loc: Tensor,
    /// Standard deviation (`> 0`).
    pub scale: Tensor,
    batch_shape: Vec<i64>,
}

impl Normal {
    /// A Normal with the given mean and standard deviation (`scale > 0`).
    pub fn new(loc: impl IntoParam, scale: impl IntoParam) -> Result<Self> {
        let loc = float_param(loc.into_param());
        let scale = float_param(scale.into_param());
        let [loc, scale] = same_kind([loc, scale]);
        let batch_shape = broadcast_params("Normal", &[("loc", &loc), ("scale", &scale)])?;
        check_param("Normal", "loc", &loc, &Constraint::Real)?;
        check_param("Normal", "scale", &scale, &Constraint::Positive)?;
        Ok(Normal { loc, scale, batch_shape })
    }
}

impl Distribution for Normal {
    family_common!("Normal");
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
        let eps = randn(&self.shape(sample_shape), self.options());
        Ok(eps * &self.scale + &self.loc)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let z = (value - &self.loc) / &self.scale;
        Ok(z.square() * -0.5 - self.scale.log() - LN_2PI_HALF)
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(expand_param(&self.loc, &self.batch_shape, &[]))
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(expand_param(&self.scale.square(), &self.batch_shape, &[]))
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(expand_param(&(self.scale.log() + 0.5 + LN_2PI_HALF), &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Normal", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Normal {
            loc: expand_param(&self.loc, batch_shape, &[]),
            scale: expand_param(&self.scale, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
