//! Elementwise transforms: identity, exp, softplus, sigmoid, affine; and `IndependentTransform`.

use tch::{Kind, Tensor};

use super::{Transform, TransformRef};
use crate::constraints::{Bound, Constraint};
use crate::families::common::sum_rightmost;

/// `y = x`.
#[derive(Debug, Clone, Copy)]
pub struct IdentityTransform;

impl Transform for IdentityTransform {
    fn name(&self) -> &'static str {
        "IdentityTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real
    }
    fn codomain(&self) -> Constraint {
        Constraint::Real
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        x.shallow_clone()
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        y.shallow_clone()
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, _y: &Tensor) -> Tensor {
        x.zeros_like()
    }
}

/// `y = exp(x)`.
#[derive(Debug, Clone, Copy)]
pub struct ExpTransform;

impl Transform for ExpTransform {
    fn name(&self) -> &'static str {
        "ExpTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real
    }
    fn codomain(&self) -> Constraint {
        Constraint::Positive
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        x.exp()
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        y.log()
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, _y: &Tensor) -> Tensor {
        x.shallow_clone()
    }
}

/// `y = log(1 + exp(x))`.
#[derive(Debug, Clone, Copy)]
pub struct SoftplusTransform;

impl Transform for SoftplusTransform {
    fn name(&self) -> &'static str {
        "SoftplusTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real
    }
    fn codomain(&self) -> Constraint {
        Constraint::Positive
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        x.softplus()
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        y + (-(-y).expm1()).log()
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, _y: &Tensor) -> Tensor {
        -(-x).softplus()
    }
}

/// `y = 1 / (1 + exp(-x))`, clamped into the open unit interval.
#[derive(Debug, Clone, Copy)]
pub struct SigmoidTransform;

fn eps_of(t: &Tensor) -> f64 {
    if t.kind() == Kind::Double {
        f64::EPSILON
    } else {
        f32::EPSILON as f64
    }
}

impl Transform for SigmoidTransform {
    fn name(&self) -> &'static str {
        "SigmoidTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real
    }
    fn codomain(&self) -> Constraint {
        Constraint::UnitInterval
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let tiny = if x.kind() == Kind::Double { f64::MIN_POSITIVE } else { f32::MIN_POSITIVE as f64 };
        x.sigmoid().clamp(tiny, 1.0 - eps_of(x))
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        let tiny = if y.kind() == Kind::Double { f64::MIN_POSITIVE } else { f32::MIN_POSITIVE as f64 };
        let y = y.clamp(tiny, 1.0 - eps_of(y));
        y.log() - (-&y).log1p()
    }
    /// `log(sigmoid(x) (1 - sigmoid(x))) = -softplus(-x) - softplus(x) = x - 2 softplus(x)`
    /// (three operations instead of five; stable for large `|x|`).
    fn log_abs_det_jacobian(&self, x: &Tensor, _y: &Tensor) -> Tensor {
        x - x.softplus() * 2.0
    }
}

/// `y = loc + scale * x`, with `event_dim` rightmost dimensions forming one event.
#[derive(Debug, Clone)]
pub struct AffineTransform {
    /// Shift.
    pub loc: Bound,
    /// Multiplier (nonzero).
    pub scale: Bound,
    /// Number of rightmost dimensions forming one event (summed in the log-Jacobian).
    pub event_dim: usize,
}

impl AffineTransform {
    /// An affine map; `loc` and `scale` are numbers or tensors.
    pub fn new(loc: Bound, scale: Bound, event_dim: usize) -> Self {
        AffineTransform { loc, scale, event_dim }
    }
}

fn affine(x: &Tensor, a: &Bound, b: &Bound) -> Tensor {
    // x * b + a without creating tensors for scalar bounds
    let scaled = match b {
        Bound::Scalar(s) if *s == 1.0 => x.shallow_clone(),
        Bound::Scalar(s) => x * *s,
        Bound::Tensor(t) => x * t,
    };
    match a {
        Bound::Scalar(l) if *l == 0.0 => scaled,
        Bound::Scalar(l) => scaled + *l,
        Bound::Tensor(t) => scaled + t,
    }
}

impl Transform for AffineTransform {
    fn name(&self) -> &'static str {
        "AffineTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real.independent(self.event_dim)
    }
    fn codomain(&self) -> Constraint {
        Constraint::Real.independent(self.event_dim)
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        affine(x, &self.loc, &self.scale)
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        let shifted = match &self.loc {
            Bound::Scalar(l) if *l == 0.0 => y.shallow_clone(),
            Bound::Scalar(l) => y - *l,
            Bound::Tensor(t) => y - t,
        };
        match &self.scale {
            Bound::Scalar(s) if *s == 1.0 => shifted,
            Bound::Scalar(s) => shifted / *s,
            Bound::Tensor(t) => shifted / t,
        }
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, _y: &Tensor) -> Tensor {
        let ld = match &self.scale {
            Bound::Scalar(s) => x.zeros_like() + s.abs().ln(),
            Bound::Tensor(t) => x.zeros_like() + t.abs().log(),
        };
        sum_rightmost(&ld, self.event_dim)
    }
}

/// Treats `n` further rightmost dimensions of a transform's input as one event: the log-Jacobian
/// is summed over them.
#[derive(Debug, Clone)]
pub struct IndependentTransform {
    /// The wrapped transform.
    pub base: TransformRef,
    /// Number of extra rightmost dimensions moved into the event.
    pub reinterpreted: usize,
}

impl IndependentTransform {
    /// Wraps `base`.
    pub fn new(base: TransformRef, reinterpreted: usize) -> Self {
        IndependentTransform { base, reinterpreted }
    }
}

impl Transform for IndependentTransform {
    fn name(&self) -> &'static str {
        "IndependentTransform"
    }
    fn domain(&self) -> Constraint {
        self.base.domain().independent(self.reinterpreted)
    }
    fn codomain(&self) -> Constraint {
        self.base.codomain().independent(self.reinterpreted)
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        self.base.forward(x)
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        self.base.inverse(y)
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, y: &Tensor) -> Tensor {
        sum_rightmost(&self.base.log_abs_det_jacobian(x, y), self.reinterpreted)
    }
    fn forward_shape(&self, shape: &[i64]) -> Vec<i64> {
        self.base.forward_shape(shape)
    }
    fn inverse_shape(&self, shape: &[i64]) -> Vec<i64> {
        self.base.inverse_shape(shape)
    }
}
