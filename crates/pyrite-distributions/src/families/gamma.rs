//! The Gamma distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{standard_gamma, xlogy};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `Gamma(concentration, rate)`: density `rate^a x^(a-1) exp(-rate x) / Gamma(a)`.
///
/// `rsample` is reparameterised (implicit gradients through libtorch's `_standard_gamma`).
#[derive(Debug)]
pub struct Gamma {
    /// Shape `a > 0`.
    pub concentration: Tensor,
    /// Rate (`> 0`, inverse scale); the mean is `a / rate`.
    pub rate: Tensor,
    batch_shape: Vec<i64>,
}

impl Gamma {
    /// A Gamma distribution with shape `concentration > 0` and `rate > 0`.
    pub fn new(concentration: impl IntoParam, rate: impl IntoParam) -> Result<Self> {
        let concentration = float_param(concentration.into_param());
        let rate = float_param(rate.into_param());
        let [concentration, rate] = same_kind([concentration, rate]);
        let batch_shape = broadcast_params("Gamma", &[("concentration", &concentration), ("rate", &rate)])?;
        check_param("Gamma", "concentration", &concentration, &Constraint::Positive)?;
        check_param("Gamma", "rate", &rate, &Constraint::Positive)?;
        Ok(Gamma { concentration, rate, batch_shape })
    }
}

impl Distribution for Gamma {
    family_common!("Gamma");
    fn support(&self) -> Constraint {
        Constraint::Nonnegative
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.concentration, &self.rate])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let g = standard_gamma(&self.concentration, &self.shape(sample_shape));
        Ok((g / &self.rate).clamp_min(f64::MIN_POSITIVE))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let a = &self.concentration;
        Ok(xlogy(a, &self.rate) + xlogy(&(a - 1.0), value) - &self.rate * value - a.lgamma())
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(expand_param(&(&self.concentration / &self.rate), &self.batch_shape, &[]))
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(expand_param(&(&self.concentration / self.rate.square()), &self.batch_shape, &[]))
    }
    fn entropy(&self) -> Result<Tensor> {
        let a = &self.concentration;
        let h = a - self.rate.log() + a.lgamma() + (-a + 1.0) * a.digamma();
        Ok(expand_param(&h, &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Gamma", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Gamma {
            concentration: expand_param(&self.concentration, batch_shape, &[]),
            rate: expand_param(&self.rate, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
