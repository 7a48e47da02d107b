//! Initialisation strategies for autoguides (`init_to_median`, `init_to_mean`, ...).

use pyrite_core::prelude::*;
use pyrite_distributions::{biject_to, Distribution};
use tch::{Kind, Tensor};

/// How an autoguide picks the initial value of each latent site (in the constrained space).
#[derive(Debug, Default)]
pub enum InitStrategy {
    /// The median of 15 prior samples (`init_to_median`); `Uniform(2)` for a distribution that
    /// cannot be sampled (as NumPyro's).
    #[default]
    Median,
    /// The prior mean, or the median where the mean is not finite (`init_to_mean`).
    Mean,
    /// The image of zero under `biject_to(support)` (`init_to_feasible`).
    Feasible,
    /// The image of `Uniform(-radius, radius)` unconstrained noise (`init_to_uniform`).
    Uniform(f64),
    /// A prior sample (`init_to_sample`).
    Sample,
    /// Given values by site name, `Uniform(2)` for the others (`init_to_value`).
    Value(SiteValues),
}

impl Clone for InitStrategy {
    fn clone(&self) -> Self {
        match self {
            InitStrategy::Median => InitStrategy::Median,
            InitStrategy::Mean => InitStrategy::Mean,
            InitStrategy::Feasible => InitStrategy::Feasible,
            InitStrategy::Uniform(r) => InitStrategy::Uniform(*r),
            InitStrategy::Sample => InitStrategy::Sample,
            InitStrategy::Value(v) => InitStrategy::Value(v.iter().map(|(k, t)| (k.clone(), t.shallow_clone())).collect()),
        }
    }
}

fn site_err(name: &str, e: pyrite_distributions::DistError) -> PyriteError {
    PyriteError::at_site(name, e)
}

impl InitStrategy {
    /// The initial value of a latent site with distribution `dist`.
    pub fn init_value(&self, name: &str, dist: &dyn Distribution) -> Result<Tensor> {
        let support = dist.support();
        let t = biject_to(&support).map_err(|e| site_err(name, e))?;
        let shape = dist.shape(&[]);
        let (kind, device) = dist.options();
        let unconstrained = |radius: f64| -> Tensor {
            let ushape = t.inverse_shape(&shape);
            let u = Tensor::rand(ushape.as_slice(), (kind, device)) * (2.0 * radius) - radius;
            t.forward(&u)
        };
        let v = tch::no_grad(|| -> Result<Tensor> {
            Ok(match self {
                InitStrategy::Sample => dist.sample(&[]).map_err(|e| site_err(name, e))?,
                InitStrategy::Median => match median(name, dist) {
                    Ok(m) => m,
                    Err(_) => unconstrained(2.0),
                },
                InitStrategy::Mean => match dist.mean() {
                    Ok(m) if bool::try_from(m.isfinite().all()).unwrap_or(false) && support.contains_all(&m) => m,
                    _ => median(name, dist)?,
                },
                InitStrategy::Feasible => {
                    let ushape = t.inverse_shape(&shape);
                    t.forward(&Tensor::zeros(ushape.as_slice(), (kind, device)))
                }
                InitStrategy::Uniform(r) => unconstrained(*r),
                InitStrategy::Value(values) => match values.get(name) {
                    // Cannot fail: `device` is the distribution's own device.
                    Some(v) => v.to_kind(kind).to_device(device),
                    None => unconstrained(2.0),
                },
            })
        })?;
        Ok(v.detach())
    }
}

fn median(name: &str, dist: &dyn Distribution) -> Result<Tensor> {
    let samples = dist.sample(&[15]).map_err(|e| site_err(name, e))?;
    if samples.kind() == Kind::Int64 || dist.support().is_discrete() {
        return Ok(samples.get(0));
    }
    let (m, _) = samples.median_dim(0, false);
    // The elementwise median of simplex or Cholesky samples leaves the support: use a sample.
    if dist.support().contains_all(&m) {
        Ok(m)
    } else {
        Ok(samples.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyrite_distributions::{Constraint, DistError, DistRef};

    /// A user's distribution on the positive reals with a density and no way to draw from it.
    #[derive(Debug)]
    struct DensityOnly;

    impl Distribution for DensityOnly {
        fn name(&self) -> &'static str {
            "DensityOnly"
        }
        fn batch_shape(&self) -> &[i64] {
            &[3]
        }
        fn support(&self) -> Constraint {
            Constraint::Positive
        }
        fn options(&self) -> (Kind, tch::Device) {
            (Kind::Double, tch::Device::Cpu)
        }
        fn log_prob(&self, value: &Tensor) -> std::result::Result<Tensor, DistError> {
            Ok(-value.shallow_clone())
        }
        fn expand(&self, _batch_shape: &[i64]) -> std::result::Result<DistRef, DistError> {
            Err(DistError::Unsupported { dist: "DensityOnly", op: "expand" })
        }
    }

    /// As NumPyro's `init_to_median`: a site whose distribution cannot be sampled starts at
    /// `init_to_uniform(2)`, inside its support, instead of failing.
    #[test]
    fn the_median_of_a_distribution_that_cannot_be_sampled_is_a_uniform_start() {
        let v = InitStrategy::Median.init_value("x", &DensityOnly).unwrap();
        assert_eq!(v.size(), [3]);
        let v = Vec::<f64>::try_from(v).unwrap();
        // exp of uniform(-2, 2): the positive reals' bijection
        assert!(v.iter().all(|x| *x > (-2.0f64).exp() && *x < 2.0f64.exp()), "{v:?}");
    }
}
