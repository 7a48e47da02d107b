//! The Dirichlet distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{standard_gamma, xlogy};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};

/// `Dirichlet(concentration)` over the simplex; the last dimension of `concentration` is the event.
#[derive(Debug)]
pub struct Dirichlet {
    /// Concentrations `alpha > 0`, `batch_shape ++ [K]`.
    pub concentration: Tensor,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
}

impl Dirichlet {
    /// A Dirichlet with concentration vector(s) `> 0` (at least one dimension).
    pub fn new(concentration: impl IntoParam) -> Result<Self> {
        let c = float_param(concentration.into_param());
        let size = c.size();
        if size.is_empty() {
            return Err(DistError::InvalidParameter { dist: "Dirichlet", param: "concentration", problem: "must have at least one dimension".into() });
        }
        check_param("Dirichlet", "concentration", &c, &Constraint::Positive)?;
        let (b, e) = size.split_at(size.len() - 1);
        Ok(Dirichlet { batch_shape: b.to_vec(), event_shape: e.to_vec(), concentration: c })
    }
}

impl Distribution for Dirichlet {
    family_common!("Dirichlet");
    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }
    fn support(&self) -> Constraint {
        Constraint::Simplex
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.concentration])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let g = standard_gamma(&self.concentration, &self.shape(sample_shape));
        let tiny = if g.kind() == Kind::Double { 1e-300 } else { 1e-38 };
        let g = g.clamp_min(tiny);
        let s = g.sum_dim_intlist(-1, true, g.kind());
        Ok(g / s)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let c = &self.concentration;
        let k = c.kind();
        Ok(xlogy(&(c - 1.0), value).sum_dim_intlist(-1, false, k) + c.sum_dim_intlist(-1, false, k).lgamma() - c.lgamma().sum_dim_intlist(-1, false, k))
    }
    fn mean(&self) -> Result<Tensor> {
        let c = &self.concentration;
        Ok(c / c.sum_dim_intlist(-1, true, c.kind()))
    }
    fn variance(&self) -> Result<Tensor> {
        let c = &self.concentration;
        let c0 = c.sum_dim_intlist(-1, true, c.kind());
        Ok(c * (&c0 - c) / (c0.square() * (&c0 + 1.0)))
    }
    fn entropy(&self) -> Result<Tensor> {
        let c = &self.concentration;
        // Cannot fail: the constructor split the event shape `[K]` off a non-empty shape.
        let k = *self.event_shape.last().unwrap() as f64;
        let c0 = c.sum_dim_intlist(-1, false, c.kind());
        let lbeta = c.lgamma().sum_dim_intlist(-1, false, c.kind()) - c0.lgamma();
        Ok(lbeta + (&c0 - k) * c0.digamma() - ((c - 1.0) * c.digamma()).sum_dim_intlist(-1, false, c.kind()))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Dirichlet", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Dirichlet {
            concentration: expand_param(&self.concentration, batch_shape, &self.event_shape),
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
        }))
    }
}
