//! Transforms onto Cholesky factors: lower-Cholesky and correlation-Cholesky.

use tch::{Kind, Tensor};

use super::Transform;
use crate::constraints::Constraint;

/// Maps a real square matrix to a lower-triangular one with positive diagonal: the strictly lower
/// part is kept and the diagonal exponentiated. log|det J| is the sum of the input diagonal.
#[derive(Debug, Clone, Copy)]
pub struct LowerCholeskyTransform;

impl Transform for LowerCholeskyTransform {
    fn name(&self) -> &'static str {
        "LowerCholeskyTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real.independent(2)
    }
    fn codomain(&self) -> Constraint {
        Constraint::LowerCholesky
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        x.tril(-1) + x.diagonal(0, -2, -1).exp().diag_embed(0, -2, -1)
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        y.tril(-1) + y.diagonal(0, -2, -1).log().diag_embed(0, -2, -1)
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, _y: &Tensor) -> Tensor {
        let d = x.diagonal(0, -2, -1);
        d.sum_dim_intlist(-1, false, d.kind())
    }
}

/// Maps a vector of `n(n-1)/2` reals to the Cholesky factor of an `n x n` correlation matrix
/// (tanh, then stick breaking along each row), as torch's `CorrCholeskyTransform`.
#[derive(Debug, Clone, Copy)]
pub struct CorrCholeskyTransform;

/// The side `n` of the matrix for a vector of length `len = n(n-1)/2`.
fn side_of(len: i64) -> i64 {
    ((1.0 + (1.0 + 8.0 * len as f64).sqrt()) / 2.0).round() as i64
}

/// Flat indices of the entries strictly below the diagonal (diagonal offset `offset`), row-major.
fn tril_flat_indices(n: i64, offset: i64, device: tch::Device) -> Tensor {
    let idx = Tensor::tril_indices(n, n, offset, (Kind::Int64, device));
    idx.get(0) * n + idx.get(1)
}

fn vec_to_tril(v: &Tensor, n: i64) -> Tensor {
    let mut shape = v.size();
    shape.pop();
    let mut flat_shape = shape.clone();
    flat_shape.push(n * n);
    let flat = Tensor::zeros(flat_shape.as_slice(), (v.kind(), v.device()));
    let flat = flat.index_copy(-1, &tril_flat_indices(n, -1, v.device()), v);
    shape.extend([n, n]);
    flat.view(shape.as_slice())
}

fn tril_to_vec(m: &Tensor, offset: i64) -> Tensor {
    // Cannot fail for an input in the codomain (a matrix): see `Transform`.
    let n = *m.size().last().unwrap();
    m.flatten(-2, -1).index_select(-1, &tril_flat_indices(n, offset, m.device()))
}

impl Transform for CorrCholeskyTransform {
    fn name(&self) -> &'static str {
        "CorrCholeskyTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real.independent(1)
    }
    fn codomain(&self) -> Constraint {
        Constraint::CorrCholesky
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let eps = if x.kind() == Kind::Double { f64::EPSILON } else { f32::EPSILON as f64 };
        let x = x.tanh().clamp(-1.0 + eps, 1.0 - eps);
        // Cannot fail for an input in the domain (at least one dimension): see `Transform`.
        let n = side_of(*x.size().last().unwrap());
        let r = vec_to_tril(&x, n);
        let z1m_cumprod_sqrt = (-r.square() + 1.0).sqrt().cumprod(-1, r.kind());
        let r = r + Tensor::eye(n, (x.kind(), x.device()));
        let ones = z1m_cumprod_sqrt.ones_like().narrow(-1, 0, 1);
        let shifted = Tensor::cat(&[&ones, &z1m_cumprod_sqrt.narrow(-1, 0, n - 1)], -1);
        r * shifted
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        // Cannot fail for an input in the codomain (a matrix): see `Transform`.
        let n = *y.size().last().unwrap();
        let y_cumsum = -(y * y).cumsum(-1, y.kind()) + 1.0;
        let ones = y_cumsum.ones_like().narrow(-1, 0, 1);
        let shifted = Tensor::cat(&[&ones, &y_cumsum.narrow(-1, 0, n - 1)], -1);
        let y_vec = tril_to_vec(y, -1);
        let cum_vec = tril_to_vec(&shifted, -1);
        let t = y_vec / cum_vec.sqrt();
        (t.log1p() - (-&t).log1p()) * 0.5
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let y1m_cumsum = -(y * y).cumsum(-1, y.kind()) + 1.0;
        let tril = tril_to_vec(&y1m_cumsum, -2);
        let stick = tril.log().sum_dim_intlist(-1, false, tril.kind()) * 0.5;
        let tanh_ld = (x + (x * -2.0).softplus() - std::f64::consts::LN_2).sum_dim_intlist(-1, false, x.kind()) * -2.0;
        stick + tanh_ld
    }
    fn forward_shape(&self, shape: &[i64]) -> Vec<i64> {
        let mut s = shape.to_vec();
        let len = s.pop().unwrap_or(0);
        let n = side_of(len);
        s.extend([n, n]);
        s
    }
    fn inverse_shape(&self, shape: &[i64]) -> Vec<i64> {
        let mut s = shape.to_vec();
        let n = s.pop().unwrap_or(1);
        s.pop();
        s.push(n * (n - 1) / 2);
        s
    }
}
