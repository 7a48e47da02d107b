//! `AutoNormal`: a mean-field Normal guide in the unconstrained space.

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use tch::Tensor;

use super::guide::{AutoGuide, GuidePosterior};
use super::init::InitStrategy;
use super::normal_quantile;
use super::prototype::{subsample_param, within_plates, Prototype};

/// Pyro's `AutoNormal`: for each latent site a Normal with its own `loc` and `scale` params
/// (scale initialised to `init_scale`, 0.1 by default) in the unconstrained space, pushed
/// through `biject_to(support)`. Params are named `AutoNormal.locs.{site}` and
/// `AutoNormal.scales.{site}`. Subsampled plates subsample the params too.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::Tensor;
/// let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
/// let model = |x: &Tensor| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
///     let sigma = sample("sigma", LogNormal::new(0.0, 1.0)?)?;
///     plate("data", 3, |_| observe("obs", Normal::new(&mu, &sigma)?, x))?;
///     Ok(())
/// };
/// let guide = AutoNormal::new(&model, &data)?;
/// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.05), TraceElbo::new());
/// for _ in 0..20 {
///     svi.step(&data)?;
/// }
/// // `init_to_feasible` started mu at 0; 20 steps moved it towards the data.
/// assert!(guide.median()?["mu"].double_value(&[]) > 0.5);
/// // Each site's posterior: a Normal for the real-valued mu, a transformed one for sigma.
/// let posterior = guide.get_posterior()?;
/// let mu = posterior.site("mu").unwrap().mean()?;
/// assert_eq!(mu.double_value(&[]), guide.median()?["mu"].double_value(&[]));
/// assert_eq!(posterior.site("sigma").unwrap().support(), Constraint::Positive);
/// # Ok::<(), PyriteError>(())
/// ```
pub struct AutoNormal {
    proto: Prototype,
    init_scale: f64,
    loc_names: Vec<String>,
    scale_names: Vec<String>,
    init_locs: Vec<Tensor>,
}

impl AutoNormal {
    /// Builds the guide from one run of `model(args)`, initialising locs with `init_to_feasible`
    /// (Pyro's default for AutoNormal).
    ///
    /// # Errors
    ///
    /// The model's errors in the prototype run; [`PyriteError::Enumerate`] for a discrete latent
    /// site not marked for enumeration.
    pub fn new<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A) -> Result<Self> {
        Self::with_init(model, args, InitStrategy::Feasible, 0.1)
    }

    /// Builds the guide with a given init strategy and initial scale.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_init<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, init: InitStrategy, init_scale: f64) -> Result<Self> {
        let proto = Prototype::discover(&|| model(args).map(|_| ()), &init)?;
        let loc_names = proto.sites.iter().map(|s| format!("AutoNormal.locs.{}", s.name)).collect();
        let scale_names = proto.sites.iter().map(|s| format!("AutoNormal.scales.{}", s.name)).collect();
        let init_locs = proto.sites.iter().map(|s| Ok(tch::no_grad(|| s.transform().map(|t| t.inverse(&s.init)))?.detach())).collect::<Result<_>>()?;
        Ok(AutoNormal { proto, init_scale, loc_names, scale_names, init_locs })
    }

    fn loc_scale(&self, i: usize) -> Result<(Tensor, Tensor)> {
        let loc = param(&self.loc_names[i], &self.init_locs[i], Constraint::Real)?;
        let scale = param(
            &self.scale_names[i],
            pyrite_core::message::lazy({
                let (s, init) = (self.init_locs[i].size(), self.init_scale);
                let opts = (self.init_locs[i].kind(), self.init_locs[i].device());
                move || Tensor::full(s.as_slice(), init, opts)
            }),
            Constraint::Positive,
        )?;
        Ok((loc, scale))
    }

    /// The distribution site `i` is drawn from: `Normal(loc, scale)` over the unconstrained
    /// value, pushed through `biject_to(support)` (real-valued sites need no transform, and no
    /// Jacobian term).
    fn site_dist(&self, i: usize, loc: Tensor, scale: Tensor) -> Result<DistRef> {
        let site = &self.proto.sites[i];
        let base = Normal::new(loc, scale)?.to_event(site.unconstrained_event_dim)?;
        Ok(if matches!(site.support.base(), Constraint::Real) {
            std::rc::Rc::new(base)
        } else {
            std::rc::Rc::new(TransformedDistribution::new(base, vec![site.transform()?])?)
        })
    }
}

impl AutoGuide for AutoNormal {
    fn prototype(&self) -> &Prototype {
        &self.proto
    }

    fn sample_sites_in(&self, plates: &[(String, BuiltPlate)]) -> Result<()> {
        for (i, site) in self.proto.sites.iter().enumerate() {
            let (loc, scale) = self.loc_scale(i)?;
            let ued = site.unconstrained_event_dim;
            let loc = subsample_param(&loc, site, plates, ued, &self.proto.plates);
            let scale = subsample_param(&scale, site, plates, ued, &self.proto.plates);
            let dist = self.site_dist(i, loc, scale)?;
            let _ = within_plates(plates, &site.plates, &mut || sample(&site.name, &dist))?;
        }
        Ok(())
    }

    /// The transformed `loc + scale * z_q` (exact for univariate supports).
    fn quantile(&self, q: f64) -> Result<IndexMap<String, Tensor>> {
        let z = normal_quantile(q);
        let mut out = IndexMap::new();
        tch::no_grad(|| -> Result<()> {
            for (i, site) in self.proto.sites.iter().enumerate() {
                let (loc, scale) = self.loc_scale(i)?;
                out.insert(site.name.clone(), site.transform()?.forward(&(loc + scale * z)).detach());
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Each site's distribution, over the whole of its plates.
    fn get_posterior(&self) -> Result<GuidePosterior> {
        let mut out = IndexMap::new();
        for (i, site) in self.proto.sites.iter().enumerate() {
            let (loc, scale) = self.loc_scale(i)?;
            out.insert(site.name.clone(), self.site_dist(i, loc, scale)?);
        }
        Ok(GuidePosterior::Sites(out))
    }
}
