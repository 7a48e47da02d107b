//! KL divergences between (low-rank) multivariate normals, as torch's
//! `_kl_multivariatenormal_multivariatenormal` and its three low-rank variants: triangular
//! solves against the Cholesky factor of `q`'s covariance (or, for a low-rank `q`, the Woodbury
//! identity and the matrix determinant lemma), never an explicit inverse.

use std::any::Any;

use tch::Tensor;

use super::{pair, same_size};
use crate::distribution::Distribution;
use crate::error::{DistError, Result};
use crate::shape::{broadcast_shapes, concat};
use crate::{LowRankMultivariateNormal, MultivariateNormal};

/// The KL divergence of `p` and `q` when both are (low-rank) multivariate normals.
pub(super) fn dispatch(p: &dyn Any, q: &dyn Any) -> Option<Result<Tensor>> {
    pair(p, q, mvn_mvn).or_else(|| pair(p, q, mvn_low_rank)).or_else(|| pair(p, q, low_rank_mvn)).or_else(|| pair(p, q, low_rank_low_rank))
}

/// `(log |Sq| - log |Sp| + tr(Sq^-1 Sp) + (mq - mp)^T Sq^-1 (mq - mp) - n) / 2`.
fn mvn_mvn(p: &MultivariateNormal, q: &MultivariateNormal) -> Result<Tensor> {
    let n = event_size(p, q)?;
    let half_term1 = half_log_det(&q.scale_tril) - half_log_det(&p.scale_tril);
    let term2 = trace_xxt(&solve_tril(&q.scale_tril, &p.scale_tril)?);
    let term3 = mahalanobis(&q.scale_tril, &(&q.loc - &p.loc))?;
    Ok(half_term1 + (term2 + term3 - n) * 0.5)
}

fn mvn_low_rank(p: &MultivariateNormal, q: &LowRankMultivariateNormal) -> Result<Tensor> {
    let n = event_size(p, q)?;
    let q_cap = q.capacitance_tril();
    let term1 = q.log_det(&q_cap) - half_log_det(&p.scale_tril) * 2.0;
    let term3 = low_rank_mahalanobis(q, &q_cap, &(&q.loc - &p.loc))?;
    // Sq^-1 Sp = (Dq^-1 - A^T A) Lp Lp^T
    let a = woodbury_factor(q, &q_cap)?;
    let term21 = trace_xxt(&(&p.scale_tril * q.cov_diag.rsqrt().unsqueeze(-1)));
    let term22 = trace_xxt(&a.matmul(&p.scale_tril));
    Ok((term1 + term21 - term22 + term3 - n) * 0.5)
}

fn low_rank_mvn(p: &LowRankMultivariateNormal, q: &MultivariateNormal) -> Result<Tensor> {
    let n = event_size(p, q)?;
    let p_cap = p.capacitance_tril();
    let term1 = half_log_det(&q.scale_tril) * 2.0 - p.log_det(&p_cap);
    let term3 = mahalanobis(&q.scale_tril, &(&q.loc - &p.loc))?;
    // Sq^-1 Sp = (Lq Lq^T)^-1 (Wp Wp^T + Dp)
    let term21 = trace_xxt(&solve_tril(&q.scale_tril, &p.cov_factor)?);
    let term22 = trace_xxt(&solve_tril(&q.scale_tril, &p.cov_diag.sqrt().diag_embed(0, -2, -1))?);
    Ok((term1 + term21 + term22 + term3 - n) * 0.5)
}

fn low_rank_low_rank(p: &LowRankMultivariateNormal, q: &LowRankMultivariateNormal) -> Result<Tensor> {
    let n = event_size(p, q)?;
    let (p_cap, q_cap) = (p.capacitance_tril(), q.capacitance_tril());
    let term1 = q.log_det(&q_cap) - p.log_det(&p_cap);
    let term3 = low_rank_mahalanobis(q, &q_cap, &(&q.loc - &p.loc))?;
    // Sq^-1 Sp = (Dq^-1 - A^T A) (Dp + Wp Wp^T)
    let a = woodbury_factor(q, &q_cap)?;
    let ratio = &p.cov_diag / &q.cov_diag;
    let term21 = ratio.sum_dim_intlist(-1, false, ratio.kind());
    let term22 = trace_xxt(&(&p.cov_factor * q.cov_diag.rsqrt().unsqueeze(-1)));
    let term23 = trace_xxt(&(&a * p.cov_diag.sqrt().unsqueeze(-2)));
    let term24 = trace_xxt(&a.matmul(&p.cov_factor));
    Ok((term1 + term21 + term22 - term23 - term24 + term3 - n) * 0.5)
}

/// The common event size `n` of `p` and `q`, as a float for the formulas.
fn event_size(p: &dyn Distribution, q: &dyn Distribution) -> Result<f64> {
    same_size(p.name(), p.event_shape(), q.event_shape())?;
    Ok(p.event_shape().iter().product::<i64>() as f64)
}

/// `log |L|` of lower-triangular matrices: the sum of the logs of their diagonals.
fn half_log_det(l: &Tensor) -> Tensor {
    let diag = l.diagonal(0, -2, -1);
    diag.log().sum_dim_intlist(-1, false, diag.kind())
}

/// `trace(X X^T)` of each matrix of a batch: the sum of the squares of its elements.
fn trace_xxt(x: &Tensor) -> Tensor {
    x.square().sum_dim_intlist([-2i64, -1].as_slice(), false, x.kind())
}

/// `L^-1 B` for lower-triangular `L`, with the batch dims of `L` and `B` broadcast.
fn solve_tril(l: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (ls, bs) = (l.size(), b.size());
    let (l_batch, l_mat) = ls.split_at(ls.len() - 2);
    let (b_batch, b_mat) = bs.split_at(bs.len() - 2);
    let batch = broadcast_shapes(&[l_batch, b_batch])
        .ok_or_else(|| DistError::Shape { dist: "kl_divergence", detail: format!("triangular solve of matrices {ls:?} and {bs:?}") })?;
    let l = l.expand(concat(&batch, l_mat).as_slice(), false);
    let b = b.expand(concat(&batch, b_mat).as_slice(), false);
    Ok(Tensor::linalg_solve_triangular(&l, &b, false, true, false))
}

/// `x^T (L L^T)^-1 x` of vectors `x` (batch dims broadcast with those of `L`).
fn mahalanobis(l: &Tensor, x: &Tensor) -> Result<Tensor> {
    Ok(trace_xxt(&solve_tril(l, &x.unsqueeze(-1))?))
}

/// `A = C^-1 W^T D^-1` of a low-rank normal with capacitance factor `C`: by the Woodbury
/// identity its inverse covariance is `D^-1 - A^T A`.
fn woodbury_factor(d: &LowRankMultivariateNormal, cap_tril: &Tensor) -> Result<Tensor> {
    solve_tril(cap_tril, &(d.cov_factor.transpose(-2, -1) / d.cov_diag.unsqueeze(-2)))
}

/// `x^T (W W^T + D)^-1 x` by the Woodbury identity.
fn low_rank_mahalanobis(d: &LowRankMultivariateNormal, cap_tril: &Tensor, x: &Tensor) -> Result<Tensor> {
    let wt_dinv = d.cov_factor.transpose(-2, -1) / d.cov_diag.unsqueeze(-2);
    let wt_dinv_x = wt_dinv.matmul(&x.unsqueeze(-1)).squeeze_dim(-1);
    let scaled = x.square() / &d.cov_diag;
    let term1 = scaled.sum_dim_intlist(-1, false, scaled.kind());
    Ok(term1 - mahalanobis(cap_tril, &wt_dinv_x)?)
}
