//! The multivariate normal distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{randn, LN_2PI_HALF};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};
use crate::shape::broadcast_shapes;

/// `MultivariateNormal(loc, scale_tril)`, also built from a covariance or a precision matrix.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// use tch::Tensor;
/// let loc = Tensor::from_slice(&[0.0f64, 1.0]);
/// let cov = Tensor::from_slice(&[2.0f64, 0.5, 0.5, 1.0]).reshape([2, 2]);
/// let d = MultivariateNormal::from_covariance(&loc, &cov)?;
/// assert_eq!((d.batch_shape(), d.event_shape()), (&[] as &[i64], &[2i64] as &[i64]));
/// assert!(d.covariance().allclose(&cov, 1e-12, 1e-12, false));
/// let x = d.rsample(&[1000])?;
/// assert_eq!(x.size(), vec![1000, 2]);
/// assert_eq!(d.log_prob(&x)?.size(), vec![1000]); // one density per vector
/// # Ok::<(), DistError>(())
/// ```
#[derive(Debug)]
pub struct MultivariateNormal {
    /// Mean, `batch_shape ++ [d]`.
    pub loc: Tensor,
    /// Lower-triangular Cholesky factor of the covariance.
    pub scale_tril: Tensor,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
}

impl MultivariateNormal {
    /// From the mean vector and the Cholesky factor of the covariance.
    pub fn from_scale_tril(loc: impl IntoParam, scale_tril: impl IntoParam) -> Result<Self> {
        let scale_tril = float_param(scale_tril.into_param());
        Self::check_square(&scale_tril, "scale_tril")?;
        check_param("MultivariateNormal", "scale_tril", &scale_tril, &Constraint::LowerCholesky)?;
        Self::build(float_param(loc.into_param()), scale_tril, "scale_tril")
    }
    /// From the mean vector and a positive-definite covariance matrix.
    pub fn from_covariance(loc: impl IntoParam, covariance: impl IntoParam) -> Result<Self> {
        let cov = float_param(covariance.into_param());
        let name = "covariance_matrix";
        Self::check_square(&cov, name)?;
        check_param("MultivariateNormal", name, &cov, &Constraint::PositiveDefinite)?;
        let (l, info) = cov.linalg_cholesky_ex(false, false);
        if !crate::host_reads::checking(|| bool::try_from(info.eq(0).all()).unwrap_or(false)) {
            return Err(DistError::InvalidParameter { dist: "MultivariateNormal", param: name, problem: "is not positive definite".into() });
        }
        Self::build(float_param(loc.into_param()), l, name)
    }
    /// From the mean vector and a positive-definite precision (inverse covariance) matrix.
    pub fn from_precision(loc: impl IntoParam, precision: impl IntoParam) -> Result<Self> {
        let p = float_param(precision.into_param());
        let name = "precision_matrix";
        Self::check_square(&p, name)?;
        check_param("MultivariateNormal", name, &p, &Constraint::PositiveDefinite)?;
        // torch's _precision_to_scale_tril: the Cholesky factor of the flipped precision gives
        // that of the covariance by one triangular solve, with no explicit inverse. `_ex`, so
        // that a matrix without a factor is an error (also with validation off), not an abort.
        let (lf, info) = p.flip([-2, -1]).linalg_cholesky_ex(false, false);
        if !crate::host_reads::checking(|| bool::try_from(info.eq(0).all()).unwrap_or(false)) {
            return Err(DistError::InvalidParameter { dist: "MultivariateNormal", param: name, problem: "is not positive definite".into() });
        }
        let l_inv = lf.flip([-2, -1]).transpose(-2, -1);
        // Cannot fail: `check_square` found at least two dimensions.
        let eye = Tensor::eye(*p.size().last().unwrap(), (p.kind(), p.device()));
        let l = Tensor::linalg_solve_triangular(&l_inv, &eye, false, true, false);
        Self::build(float_param(loc.into_param()), l, name)
    }
    fn check_square(m: &Tensor, name: &'static str) -> Result<()> {
        let s = m.size();
        if s.len() < 2 || s[s.len() - 1] != s[s.len() - 2] {
            return Err(DistError::InvalidParameter { dist: "MultivariateNormal", param: name, problem: format!("must be a square matrix, got shape {s:?}") });
        }
        Ok(())
    }
    fn build(loc: Tensor, scale_tril: Tensor, name: &'static str) -> Result<Self> {
        let [loc, scale_tril] = same_kind([loc, scale_tril]);
        Self::check_square(&scale_tril, name)?;
        let ls = loc.size();
        let ss = scale_tril.size();
        let d = ss[ss.len() - 1];
        if ls.last() != Some(&d) {
            return Err(DistError::Shape { dist: "MultivariateNormal", detail: format!("loc {ls:?} and {name} {ss:?} disagree on the event size") });
        }
        check_param("MultivariateNormal", "loc", &loc, &Constraint::Real)?;
        let batch_shape = broadcast_shapes(&[&ls[..ls.len() - 1], &ss[..ss.len() - 2]])
            .ok_or_else(|| DistError::Shape { dist: "MultivariateNormal", detail: format!("loc {ls:?}, {name} {ss:?}") })?;
        Ok(MultivariateNormal { loc, scale_tril, batch_shape, event_shape: vec![d] })
    }
    fn half_log_det(&self) -> Tensor {
        let diag = self.scale_tril.diagonal(0, -2, -1);
        diag.log().sum_dim_intlist(-1, false, diag.kind())
    }
    /// The covariance matrix `L L^T`.
    pub fn covariance(&self) -> Tensor {
        self.scale_tril.matmul(&self.scale_tril.transpose(-2, -1))
    }
}

impl Distribution for MultivariateNormal {
    family_common!("MultivariateNormal");
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
        options_of(&[&self.loc, &self.scale_tril])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let eps = randn(&self.shape(sample_shape), self.options());
        Ok(self.scale_tril.matmul(&eps.unsqueeze(-1)).squeeze_dim(-1) + &self.loc)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let diff = value - &self.loc;
        // Broadcast the batch dims of L and diff before the triangular solve.
        let d = self.event_shape[0];
        let ds = diff.size();
        let batch = broadcast_shapes(&[&ds[..ds.len() - 1], &self.batch_shape]).unwrap_or_default();
        let mut lshape = batch.clone();
        lshape.extend([d, d]);
        let mut dshape = batch;
        dshape.extend([d, 1]);
        let l = self.scale_tril.expand(lshape.as_slice(), false);
        let b = diff.unsqueeze(-1).expand(dshape.as_slice(), false);
        let m = Tensor::linalg_solve_triangular(&l, &b, false, true, false).squeeze_dim(-1);
        let maha = m.square().sum_dim_intlist(-1, false, m.kind());
        Ok(maha * -0.5 - d as f64 * LN_2PI_HALF - self.half_log_det())
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(expand_param(&self.loc, &self.batch_shape, &self.event_shape))
    }
    fn variance(&self) -> Result<Tensor> {
        let v = self.scale_tril.square().sum_dim_intlist(-1, false, self.scale_tril.kind());
        Ok(expand_param(&v, &self.batch_shape, &self.event_shape))
    }
    fn entropy(&self) -> Result<Tensor> {
        let d = self.event_shape[0] as f64;
        let h = self.half_log_det() + d * (0.5 + LN_2PI_HALF);
        Ok(expand_param(&h, &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("MultivariateNormal", &self.batch_shape, batch_shape)?;
        let d = self.event_shape[0];
        Ok(Rc::new(MultivariateNormal {
            loc: expand_param(&self.loc, batch_shape, &[d]),
            scale_tril: expand_param(&self.scale_tril, batch_shape, &[d, d]),
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
        }))
    }
}
