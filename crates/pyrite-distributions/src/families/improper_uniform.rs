//! The improper flat density on a support (NumPyro's `ImproperUniform`): what Stan gives a
//! parameter declared with bounds and no sampling statement (`real<lower=0> sigma;`, `vector[K]
//! beta;`). Its log-density is zero wherever the value lies in the support, minus infinity
//! elsewhere; it has no draws, only points spread over the support for initial values.

use std::rc::Rc;

use tch::{Device, Kind, Tensor};

use super::common::where_or_neg_inf;
use crate::constraints::Constraint;
use crate::distribution::*;
use crate::error::Result;
use crate::transforms::biject_to;

/// A flat (improper) density on `support`, of the given batch and event shapes.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// use tch::{Kind, Tensor};
///
/// let flat = ImproperUniform::new(Constraint::Positive, &[3], &[])?;
/// let lp = flat.log_prob(&Tensor::from_slice(&[0.5f64, 2.0, 7.0]))?;
/// assert_eq!(Vec::<f64>::try_from(lp).unwrap(), vec![0.0, 0.0, 0.0]);
/// // Outside the support: minus infinity (with validation on, an error naming the support).
/// let outside = without_validation(|| flat.log_prob(&Tensor::from_slice(&[0.5f64, -1.0, 7.0])))?;
/// assert_eq!(Vec::<f64>::try_from(outside).unwrap(), vec![0.0, f64::NEG_INFINITY, 0.0]);
/// // Points for initial values lie in the support.
/// assert!(flat.sample(&[4])?.gt(0.0).all().int64_value(&[]) == 1);
/// # Ok::<(), pyrite_distributions::DistError>(())
/// ```
#[derive(Debug)]
pub struct ImproperUniform {
    support: Constraint,
    batch_shape: Vec<i64>,
    event_shape: Vec<i64>,
    options: (Kind, Device),
}

impl ImproperUniform {
    /// A flat density on `support` with float64 values on the CPU (see
    /// [`with_options`](Self::with_options)).
    pub fn new(support: Constraint, batch_shape: &[i64], event_shape: &[i64]) -> Result<Self> {
        biject_to(&support)?;
        Ok(ImproperUniform { support, batch_shape: batch_shape.to_vec(), event_shape: event_shape.to_vec(), options: (Kind::Double, Device::Cpu) })
    }

    /// The same density with values of another dtype or device.
    pub fn with_options(mut self, kind: Kind, device: Device) -> Self {
        self.options = (kind, device);
        self
    }
}

impl Distribution for ImproperUniform {
    family_common!("ImproperUniform");
    fn event_shape(&self) -> &[i64] {
        &self.event_shape
    }
    fn support(&self) -> Constraint {
        self.support.clone()
    }
    fn options(&self) -> (Kind, Device) {
        self.options
    }
    /// Not draws (there is no distribution to draw from): points spread over the support, the
    /// image of Uniform(-2, 2) in the unconstrained space, as NumPyro's initial values.
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        check_sample_shape(self.name(), sample_shape)?;
        let transform = biject_to(&self.support)?;
        let shape = transform.inverse_shape(&self.shape(sample_shape));
        Ok(transform.forward(&(Tensor::rand(shape.as_slice(), self.options) * 4.0 - 2.0)))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        validate_value(self, value)?;
        let inside = self.support.check(value);
        Ok(where_or_neg_inf(&inside, &inside.zeros_like().to_kind(value.kind())))
    }
    fn expand(&self, batch_shape: &[i64]) -> Result<DistRef> {
        check_expand("ImproperUniform", &self.batch_shape, batch_shape)?;
        Ok(Rc::new(ImproperUniform {
            support: self.support.clone(),
            batch_shape: batch_shape.to_vec(),
            event_shape: self.event_shape.clone(),
            options: self.options,
        }))
    }
}
