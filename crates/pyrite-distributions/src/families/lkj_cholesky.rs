//! The LKJ distribution over Cholesky factors of correlation matrices.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::beta::Beta;
use super::common::randn;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};

/// `LKJCholesky(dim, concentration)`: the lower Cholesky factor `L` of a `dim x dim` correlation
/// matrix `L L^T` whose density is proportional to `det(L L^T)^(concentration - 1)` (Lewandowski,
/// Kurowicka and Joe, 2009), as torch's `LKJCholesky`: `concentration = 1` is uniform over
/// correlation matrices, larger values favour the identity. Sampled by the onion method; not
/// reparameterised (an autoguide reaches it through `biject_to(corr_cholesky)`).
///
/// ```
/// use pyrite_distributions::prelude::*;
/// let d = LKJCholesky::new(3, 2.0)?;
/// let l = d.sample(&[])?;
/// assert_eq!(l.size(), vec![3, 3]);
/// // each row of L has unit length: L L^T has ones on the diagonal
/// let c = l.matmul(&l.tr());
/// assert!((c.double_value(&[2, 2]) - 1.0).abs() < 1e-5);
/// assert_eq!(d.log_prob(&l)?.size(), Vec::<i64>::new());
/// # Ok::<(), DistError>(())
/// ```
#[derive(Debug)]
pub struct LKJCholesky {
    /// Shape parameter `> 0`, of the batch shape.
    pub concentration: Tensor,
    dim: i64,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
}

impl LKJCholesky {
    /// Factors of `dim x dim` correlation matrices (`dim >= 2`) with the given concentration.
    pub fn new(dim: i64, concentration: impl IntoParam) -> Result<Self> {
        if dim < 2 {
            return Err(DistError::InvalidParameter { dist: "LKJCholesky", param: "dim", problem: format!("must be at least 2, got {dim}") });
        }
        let c = float_param(concentration.into_param());
        check_param("LKJCholesky", "concentration", &c, &Constraint::Positive)?;
        Ok(LKJCholesky { batch_shape: c.size(), event_shape: vec![dim, dim], concentration: c, dim })
    }

    /// The Beta draws of the onion method (Lewandowski et al., section 3.2), one per row: row
    /// `k >= 1` draws `Beta(k / 2, concentration + (dim - 2) / 2 - (k - 1) / 2)`, as NumPyro
    /// does; row 0 draws a placeholder (its off-diagonal part is empty). torch 2.13 uses
    /// `k - 1/2` as the first parameter instead, which gives rows 2 and later correlations
    /// wider than the LKJ marginal; pyrite's draws have that marginal (tested), and its
    /// `log_prob` equals torch's.
    fn row_betas(&self) -> Result<Beta> {
        let (kind, device) = self.options();
        let offset = Tensor::cat(&[Tensor::zeros([1], (kind, device)), Tensor::arange(self.dim - 1, (kind, device))], 0);
        let marginal = &self.concentration + 0.5 * (self.dim - 2) as f64;
        Beta::new(&offset * 0.5 + 0.5, marginal.unsqueeze(-1) - offset * 0.5)
    }
}

impl Distribution for LKJCholesky {
    family_common!("LKJCholesky");
    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }
    fn support(&self) -> Constraint {
        Constraint::CorrCholesky
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.concentration])
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        tch::no_grad(|| {
            let y = self.row_betas()?.sample(sample_shape)?.unsqueeze(-1);
            let u = randn(&self.shape(sample_shape), self.options()).tril(-1);
            let norm = u.norm_scalaropt_dim(2.0, [-1].as_slice(), true);
            // the first row is all zeros (0 / 0): its off-diagonal part is zero
            let sphere = (&u / norm).nan_to_num(0.0, 0.0, 0.0);
            let w = y.sqrt() * sphere;
            let tiny = if w.kind() == Kind::Double { f64::MIN_POSITIVE } else { f32::MIN_POSITIVE as f64 };
            let diag = (-(w.square().sum_dim_intlist(-1, false, w.kind())) + 1.0).clamp_min(tiny).sqrt();
            Ok(w + diag.diag_embed(0, -2, -1))
        })
    }
    /// `sum_i (2 (concentration - 1) + dim - i) log L_ii` over rows `i = 2..dim`, minus the log
    /// normaliser of Lewandowski et al. (page 1999).
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let (kind, device) = self.options();
        let diag = value.diagonal(0, -2, -1).narrow(-1, 1, self.dim - 1);
        let order = Tensor::arange_start(2, self.dim + 1, (kind, device));
        let order = (&self.concentration - 1.0).unsqueeze(-1) * 2.0 + self.dim as f64 - order;
        let unnormalised = (order * diag.log()).sum_dim_intlist(-1, false, diag.kind());
        let dm1 = (self.dim - 1) as f64;
        let alpha = &self.concentration + 0.5 * dm1;
        let denominator = alpha.lgamma() * dm1;
        let numerator = (&alpha - 0.5).mvlgamma(self.dim - 1);
        let pi_constant = 0.5 * dm1 * std::f64::consts::PI.ln();
        Ok(unnormalised - (numerator - denominator + pi_constant))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("LKJCholesky", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(LKJCholesky {
            concentration: expand_param(&self.concentration, batch_shape, &[]),
            dim: self.dim,
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
        }))
    }
}
