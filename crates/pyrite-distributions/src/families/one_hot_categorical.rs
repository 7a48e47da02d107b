//! The one-hot categorical distribution.

use std::rc::Rc;
use tch::{Device, Kind, Tensor};

use super::categorical::Categorical;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;

/// `OneHotCategorical(probs)`: a categorical whose values are one-hot vectors of length `K`.
#[derive(Debug)]
pub struct OneHotCategorical {
    categorical: Categorical,
    event_shape: Vec<i64>,
}

impl OneHotCategorical {
    /// From probabilities on the simplex.
    pub fn new(probs: impl IntoParam) -> Result<Self> {
        Ok(Self::wrap(Categorical::new(probs)?))
    }
    /// From unnormalised log-probabilities.
    pub fn from_logits(logits: impl IntoParam) -> Result<Self> {
        Ok(Self::wrap(Categorical::from_logits(logits)?))
    }
    fn wrap(categorical: Categorical) -> Self {
        let event_shape = vec![categorical.num_categories()];
        OneHotCategorical { categorical, event_shape }
    }
    /// The normalised probabilities.
    pub fn probs(&self) -> &Tensor {
        &self.categorical.probs
    }
    /// The categorical distribution of the index of the one.
    pub(crate) fn categorical(&self) -> &Categorical {
        &self.categorical
    }
}

impl Distribution for OneHotCategorical {
    fn name(&self) -> &'static str {
        "OneHotCategorical"
    }
    fn batch_shape(&self) -> &[i64] {
        self.categorical.batch_shape()
    }
    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }
    fn support(&self) -> Constraint {
        Constraint::OneHot
    }
    fn has_enumerate_support(&self) -> bool {
        true
    }
    fn options(&self) -> (Kind, Device) {
        (self.categorical.probs.kind(), self.categorical.probs.device())
    }
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let idx = self.categorical.sample(sample_shape)?;
        Ok(idx.one_hot(self.event_shape[0]).to_kind(self.options().0))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        self.categorical.log_prob_indices(&value.argmax(-1, false))
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(self.categorical.probs.shallow_clone())
    }
    fn variance(&self) -> Result<Tensor> {
        let p = &self.categorical.probs;
        Ok(p * (-p + 1.0))
    }
    fn entropy(&self) -> Result<Tensor> {
        self.categorical.entropy()
    }
    fn enumerate_support(&self, expand: bool) -> Result<Tensor> {
        let k = self.event_shape[0];
        let batch = self.batch_shape();
        let mut view = vec![k];
        view.extend(std::iter::repeat_n(1, batch.len()));
        view.push(k);
        let eye = Tensor::eye(k, self.options()).view(view.as_slice());
        if expand {
            let mut full = vec![k];
            full.extend_from_slice(batch);
            full.push(k);
            Ok(eye.expand(full.as_slice(), false))
        } else {
            Ok(eye)
        }
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        Ok(Rc::new(OneHotCategorical::wrap(self.categorical.expanded(batch_shape)?)))
    }
}
