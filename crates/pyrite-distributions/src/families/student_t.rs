//! Student's t distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::{randn, standard_gamma, LN_PI};
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `StudentT(df, loc, scale)`.
#[derive(Debug)]
pub struct StudentT {
    /// Degrees of freedom (`> 0`).
    pub df: Tensor,
    /// Location.
    pub loc: Tensor,
    /// Scale (`> 0`).
    pub scale: Tensor,
    batch_shape: Vec<i64>,
}

impl StudentT {
    /// A Student's t with `df > 0` degrees of freedom, location and `scale > 0`.
    pub fn new(df: impl IntoParam, loc: impl IntoParam, scale: impl IntoParam) -> Result<Self> {
        let df = float_param(df.into_param());
        let loc = float_param(loc.into_param());
        let scale = float_param(scale.into_param());
        let [df, loc, scale] = same_kind([df, loc, scale]);
        let batch_shape = broadcast_params("StudentT", &[("df", &df), ("loc", &loc), ("scale", &scale)])?;
        check_param("StudentT", "df", &df, &Constraint::Positive)?;
        check_param("StudentT", "loc", &loc, &Constraint::Real)?;
        check_param("StudentT", "scale", &scale, &Constraint::Positive)?;
        Ok(StudentT { df, loc, scale, batch_shape })
    }
}

impl Distribution for StudentT {
    family_common!("StudentT");
    fn support(&self) -> Constraint {
        Constraint::Real
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        options_of(&[&self.df, &self.loc, &self.scale])
    }
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let shape = self.shape(sample_shape);
        let x = randn(&shape, self.options());
        // Chi2(df) = 2 Gamma(df / 2, 1)
        let z = standard_gamma(&(&self.df * 0.5), &shape) * 2.0;
        let y = x * (z / &self.df).rsqrt();
        Ok(y * &self.scale + &self.loc)
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let df = &self.df;
        let y = (value - &self.loc) / &self.scale;
        let z = self.scale.log() + df.log() * 0.5 + 0.5 * LN_PI + (df * 0.5).lgamma() - ((df + 1.0) * 0.5).lgamma();
        Ok((df + 1.0) * -0.5 * (y.square() / df).log1p() - z)
    }
    fn mean(&self) -> Result<Tensor> {
        let m = expand_param(&self.loc, &self.batch_shape, &[]).copy();
        Ok(m.masked_fill(&self.df.le(1.0).expand(self.batch_shape.as_slice(), false), f64::NAN))
    }
    fn variance(&self) -> Result<Tensor> {
        let df = expand_param(&self.df, &self.batch_shape, &[]);
        let v = self.scale.square() * &df / (&df - 2.0);
        let v = v.masked_fill(&df.le(2.0), f64::INFINITY);
        Ok(v.masked_fill(&df.le(1.0), f64::NAN))
    }
    fn entropy(&self) -> Result<Tensor> {
        let df = &self.df;
        let half = df * 0.5;
        let halfp = (df + 1.0) * 0.5;
        let lbeta = half.lgamma() + 0.5 * LN_PI - halfp.lgamma();
        let h = self.scale.log() + &halfp * (halfp.digamma() - half.digamma()) + df.log() * 0.5 + lbeta;
        Ok(expand_param(&h, &self.batch_shape, &[]))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("StudentT", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(StudentT {
            df: expand_param(&self.df, batch_shape, &[]),
            loc: expand_param(&self.loc, batch_shape, &[]),
            scale: expand_param(&self.scale, batch_shape, &[]),
            batch_shape: batch_shape.to_vec(),
        }))
    }
}
