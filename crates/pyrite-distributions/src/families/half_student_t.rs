//! The half-Student's t distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::where_or_neg_inf;
use super::student_t::StudentT;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `HalfStudentT(df, scale)`: `|X|` for `X ~ StudentT(df, 0, scale)`; the density is twice
/// Student's on `x >= 0`. Stan's `real<lower=0> sigma; sigma ~ student_t(df, 0, scale)`, the
/// default prior of brms's scales.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// use tch::Tensor;
///
/// let d = HalfStudentT::new(3.0, 10.0).unwrap();
/// let t = StudentT::new(3.0, 0.0, 10.0).unwrap();
/// let x = Tensor::from(4.0f64);
/// let twice = t.log_prob(&x).unwrap() + std::f64::consts::LN_2;
/// assert!((d.log_prob(&x).unwrap() - twice).abs().double_value(&[]) < 1e-12);
/// ```
#[derive(Debug)]
pub struct HalfStudentT {
    /// Degrees of freedom (`> 0`).
    pub df: Tensor,
    /// Scale of the underlying Student's t (`> 0`).
    pub scale: Tensor,
    base: StudentT,
}

impl HalfStudentT {
    /// A half-Student's t with `df > 0` degrees of freedom and `scale > 0`.
    pub fn new(df: impl IntoParam, scale: impl IntoParam) -> Result<Self> {
        let (df, scale) = (float_param(df.into_param()), float_param(scale.into_param()));
        let [df, scale] = same_kind([df, scale]);
        broadcast_params("HalfStudentT", &[("df", &df), ("scale", &scale)])?;
        check_param("HalfStudentT", "df", &df, &Constraint::Positive)?;
        check_param("HalfStudentT", "scale", &scale, &Constraint::Positive)?;
        // Cannot fail: the same checks passed.
        let base = StudentT::new(&df, scale.zeros_like(), &scale)?;
        Ok(HalfStudentT { df, scale, base })
    }
}

impl Distribution for HalfStudentT {
    fn name(&self) -> &'static str {
        "HalfStudentT"
    }
    fn batch_shape(&self) -> &[i64] {
        self.base.batch_shape()
    }
    fn event_shape(&self) -> &[i64] {
        &[]
    }
    fn support(&self) -> Constraint {
        Constraint::Nonnegative
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        self.base.options()
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        Ok(self.base.rsample(sample_shape)?.abs())
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let lp = crate::without_validation(|| self.base.log_prob(value))? + std::f64::consts::LN_2;
        Ok(where_or_neg_inf(&value.ge(0.0), &lp))
    }
    fn mean(&self) -> Result<Tensor> {
        // 2 scale sqrt(df / pi) Gamma((df + 1) / 2) / (Gamma(df / 2) (df - 1)) for df > 1.
        let df = &self.df;
        let log_ratio = ((df + 1.0) * 0.5).lgamma() - (df * 0.5).lgamma();
        let m = self.scale.shallow_clone() * 2.0 * (df / std::f64::consts::PI).sqrt() * log_ratio.exp() / (df - 1.0);
        let m = m.masked_fill(&df.le(1.0), f64::INFINITY);
        Ok(m.expand(self.batch_shape(), false).contiguous())
    }
    fn variance(&self) -> Result<Tensor> {
        // E[X^2] is Student's variance; minus the mean's square.
        let second = self.base.variance()?;
        Ok(&second - self.mean()?.square())
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("HalfStudentT", self.batch_shape(), batch_shape)?;
        let (df, scale) = (expand_param(&self.df, batch_shape, &[]), expand_param(&self.scale, batch_shape, &[]));
        Ok(Rc::new(HalfStudentT::new(df, scale)?))
    }
}
