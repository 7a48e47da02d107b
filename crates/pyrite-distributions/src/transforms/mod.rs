//! Bijective transforms between constrained and unconstrained spaces, and `biject_to`.

mod basic;
mod cholesky;
mod compose;
mod ordered;
mod positive_definite;
mod stick_breaking;

pub use basic::{AffineTransform, ExpTransform, IdentityTransform, IndependentTransform, SigmoidTransform, SoftplusTransform};
pub use cholesky::{CorrCholeskyTransform, LowerCholeskyTransform};
pub use compose::ComposeTransform;
pub use ordered::OrderedTransform;
pub use positive_definite::PositiveDefiniteTransform;
pub use stick_breaking::StickBreakingTransform;

use std::fmt;
use std::rc::Rc;

use tch::Tensor;

use crate::constraints::{Bound, Constraint};
use crate::error::{DistError, Result};

/// A shared transform.
pub type TransformRef = Rc<dyn Transform>;

/// A bijection `y = f(x)` with its inverse and the log absolute determinant of its Jacobian.
///
/// The methods are infallible, like the tensor operations they are made of: an `x` must have at
/// least [`domain_event_dim`](Transform::domain_event_dim) dimensions and a `y` at least
/// [`codomain_event_dim`](Transform::codomain_event_dim) (a vector for the stick-breaking
/// transform, a matrix for the Cholesky ones), or libtorch panics. pyrite's callers guarantee it:
/// [`TransformedDistribution`](crate::TransformedDistribution) and the autoguides only pass
/// values whose event shapes they checked, and `biject_to` pairs each constraint with its
/// transform.
pub trait Transform: fmt::Debug {
    /// A name for messages.
    fn name(&self) -> &'static str;
    /// The set `x` lives in.
    fn domain(&self) -> Constraint;
    /// The set `y` lives in.
    fn codomain(&self) -> Constraint;
    /// `y = f(x)`.
    fn forward(&self, x: &Tensor) -> Tensor;
    /// `x = f^-1(y)`.
    fn inverse(&self, y: &Tensor) -> Tensor;
    /// `log |det df/dx|`, summed over the domain's event dimensions: shape of `x` less them.
    fn log_abs_det_jacobian(&self, x: &Tensor, y: &Tensor) -> Tensor;
    /// The shape of `y` for an `x` of shape `shape`.
    fn forward_shape(&self, shape: &[i64]) -> Vec<i64> {
        shape.to_vec()
    }
    /// The shape of `x` for a `y` of shape `shape`.
    fn inverse_shape(&self, shape: &[i64]) -> Vec<i64> {
        shape.to_vec()
    }
    /// Event dims of the domain.
    fn domain_event_dim(&self) -> usize {
        self.domain().event_dim()
    }
    /// Event dims of the codomain.
    fn codomain_event_dim(&self) -> usize {
        self.codomain().event_dim()
    }
}

/// The transform from unconstrained reals onto `constraint`, as `torch.distributions.biject_to`.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// let t = biject_to(&Constraint::Positive).unwrap();
/// let y = t.forward(&tch::Tensor::from(0.0));
/// assert!((y.double_value(&[]) - 1.0).abs() < 1e-12);
/// ```
pub fn biject_to(constraint: &Constraint) -> Result<TransformRef> {
    Ok(match constraint {
        Constraint::Real => Rc::new(IdentityTransform),
        Constraint::Independent(base, n) => Rc::new(IndependentTransform::new(biject_to(base)?, *n)),
        Constraint::Positive | Constraint::Nonnegative => Rc::new(ExpTransform),
        Constraint::GreaterThan(b) | Constraint::GreaterThanEq(b) => Rc::new(ComposeTransform::with_codomain(
            vec![Rc::new(ExpTransform), Rc::new(AffineTransform::new(b.clone(), Bound::Scalar(1.0), 0))],
            constraint.clone(),
        )),
        Constraint::Interval(lo, hi) => {
            let scale = match (lo, hi) {
                (Bound::Scalar(l), Bound::Scalar(h)) => Bound::Scalar(h - l),
                (l, h) => {
                    let ht = match h {
                        Bound::Tensor(t) => t.shallow_clone(),
                        Bound::Scalar(x) => Tensor::from(*x),
                    };
                    Bound::Tensor(&ht - l.to_tensor(&ht))
                }
            };
            Rc::new(ComposeTransform::with_codomain(vec![Rc::new(SigmoidTransform), Rc::new(AffineTransform::new(lo.clone(), scale, 0))], constraint.clone()))
        }
        Constraint::UnitInterval => Rc::new(SigmoidTransform),
        Constraint::Simplex => Rc::new(StickBreakingTransform),
        Constraint::Ordered => Rc::new(OrderedTransform { positive: false }),
        Constraint::PositiveOrdered => Rc::new(OrderedTransform { positive: true }),
        Constraint::LowerCholesky => Rc::new(LowerCholeskyTransform),
        Constraint::CorrCholesky => Rc::new(CorrCholeskyTransform),
        Constraint::PositiveDefinite => Rc::new(PositiveDefiniteTransform),
        c => return Err(DistError::Unsupported { dist: "biject_to", op: leak_name(c) }),
    })
}

fn leak_name(c: &Constraint) -> &'static str {
    match c {
        Constraint::IntegerInterval(..) | Constraint::NonnegativeInteger | Constraint::Boolean | Constraint::OneHot => "a bijection onto a discrete support",
        _ => "a bijection onto this constraint",
    }
}
