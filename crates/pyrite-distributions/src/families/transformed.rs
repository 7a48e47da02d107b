//! `TransformedDistribution`: a base distribution pushed through bijective transforms.

use std::cell::RefCell;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::sum_rightmost;
use super::independent::Independent;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;
use crate::transforms::{ComposeTransform, Transform, TransformRef};

/// `Y = f_n(...f_1(X))` for `X ~ base`. `log_prob(y)` inverts the transforms, except for the value
/// most recently drawn by `rsample`/`sample`, whose intermediate values are cached (as torch's
/// transform cache does), which keeps autoguides exact and cheap.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// // exp(X) for X ~ Normal(0, 1) is LogNormal(0, 1).
/// let d = TransformedDistribution::new(Normal::new(0.0, 1.0)?, vec![biject_to(&Constraint::Positive)?])?;
/// assert_eq!(d.support(), Constraint::Positive);
/// let y = tch::Tensor::from_slice(&[0.5f32, 2.0]);
/// let expected = LogNormal::new(0.0, 1.0)?.log_prob(&y)?;
/// assert!(d.log_prob(&y)?.allclose(&expected, 1e-5, 1e-6, false));
/// # Ok::<(), DistError>(())
/// ```
#[derive(Debug)]
pub struct TransformedDistribution {
    /// The distribution of `X` (made `Independent` if the transforms need more event dims).
    pub base: DistRef,
    /// The transforms, applied in order: `transforms[0]` first.
    pub transforms: Vec<TransformRef>,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
    cache: RefCell<Option<Vec<Tensor>>>,
}

impl TransformedDistribution {
    /// Pushes `base` through `transforms`, applied in order.
    pub fn new(base: impl IntoDist, transforms: Vec<TransformRef>) -> Result<Self> {
        let mut base = base.into_dist();
        let compose = ComposeTransform::new(transforms.clone());
        let base_event_dim = base.event_shape().len();
        let domain_event_dim = compose.domain_event_dim();
        if base_event_dim < domain_event_dim {
            base = Rc::new(Independent::new(base, domain_event_dim - base_event_dim)?);
        }
        let base_shape = base.shape(&[]);
        let shape = compose.forward_shape(&base_shape);
        let event_dim = compose.codomain().event_dim() + base.event_shape().len().saturating_sub(domain_event_dim);
        let event_dim = event_dim.min(shape.len());
        let (b, e) = shape.split_at(shape.len() - event_dim);
        Ok(TransformedDistribution { base, transforms, batch_shape: b.to_vec(), event_shape: e.to_vec(), cache: RefCell::new(None) })
    }

    fn push_forward(&self, x: Tensor) -> Tensor {
        let mut chain = Vec::with_capacity(self.transforms.len() + 1);
        let mut cur = x;
        for t in &self.transforms {
            let next = t.forward(&cur);
            chain.push(cur);
            cur = next;
        }
        chain.push(cur.shallow_clone());
        *self.cache.borrow_mut() = Some(chain);
        cur
    }

    /// The cached intermediate values if `y` is the last value drawn, else by inversion.
    fn chain_for(&self, y: &Tensor) -> Vec<Tensor> {
        if let Some(chain) = self.cache.borrow().as_ref() {
            let drawn =
                |last: &Tensor| crate::host_reads::address(last) == crate::host_reads::address(y) && last.size() == y.size() && last.stride() == y.stride();
            if chain.last().is_some_and(drawn) {
                return chain.iter().map(|t| t.shallow_clone()).collect();
            }
        }
        let mut chain = Vec::with_capacity(self.transforms.len() + 1);
        let mut cur = y.shallow_clone();
        for t in self.transforms.iter().rev() {
            let x = t.inverse(&cur);
            chain.push(cur);
            cur = x;
        }
        chain.push(cur);
        chain.reverse();
        chain
    }
}

impl Distribution for TransformedDistribution {
    fn name(&self) -> &'static str {
        "TransformedDistribution"
    }
    fn batch_shape(&self) -> &[i64] {
        &self.batch_shape
    }
    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }
    fn support(&self) -> Constraint {
        let c = self.transforms.last().map(|t| t.codomain()).unwrap_or_else(|| self.base.support());
        let extra = self.event_shape.len().saturating_sub(c.event_dim());
        c.independent(extra)
    }
    fn has_rsample(&self) -> bool {
        self.base.has_rsample()
    }
    fn options(&self) -> (Kind, Device) {
        self.base.options()
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let x = self.base.sample(sample_shape)?;
        Ok(tch::no_grad(|| self.push_forward(x)))
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let x = self.base.rsample(sample_shape)?;
        Ok(self.push_forward(x))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let chain = self.chain_for(value);
        let mut event_dim = self.event_shape.len();
        let mut lp: Option<Tensor> = None;
        for (i, t) in self.transforms.iter().enumerate().rev() {
            let (x, y) = (&chain[i], &chain[i + 1]);
            event_dim = event_dim + t.domain_event_dim() - t.codomain_event_dim();
            let ld = sum_rightmost(&t.log_abs_det_jacobian(x, y), event_dim.saturating_sub(t.domain_event_dim()));
            lp = Some(match lp {
                None => -ld,
                Some(acc) => acc - ld,
            });
        }
        let base_lp = sum_rightmost(&self.base.log_prob(&chain[0])?, event_dim.saturating_sub(self.base.event_shape().len()));
        Ok(match lp {
            None => base_lp,
            Some(acc) => acc + base_lp,
        })
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("TransformedDistribution", &self.batch_shape, batch_shape)?;
        let base_batch = self.base.batch_shape();
        let absorbed = base_batch.len().saturating_sub(self.batch_shape.len());
        let mut new_base = batch_shape.to_vec();
        new_base.extend_from_slice(&base_batch[base_batch.len() - absorbed..]);
        Ok(Rc::new(TransformedDistribution::new(self.base.expand(&new_base)?, self.transforms.clone())?))
    }
}
