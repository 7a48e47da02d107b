//! The low-rank-plus-diagonal multivariate normal distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{randn, LN_2PI_HALF};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};
use crate::shape::{broadcast_shapes, concat};

/// `LowRankMultivariateNormal(loc, cov_factor, cov_diag)`: covariance `W W^T + diag(D)` with
/// `W` of shape `[d, r]`; log densities use the Woodbury identity, at `O(d r^2)` cost.
#[derive(Debug)]
pub struct LowRankMultivariateNormal {
    /// Mean, `batch_shape ++ [d]`.
    pub loc: Tensor,
    /// Low-rank factor `W` of the covariance, `batch_shape ++ [d, r]`.
    pub cov_factor: Tensor,
    /// Diagonal `D` of the covariance (`> 0`), `batch_shape ++ [d]`.
    pub cov_diag: Tensor,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
}

impl LowRankMultivariateNormal {
    /// From the mean `[.., d]`, the factor `W` `[.., d, r]` and the positive diagonal `D` `[.., d]`.
    pub fn new(loc: impl IntoParam, cov_factor: impl IntoParam, cov_diag: impl IntoParam) -> Result<Self> {
        let loc = float_param(loc.into_param());
        let w = float_param(cov_factor.into_param());
        let diag = float_param(cov_diag.into_param());
        let [loc, w, diag] = same_kind([loc, w, diag]);
        let (ls, ws, ds) = (loc.size(), w.size(), diag.size());
        let shape_err = || DistError::Shape { dist: "LowRankMultivariateNormal", detail: format!("loc {ls:?}, cov_factor {ws:?}, cov_diag {ds:?}") };
        let (Some(&d), true) = (ls.last(), ws.len() >= 2) else { return Err(shape_err()) };
        if ws[ws.len() - 2] != d || ds.last() != Some(&d) {
            return Err(shape_err());
        }
        check_param("LowRankMultivariateNormal", "loc", &loc, &Constraint::Real)?;
        check_param("LowRankMultivariateNormal", "cov_factor", &w, &Constraint::Real)?;
        check_param("LowRankMultivariateNormal", "cov_diag", &diag, &Constraint::Positive)?;
        let batch_shape = broadcast_shapes(&[&ls[..ls.len() - 1], &ws[..ws.len() - 2], &ds[..ds.len() - 1]]).ok_or_else(shape_err)?;
        Ok(LowRankMultivariateNormal { loc, cov_factor: w, cov_diag: diag, batch_shape, event_shape: vec![d] })
    }
    /// The rank `r` of the factor `W`.
    fn rank(&self) -> i64 {
        // Cannot fail: the constructor checked that `cov_factor` has at least two dimensions.
        *self.cov_factor.size().last().unwrap()
    }
    /// Cholesky factor of the capacitance `I + W^T D^-1 W`.
    pub(crate) fn capacitance_tril(&self) -> Tensor {
        let wt_dinv = self.cov_factor.transpose(-2, -1) / self.cov_diag.unsqueeze(-2);
        let k = wt_dinv.matmul(&self.cov_factor);
        let r = self.rank();
        (k + Tensor::eye(r, self.options())).linalg_cholesky(false)
    }
    /// `log |W W^T + D|` by the matrix determinant lemma, from the capacitance's Cholesky factor.
    pub(crate) fn log_det(&self, cap_tril: &Tensor) -> Tensor {
        let cap_diag = cap_tril.diagonal(0, -2, -1);
        cap_diag.log().sum_dim_intlist(-1, false, cap_diag.kind()) * 2.0 + self.cov_diag.log().sum_dim_intlist(-1, false, cap_diag.kind())
    }
}

impl Distribution for LowRankMultivariateNormal {
    family_common!("LowRankMultivariateNormal");
    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }
    fn support(&self) -> Constraint {
        Constraint::Real.independent(1)
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.loc, &self.cov_factor, &self.cov_diag])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let r = self.rank();
        let eps_w = randn(&concat(&concat(sample_shape, &self.batch_shape), &[r]), self.options());
        let eps_d = randn(&self.shape(sample_shape), self.options());
        Ok(self.cov_factor.matmul(&eps_w.unsqueeze(-1)).squeeze_dim(-1) + self.cov_diag.sqrt() * eps_d + &self.loc)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let d = self.event_shape[0];
        let diff = value - &self.loc;
        let cap = self.capacitance_tril();
        // Woodbury: diff^T (W W^T + D)^-1 diff = diff^T D^-1 diff - |C^-1 W^T D^-1 diff|^2
        let dinv_diff = &diff / &self.cov_diag;
        let m1 = (&diff * &dinv_diff).sum_dim_intlist(-1, false, diff.kind());
        let wt_dinv_diff = self.cov_factor.transpose(-2, -1).matmul(&dinv_diff.unsqueeze(-1));
        let ws = wt_dinv_diff.size();
        let bs = broadcast_shapes(&[&ws[..ws.len() - 2], &cap.size()[..cap.dim() - 2]]).unwrap_or_default();
        let r = ws[ws.len() - 2];
        let cap_b = cap.expand(concat(&bs, &[r, r]).as_slice(), false);
        let rhs = wt_dinv_diff.expand(concat(&bs, &[r, 1]).as_slice(), false);
        let sol = Tensor::linalg_solve_triangular(&cap_b, &rhs, false, true, false).squeeze_dim(-1);
        let m2 = sol.square().sum_dim_intlist(-1, false, sol.kind());
        Ok((m1 - m2 + self.log_det(&cap)) * -0.5 - d as f64 * LN_2PI_HALF)
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(expand_param(&self.loc, &self.batch_shape, &self.event_shape))
    }
    fn variance(&self) -> Result<Tensor> {
        let v = self.cov_factor.square().sum_dim_intlist(-1, false, self.cov_factor.kind()) + &self.cov_diag;
        Ok(expand_param(&v, &self.batch_shape, &self.event_shape))
    }
    fn entropy(&self) -> Result<Tensor> {
        let d = self.event_shape[0] as f64;
        let h = self.log_det(&self.capacitance_tril()) * 0.5 + d * (0.5 + LN_2PI_HALF);
        Ok(expand_param(&h, &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("LowRankMultivariateNormal", &self.batch_shape, batch_shape)?;
        let d = self.event_shape[0];
        let r = self.rank();
        Ok(Rc::new(LowRankMultivariateNormal {
            loc: expand_param(&self.loc, batch_shape, &[d]),
            cov_factor: expand_param(&self.cov_factor, batch_shape, &[d, r]),
            cov_diag: expand_param(&self.cov_diag, batch_shape, &[d]),
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
        }))
    }
}
