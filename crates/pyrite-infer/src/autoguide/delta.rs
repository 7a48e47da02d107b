//! `AutoDelta`: a point-mass (MAP) guide.

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use tch::Tensor;

use super::guide::{AutoGuide, GuidePosterior};
use super::init::InitStrategy;
use super::prototype::{subsample_param, within_plates, Prototype};

/// Pyro's `AutoDelta`: each latent site is a `Delta` at a param `AutoDelta.{site}` kept in the
/// site's support; fitting it with an ELBO gives the MAP estimate.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::Tensor;
/// let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
/// let model = |x: &Tensor| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
///     plate("data", 3, |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
///     Ok(())
/// };
/// set_rng_seed(0); // the initial value is the median of a few prior draws
/// let guide = AutoDelta::new(&model, &data)?;
/// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.1), TraceElbo::new());
/// for _ in 0..300 {
///     svi.step(&data)?;
/// }
/// // The MAP of `mu`: sum(x) / (3 + 1/100), next to the data mean.
/// let map = guide.median()?;
/// assert!((map["mu"].double_value(&[]) - 6.0 / 3.01).abs() < 0.02);
/// # Ok::<(), PyriteError>(())
/// ```
pub struct AutoDelta {
    proto: Prototype,
    names: Vec<String>,
}

impl AutoDelta {
    /// Builds the guide with `init_to_median` (Pyro's default).
    ///
    /// # Errors
    ///
    /// The model's errors in the prototype run; [`PyriteError::Enumerate`] for a discrete latent
    /// site not marked for enumeration.
    pub fn new<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A) -> Result<Self> {
        Self::with_init(model, args, InitStrategy::Median)
    }

    /// Builds the guide with the given init strategy.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_init<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, init: InitStrategy) -> Result<Self> {
        let proto = Prototype::discover(&|| model(args).map(|_| ()), &init)?;
        let names = proto.sites.iter().map(|s| format!("AutoDelta.{}", s.name)).collect();
        Ok(AutoDelta { proto, names })
    }

    /// The point estimate of site `i`, in its support.
    fn point(&self, i: usize) -> Result<Tensor> {
        let site = &self.proto.sites[i];
        param(&self.names[i], &site.init, site.support.clone())
    }
}

impl AutoGuide for AutoDelta {
    fn prototype(&self) -> &Prototype {
        &self.proto
    }

    fn sample_sites_in(&self, plates: &[(String, BuiltPlate)]) -> Result<()> {
        for (i, site) in self.proto.sites.iter().enumerate() {
            let v = subsample_param(&self.point(i)?, site, plates, site.event_dim, &self.proto.plates);
            let dist: DistRef = std::rc::Rc::new(Delta::new(v, site.event_dim)?);
            let _ = within_plates(plates, &site.plates, &mut || sample(&site.name, &dist))?;
        }
        Ok(())
    }

    /// The point estimates (the MAP after fitting), whatever `q`: a point mass's quantiles.
    fn quantile(&self, _q: f64) -> Result<IndexMap<String, Tensor>> {
        let mut out = IndexMap::new();
        for (i, site) in self.proto.sites.iter().enumerate() {
            out.insert(site.name.clone(), self.point(i)?.detach());
        }
        Ok(out)
    }

    /// A `Delta` at each site's point estimate.
    fn get_posterior(&self) -> Result<GuidePosterior> {
        let mut out = IndexMap::new();
        for (i, site) in self.proto.sites.iter().enumerate() {
            let dist: DistRef = std::rc::Rc::new(Delta::new(self.point(i)?, site.event_dim)?);
            out.insert(site.name.clone(), dist);
        }
        Ok(GuidePosterior::Sites(out))
    }
}
