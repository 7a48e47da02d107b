//! The inverse-Gamma distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{standard_gamma, xlogy};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `InverseGamma(concentration, rate)`: `1 / X` for `X ~ Gamma(concentration, rate)`, as in Pyro.
#[derive(Debug)]
pub struct InverseGamma {
    /// Shape `a > 0`.
    pub concentration: Tensor,
    /// Scale (`> 0`): the rate of the Gamma of `1 / X`.
    pub rate: Tensor,
    batch_shape: Vec<i64>,
}

impl InverseGamma {
    /// An inverse-Gamma with shape `concentration > 0` and scale `rate > 0`.
    pub fn new(concentration: impl IntoParam, rate: impl IntoParam) -> Result<Self> {
        let concentration = float_param(concentration.into_param());
        let rate = float_param(rate.into_param());
        let [concentration, rate] = same_kind([concentration, rate]);
        let batch_shape = broadcast_params("InverseGamma", &[("concentration", &concentration), ("rate", &rate)])?;
        check_param("InverseGamma", "concentration", &concentration, &Constraint::Positive)?;
        check_param("InverseGamma", "rate", &rate, &Constraint::Positive)?;
        Ok(InverseGamma { concentration, rate, batch_shape })
    }
}

impl Distribution for InverseGamma {
    family_common!("InverseGamma");
    fn support(&self) -> Constraint {
        Constraint::Positive
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.concentration, &self.rate])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let g = standard_gamma(&self.concentration, &self.shape(sample_shape)).clamp_min(f64::MIN_POSITIVE);
        Ok(&self.rate / g)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let a = &self.concentration;
        Ok(xlogy(a, &self.rate) - a.lgamma() - xlogy(&(a + 1.0), value) - &self.rate / value)
    }
    fn mean(&self) -> Result<Tensor> {
        let a = &self.concentration;
        let m = (&self.rate / (a - 1.0)).where_self(&a.gt(1.0), &Tensor::from(f64::INFINITY).to_kind(a.kind()));
        Ok(expand_param(&m, &self.batch_shape, &[]))
    }
    fn variance(&self) -> Result<Tensor> {
        let a = &self.concentration;
        let v = self.rate.square() / ((a - 1.0).square() * (a - 2.0));
        let v = v.where_self(&a.gt(2.0), &Tensor::from(f64::INFINITY).to_kind(a.kind()));
        Ok(expand_param(&v, &self.batch_shape, &[]))
    }
    fn entropy(&self) -> Result<Tensor> {
        let a = &self.concentration;
        let h = a + self.rate.log() + a.lgamma() - (a + 1.0) * a.digamma();
        Ok(expand_param(&h, &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("InverseGamma", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(InverseGamma {
            concentration: expand_param(&self.concentration, batch_shape, &[]),
            rate: expand_param(&self.rate, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
