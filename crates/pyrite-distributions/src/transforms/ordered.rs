//! The ordered transforms (Stan's `ordered` and `positive_ordered`; NumPyro's
//! `OrderedTransform`): `y_1 = x_1` (or `exp(x_1)`), `y_k = y_(k-1) + exp(x_k)`.

use tch::Tensor;

use super::Transform;
use crate::constraints::Constraint;

/// Maps `R^K` onto increasing vectors (`positive`: onto increasing positive vectors) along the
/// last dimension.
///
/// ```
/// use pyrite_distributions::transforms::{OrderedTransform, Transform};
/// use tch::Tensor;
///
/// let x = Tensor::from_slice(&[-1.0f64, 0.0, 1.0_f64.ln()]);
/// let y = OrderedTransform { positive: false }.forward(&x);
/// assert_eq!(Vec::<f64>::try_from(&y).unwrap(), vec![-1.0, 0.0, 1.0]);
/// let back = OrderedTransform { positive: false }.inverse(&y);
/// assert!(back.allclose(&x, 1e-12, 1e-12, false));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct OrderedTransform {
    /// Whether the first element is positive too (`exp(x_1)`).
    pub positive: bool,
}

impl Transform for OrderedTransform {
    fn name(&self) -> &'static str {
        "OrderedTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real.independent(1)
    }
    fn codomain(&self) -> Constraint {
        if self.positive {
            Constraint::PositiveOrdered
        } else {
            Constraint::Ordered
        }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        // The increments: the first element as it is (or its exp), the others' exp.
        let first = x.narrow(-1, 0, 1);
        let first = if self.positive { first.exp() } else { first };
        let rest = x.narrow(-1, 1, x.size()[x.dim() - 1] - 1).exp();
        Tensor::cat(&[first, rest], -1).cumsum(-1, x.kind())
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        let k = y.size()[y.dim() - 1];
        let first = y.narrow(-1, 0, 1);
        let first = if self.positive { first.log() } else { first };
        let gaps = (y.narrow(-1, 1, k - 1) - y.narrow(-1, 0, k - 1)).log();
        Tensor::cat(&[first, gaps], -1)
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, _y: &Tensor) -> Tensor {
        // A triangular Jacobian: the product of the exps taken.
        let k = x.size()[x.dim() - 1];
        let from = if self.positive { 0 } else { 1 };
        x.narrow(-1, from, k - from).sum_dim_intlist(-1, false, x.kind())
    }
}
