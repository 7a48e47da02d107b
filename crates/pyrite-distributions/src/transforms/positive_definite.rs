//! The transform onto positive-definite matrices.

use tch::Tensor;

use super::{LowerCholeskyTransform, Transform};
use crate::constraints::Constraint;

/// Maps a real square matrix to a positive-definite one: its lower-Cholesky image `L` (strictly
/// lower part kept, diagonal exponentiated), then `L L^T`, as Pyro's
/// `biject_to(constraints.positive_definite)`. Only the lower triangle of the input matters.
/// `log|det J| = n log 2 + sum_i (n - i + 2) x_ii` (rows `i = 1..n`), over the lower triangle:
/// `sum_i x_ii` for the exponentiated diagonal and `n log 2 + sum_i (n - i + 1) log L_ii` for
/// `L -> L L^T`.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// let t = biject_to(&Constraint::PositiveDefinite)?;
/// let x = tch::Tensor::from_slice(&[0.3f64, 9.0, -0.4, 0.1]).view([2, 2]);
/// let y = t.forward(&x);
/// assert!(bool::try_from(Constraint::PositiveDefinite.check(&y)).unwrap());
/// // the upper triangle is ignored: the inverse gives it back as zero
/// let back = t.inverse(&y);
/// assert!((back.double_value(&[1, 0]) + 0.4).abs() < 1e-12 && back.double_value(&[0, 1]) == 0.0);
/// # Ok::<(), DistError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PositiveDefiniteTransform;

impl Transform for PositiveDefiniteTransform {
    fn name(&self) -> &'static str {
        "PositiveDefiniteTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real.independent(2)
    }
    fn codomain(&self) -> Constraint {
        Constraint::PositiveDefinite
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let l = LowerCholeskyTransform.forward(x);
        l.matmul(&l.transpose(-2, -1))
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        LowerCholeskyTransform.inverse(&y.linalg_cholesky(false))
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, _y: &Tensor) -> Tensor {
        let d = x.diagonal(0, -2, -1);
        let n = d.size()[d.dim() - 1];
        // weights n + 1, n, ..., 2 for rows 1..n
        let weights = Tensor::arange_start_step(n + 1, 1, -1, (d.kind(), d.device()));
        let kind = d.kind();
        (d * weights).sum_dim_intlist(-1, false, kind) + n as f64 * std::f64::consts::LN_2
    }
}
