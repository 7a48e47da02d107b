//! The Normal (Gaussian) distribution.

use std::cell::RefCell;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{randn, LN_2PI_HALF};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};
use crate::shape::broadcast_shapes;

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
    /// `(loc, scale)` when both were given as numbers: log densities then use scalar arithmetic
    /// instead of broadcasting 0-dim tensors (`Normal::new(0.0, 1.0).expand(..)` as a prior).
    numbers: Option<(f64, f64)>,
    /// The last reparameterised draw and its standard-normal noise (see [`Normal::log_prob`]).
    last_draw: RefCell<Option<Draw>>,
}

/// A draw `loc + scale * noise`, recognised later by its storage, layout, version and its place
/// in the autograd graph.
#[derive(Debug)]
struct Draw {
    value: Tensor,
    noise: Tensor,
    version: i64,
}

impl Draw {
    /// Whether `value` is this draw, unmodified: the same storage, shape and strides (a
    /// transposed view is another value), no in-place change since, and on the same side of
    /// autograd: a `detach`ed copy, or a new leaf made from one, is not the draw (its log
    /// density has other gradients), while a view or shallow clone of the draw is.
    fn is(&self, value: &Tensor) -> bool {
        crate::host_reads::address(value) == crate::host_reads::address(&self.value)
            && value.requires_grad() == self.value.requires_grad()
            && value.is_leaf() == self.value.is_leaf()
            && value.internal_version() == self.version
            && value.size() == self.value.size()
            && value.stride() == self.value.stride()
    }
}

impl Normal {
    /// A Normal with the given mean and standard deviation (`scale > 0`).
    pub fn new(loc: impl IntoParam, scale: impl IntoParam) -> Result<Self> {
        let numbers = loc.number().zip(scale.number());
        let loc = float_param(loc.into_param());
        let scale = float_param(scale.into_param());
        let [loc, scale] = same_kind([loc, scale]);
        let batch_shape = broadcast_params("Normal", &[("loc", &loc), ("scale", &scale)])?;
        check_param("Normal", "loc", &loc, &Constraint::Real)?;
        check_param("Normal", "scale", &scale, &Constraint::Positive)?;
        Ok(Normal { loc, scale, batch_shape, numbers, last_draw: RefCell::new(None) })
    }

    /// `log N(value)` of a value this Normal drew itself by a differentiable `rsample`, from the
    /// draw's noise: `-noise^2 / 2 - log(scale) - log(2 pi) / 2`. Equal to the general formula in
    /// value and in gradient with respect to `loc` and `scale` (the noise is a constant and
    /// `value - loc = scale * noise`, a function of both), in fewer operations. A draw made
    /// without gradient, a detached, cloned or modified value never gets here.
    fn log_prob_of_draw(&self, value: &Tensor) -> Option<Tensor> {
        let draw = self.last_draw.borrow();
        let draw = draw.as_ref().filter(|d| d.is(value))?;
        Some(minus_log_scale_and_const(&self.scale).addcmul(&draw.noise, &draw.noise.g_mul_scalar(-0.5)))
    }
}

/// `-log(scale) - log(2 pi) / 2`, to which `-z^2 / 2` is added by one fused `addcmul` (four
/// operations for a log-density where the plain formula takes five or more).
fn minus_log_scale_and_const(scale: &Tensor) -> Tensor {
    scale.log().rsub_scalar(-LN_2PI_HALF)
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
        check_sample_shape(self.name(), sample_shape)?;
        let noise = randn(&self.shape(sample_shape), self.options());
        let value = match self.numbers {
            Some((m, s)) => noise.g_mul_scalar(s).g_add_scalar(m),
            None if self.loc.device() == self.scale.device() => self.loc.addcmul(&noise, &self.scale),
            None => &noise * &self.scale + &self.loc,
        };
        // The noise formula of `log_prob` has the general formula's gradients only when the
        // value is a differentiable function of `loc` and `scale`: a draw made without gradient
        // (`sample`, which runs this under `no_grad`) while a parameter requires one is not
        // recorded, and is scored by the general formula.
        let differentiable = value.requires_grad() == (self.loc.requires_grad() || self.scale.requires_grad());
        *self.last_draw.borrow_mut() = differentiable.then(|| {
            let version = value.internal_version();
            Draw { value: value.shallow_clone(), noise, version }
        });
        Ok(value)
    }
    /// `-((value - loc) / scale)^2 / 2 - log(scale) - log(2 pi) / 2`; from the noise when
    /// `value` is this Normal's own last draw, and with scalar arithmetic when both parameters
    /// are numbers.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        if let Some(lp) = self.log_prob_of_draw(value) {
            return Ok(lp);
        }
        if let Some((m, s)) = self.numbers {
            let centred = if m == 0.0 { value.shallow_clone() } else { value.g_sub_scalar(m) };
            // `c + (k x) x` in one fused addcmul: two autograd nodes, where square, scale and
            // shift take three (the backward pass pays per node)
            let c = Tensor::scalar_tensor(-(s.ln() + LN_2PI_HALF), (value.kind(), value.device()));
            let lp = c.addcmul(&centred.g_mul_scalar(-0.5 / (s * s)), &centred);
            // an expanded Normal's batch shape can be larger than the value's
            let shape = broadcast_shapes(&[&value.size(), &self.batch_shape]).ok_or_else(|| DistError::Shape {
                dist: "Normal",
                detail: format!("value of shape {:?} does not broadcast with batch shape {:?}", value.size(), self.batch_shape),
            })?;
            return Ok(if lp.size() == shape { lp } else { lp.expand(shape.as_slice(), false) });
        }
        let z = (value - &self.loc) / &self.scale;
        Ok(minus_log_scale_and_const(&self.scale).addcmul(&z, &z.g_mul_scalar(-0.5)))
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
            numbers: self.numbers,
            last_draw: RefCell::new(None),
        }))
    }
}
