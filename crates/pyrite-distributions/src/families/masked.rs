//! `Masked`: a distribution whose log-probability is zeroed where a mask is false.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};
use crate::shape::broadcast_shapes;

/// `base.mask(mask)`: `log_prob` is `0` where the boolean `mask` is false (and no NaN leaks from
/// there); the batch shape is the broadcast of the base's and the mask's.
#[derive(Debug)]
pub struct Masked {
    /// The masked distribution, expanded to the broadcast batch shape.
    pub base: DistRef,
    /// Boolean mask: `log_prob` is kept where true, `0` where false.
    pub mask: Tensor,
    batch_shape: Vec<i64>,
}

impl Masked {
    /// Masks `base` with a boolean tensor that broadcasts with its batch shape.
    pub fn new(base: impl IntoDist, mask: &Tensor) -> Result<Self> {
        let base = base.into_dist();
        if mask.kind() != Kind::Bool {
            return Err(DistError::InvalidParameter { dist: "Masked", param: "mask", problem: format!("must be a bool tensor, got {:?}", mask.kind()) });
        }
        let ms = mask.size();
        let batch_shape = broadcast_shapes(&[base.batch_shape(), &ms])
            .ok_or_else(|| DistError::Shape { dist: "Masked", detail: format!("mask {ms:?} and batch shape {:?} of {}", base.batch_shape(), base.name()) })?;
        let base = if batch_shape.as_slice() != base.batch_shape() { base.expand(&batch_shape)? } else { base };
        Ok(Masked { base, mask: mask.shallow_clone(), batch_shape })
    }
}

impl Distribution for Masked {
    fn name(&self) -> &'static str {
        "Masked"
    }
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }
    fn event_shape(&self) -> &[i64] {
        self.base.event_shape()
    }
    fn support(&self) -> Constraint {
        self.base.support()
    }
    fn has_rsample(&self) -> bool {
        self.base.has_rsample()
    }
    fn has_enumerate_support(&self) -> bool {
        self.base.has_enumerate_support()
    }
    fn options(&self) -> (Kind, Device) {
        self.base.options()
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        self.base.sample(sample_shape)
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        self.base.rsample(sample_shape)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let lp = self.base.log_prob(value)?;
        Ok(lp.where_scalarother(&self.mask, 0.0))
    }
    fn mean(&self) -> Result<Tensor> {
        self.base.mean()
    }
    fn variance(&self) -> Result<Tensor> {
        self.base.variance()
    }
    fn entropy(&self) -> Result<Tensor> {
        Ok(self.base.entropy()?.where_scalarother(&self.mask, 0.0))
    }
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        self.base.enumerate_support(expand)
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("Masked", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(Masked::new(self.base.expand(batch_shape)?, &self.mask)?))
    }
}
