//! The Beta distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{standard_gamma, xlogy};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `Beta(concentration1, concentration0)` on `[0, 1]`; reparameterised through two Gammas.
#[derive(Debug)]
pub struct Beta {
    /// `alpha > 0` (weight of 1).
    pub concentration1: Tensor,
    /// `beta > 0` (weight of 0).
    pub concentration0: Tensor,
    batch_shape: Vec<i64>,
}

impl Beta {
    /// A Beta distribution with `concentration1 = alpha > 0` and `concentration0 = beta > 0`.
    pub fn new(concentration1: impl IntoParam, concentration0: impl IntoParam) -> Result<Self> {
        let c1 = float_param(concentration1.into_param());
        let c0 = float_param(concentration0.into_param());
        let [c1, c0] = same_kind([c1, c0]);
        let batch_shape = broadcast_params("Beta", &[("concentration1", &c1), ("concentration0", &c0)])?;
        check_param("Beta", "concentration1", &c1, &Constraint::Positive)?;
        check_param("Beta", "concentration0", &c0, &Constraint::Positive)?;
        Ok(Beta { concentration1: c1, concentration0: c0, batch_shape })
    }
}

impl Distribution for Beta {
    family_common!("Beta");
    fn support(&self) -> Constraint {
        Constraint::UnitInterval
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.concentration1, &self.concentration0])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let shape = self.shape(sample_shape);
        let g1 = standard_gamma(&self.concentration1, &shape);
        let g0 = standard_gamma(&self.concentration0, &shape);
        let tiny = if g1.kind() == Kind::Double { 1e-300 } else { 1e-38 };
        let x = &g1 / (&g1 + &g0).clamp_min(tiny);
        Ok(x.clamp(tiny, 1.0 - f64::EPSILON))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let (a, b) = (&self.concentration1, &self.concentration0);
        let lbeta = a.lgamma() + b.lgamma() - (a + b).lgamma();
        Ok(xlogy(&(a - 1.0), value) + xlogy(&(b - 1.0), &(-value + 1.0)) - lbeta)
    }
    fn mean(&self) -> Result<Tensor> {
        let (a, b) = (&self.concentration1, &self.concentration0);
        Ok(expand_param(&(a / (a + b)), &self.batch_shape, &[]))
    }
    fn variance(&self) -> Result<Tensor> {
        let (a, b) = (&self.concentration1, &self.concentration0);
        let t = a + b;
        Ok(expand_param(&(a * b / (t.square() * (&t + 1.0))), &self.batch_shape, &[]))
    }
    fn entropy(&self) -> Result<Tensor> {
        let (a, b) = (&self.concentration1, &self.concentration0);
        let t = a + b;
        let lbeta = a.lgamma() + b.lgamma() - t.lgamma();
        let h = lbeta - (a - 1.0) * a.digamma() - (b - 1.0) * b.digamma() + (&t - 2.0) * t.digamma();
        Ok(expand_param(&h, &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Beta", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Beta {
            concentration1: expand_param(&self.concentration1, batch_shape, &[]),
            concentration0: expand_param(&self.concentration0, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
