//! The Laplace distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::rand;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `Laplace(loc, scale)`: density `exp(-|x - loc| / scale) / (2 scale)`.
#[derive(Debug)]
pub struct Laplace {
    /// Location (mean and median).
    pub loc: Tensor,
    /// Scale `b > 0`; the variance is `2 b^2`.
    pub scale: Tensor,
    batch_shape: Vec<i64>,
}

impl Laplace {
    /// A Laplace distribution with location `loc` and `scale > 0`.
    pub fn new(loc: impl IntoParam, scale: impl IntoParam) -> Result<Self> {
        let loc = float_param(loc.into_param());
        let scale = float_param(scale.into_param());
        let [loc, scale] = same_kind([loc, scale]);
        let batch_shape = broadcast_params("Laplace", &[("loc", &loc), ("scale", &scale)])?;
        check_param("Laplace", "loc", &loc, &Constraint::Real)?;
        check_param("Laplace", "scale", &scale, &Constraint::Positive)?;
        Ok(Laplace { loc, scale, batch_shape })
    }
}

impl Distribution for Laplace {
    family_common!("Laplace");
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
        let eps = if self.options().0 == Kind::Double { 1e-15 } else { 1e-7 };
        let u = rand(&self.shape(sample_shape), self.options()) * (2.0 - eps) - (1.0 - eps);
        Ok(&self.loc - &self.scale * u.sign() * (-u.abs()).log1p())
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        Ok(-(value - &self.loc).abs() / &self.scale - (&self.scale * 2.0).log())
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(expand_param(&self.loc, &self.batch_shape, &[]))
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(expand_param(&(self.scale.square() * 2.0), &self.batch_shape, &[]))
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(expand_param(&((&self.scale * 2.0).log() + 1.0), &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Laplace", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Laplace {
            loc: expand_param(&self.loc, batch_shape, &[]),
            scale: expand_param(&self.scale, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
