//! The log-normal distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{randn, LN_2PI_HALF};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `LogNormal(loc, scale)`: `exp(X)` for `X ~ Normal(loc, scale)`.
#[derive(Debug)]
pub struct LogNormal {
    /// Mean of the underlying normal (of `log X`).
    pub loc: Tensor,
    /// Standard deviation of the underlying normal (`> 0`).
    pub scale: Tensor,
    batch_shape: Vec<i64>,
}

impl LogNormal {
    /// A log-normal whose logarithm has mean `loc` and standard deviation `scale` (`> 0`).
    pub fn new(loc: impl IntoParam, scale: impl IntoParam) -> Result<Self> {
        let loc = float_param(loc.into_param());
        let scale = float_param(scale.into_param());
        let [loc, scale] = same_kind([loc, scale]);
        let batch_shape = broadcast_params("LogNormal", &[("loc", &loc), ("scale", &scale)])?;
        check_param("LogNormal", "loc", &loc, &Constraint::Real)?;
        check_param("LogNormal", "scale", &scale, &Constraint::Positive)?;
        Ok(LogNormal { loc, scale, batch_shape })
    }
}

impl Distribution for LogNormal {
    family_common!("LogNormal");
    fn support(&self) -> Constraint {
        Constraint::Positive
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.loc, &self.scale])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        Ok((randn(&self.shape(sample_shape), self.options()) * &self.scale + &self.loc).exp())
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let lv = value.log();
        let z = (&lv - &self.loc) / &self.scale;
        Ok(z.square() * -0.5 - self.scale.log() - LN_2PI_HALF - lv)
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(expand_param(&(&self.loc + self.scale.square() * 0.5).exp(), &self.batch_shape, &[]))
    }
    fn variance(&self) -> Result<Tensor> {
        let s2 = self.scale.square();
        Ok(expand_param(&(s2.expm1() * (&self.loc * 2.0 + &s2).exp()), &self.batch_shape, &[]))
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(expand_param(&(self.scale.log() + 0.5 + LN_2PI_HALF + &self.loc), &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("LogNormal", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(LogNormal {
            loc: expand_param(&self.loc, batch_shape, &[]),
            scale: expand_param(&self.scale, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
