//! The categorical distribution over `{0, ..., K-1}`.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::common::enumerate_range;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::{DistError, Result};
use crate::shape::{broadcast_shapes, concat};

/// `Categorical(probs)` or `Categorical::from_logits(logits)`: the last dimension indexes the
/// categories; samples are `i64` indices.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// let d = Categorical::new(tch::Tensor::from_slice(&[0.2f32, 0.3, 0.5]))?;
/// assert_eq!(d.num_categories(), 3);
/// let x = d.sample(&[100])?;
/// assert_eq!((x.size(), x.kind()), (vec![100], tch::Kind::Int64));
/// assert!((d.log_prob(&tch::Tensor::from(2i64))?.double_value(&[]) - 0.5f64.ln()).abs() < 1e-6);
/// # Ok::<(), DistError>(())
/// ```
#[derive(Debug)]
pub struct Categorical {
    /// Normalised probabilities, `batch_shape ++ [K]`.
    pub probs: Tensor,
    /// Normalised log-probabilities, `batch_shape ++ [K]`.
    pub logits: Tensor,
    batch_shape: Vec<i64>,
}

fn split_categories(dist: &'static str, param: &'static str, t: &Tensor) -> Result<Vec<i64>> {
    match t.size().split_last() {
        None => Err(DistError::InvalidParameter { dist, param, problem: "must have at least one dimension (the categories)".into() }),
        Some((0, _)) => Err(DistError::InvalidParameter { dist, param, problem: "must have at least one category (its last dimension has size 0)".into() }),
        Some((_, batch)) => Ok(batch.to_vec()),
    }
}

impl Categorical {
    /// From probabilities on the simplex (each row sums to one).
    pub fn new(probs: impl IntoParam) -> Result<Self> {
        let probs = float_param(probs.into_param());
        let batch_shape = split_categories("Categorical", "probs", &probs)?;
        check_param("Categorical", "probs", &probs, &Constraint::Simplex)?;
        let probs = &probs / probs.sum_dim_intlist(-1, true, probs.kind());
        // torch's probs_to_logits: probabilities clamped into [eps, 1 - eps] before the log.
        let eps = if probs.kind() == Kind::Double { f64::EPSILON } else { f32::EPSILON as f64 };
        Ok(Categorical { logits: probs.clamp(eps, 1.0 - eps).log(), probs, batch_shape })
    }
    /// From unnormalised log-probabilities.
    pub fn from_logits(logits: impl IntoParam) -> Result<Self> {
        let logits = float_param(logits.into_param());
        let batch_shape = split_categories("Categorical", "logits", &logits)?;
        check_param("Categorical", "logits", &logits, &Constraint::Independent(Box::new(Constraint::Real), 1))?;
        let logits = &logits - logits.logsumexp(-1, true);
        Ok(Categorical { probs: logits.exp(), logits, batch_shape })
    }
    /// The number of categories `K`.
    pub fn num_categories(&self) -> i64 {
        // Cannot fail: the constructors checked that the logits have a last dimension.
        *self.logits.size().last().unwrap()
    }
    pub(crate) fn sample_indices(&self, sample_shape: &[i64]) -> Tensor {
        let k = self.num_categories();
        let n: i64 = sample_shape.iter().product();
        if n == 0 {
            // `multinomial` refuses to draw no samples.
            return Tensor::zeros(concat(sample_shape, &self.batch_shape).as_slice(), (Kind::Int64, self.probs.device()));
        }
        let probs_2d = self.probs.reshape([-1, k]);
        let samples = probs_2d.multinomial(n, true).transpose(0, 1);
        samples.reshape(concat(sample_shape, &self.batch_shape).as_slice())
    }
    /// The same categorical with its parameters broadcast to `batch_shape`.
    pub(crate) fn expanded(&self, batch_shape: &[i64]) -> Result<Categorical> {
        check_expand("Categorical", &self.batch_shape, batch_shape)?;
        let k = [self.num_categories()];
        Ok(Categorical {
            probs: expand_param(&self.probs, batch_shape, &k),
            logits: expand_param(&self.logits, batch_shape, &k),
            batch_shape: batch_shape.to_vec(),
        })
    }
    /// Log-probabilities of integer `value` (no validation).
    pub(crate) fn log_prob_indices(&self, value: &Tensor) -> Result<Tensor> {
        let k = self.num_categories();
        let vshape = value.size();
        let shape = broadcast_shapes(&[&vshape, &self.batch_shape]).ok_or_else(|| DistError::InvalidValue {
            dist: "Categorical",
            problem: format!("of shape {vshape:?} does not broadcast with batch shape {:?}", self.batch_shape),
        })?;
        let idx = value.to_kind(Kind::Int64);
        // Indices outside 0..K (possible with validation off) get -inf instead of an
        // out-of-bounds gather, which would abort.
        let outside = idx.lt(0).logical_or(&idx.ge(k));
        let idx = idx.clamp(0, k - 1).unsqueeze(-1).expand(concat(&shape, &[1]).as_slice(), false);
        let logits = self.logits.expand(concat(&shape, &[k]).as_slice(), false);
        let lp = logits.gather(-1, &idx, false).squeeze_dim(-1);
        Ok(lp.masked_fill(&outside, f64::NEG_INFINITY))
    }
}

impl Distribution for Categorical {
    family_common!("Categorical");
    fn support(&self) -> Constraint {
        Constraint::IntegerInterval(0, self.num_categories() - 1)
    }
    fn has_enumerate_support(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        (Kind::Int64, self.probs.device())
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        Ok(tch::no_grad(|| self.sample_indices(sample_shape)))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        self.log_prob_indices(value)
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(Tensor::full(self.batch_shape.as_slice(), f64::NAN, (self.probs.kind(), self.probs.device())))
    }
    fn variance(&self) -> Result<Tensor> {
        self.mean()
    }
    fn entropy(&self) -> Result<Tensor> {
        let min = if self.logits.kind() == Kind::Double { f64::MIN } else { f32::MIN as f64 };
        let p_log_p = self.logits.clamp_min(min) * &self.probs;
        Ok(-p_log_p.sum_dim_intlist(-1, false, p_log_p.kind()))
    }
    /// The values `0..K` in a new leftmost dimension, followed by a size-1 dimension per batch
    /// dimension (or the batch shape itself with `expand`), as torch's `enumerate_support`.
    ///
    /// ```
    /// use pyrite_distributions::prelude::*;
    /// // A batch of two categoricals over three values.
    /// let probs = tch::Tensor::from_slice(&[0.2f32, 0.3, 0.5, 0.6, 0.2, 0.2]).reshape([2, 3]);
    /// let d = Categorical::new(&probs)?;
    /// let values = d.enumerate_support(false)?;
    /// assert_eq!(values.size(), vec![3, 1]);
    /// assert!(values.reshape([-1]).equal(&tch::Tensor::from_slice(&[0i64, 1, 2])));
    /// assert_eq!(d.enumerate_support(true)?.size(), vec![3, 2]);
    /// // Scoring every value at once, one row per value.
    /// assert_eq!(d.log_prob(&values)?.size(), vec![3, 2]);
    /// # Ok::<(), DistError>(())
    /// ```
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        Ok(enumerate_range(self.num_categories(), &self.batch_shape, expand, (Kind::Int64, self.probs.device())))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        Ok(Rc::new(self.expanded(batch_shape)?))
    }
}
