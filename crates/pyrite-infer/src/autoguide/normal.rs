//! `AutoNormal`: a mean-field Normal guide in the unconstrained space.

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use tch::Tensor;

use super::init::InitStrategy;
use super::prototype::{subsample_param, within_plates, Prototype};
use super::{normal_quantile, sample_guide};
use crate::svi::Guide;

/// Pyro's `AutoNormal`: for each latent site a Normal with its own `loc` and `scale` params
/// (scale initialised to `init_scale`, 0.1 by default) in the unconstrained space, pushed
/// through `biject_to(support)`. Params are named `AutoNormal.locs.{site}` and
/// `AutoNormal.scales.{site}`. Subsampled plates subsample the params too.
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
    pub fn new<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A) -> Result<Self> {
        Self::with_init(model, args, InitStrategy::Feasible, 0.1)
    }

    /// Builds the guide with a given init strategy and initial scale.
    pub fn with_init<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, init: InitStrategy, init_scale: f64) -> Result<Self> {
        let proto = Prototype::discover(&|| model(args).map(|_| ()), &init)?;
        let loc_names = proto.sites.iter().map(|s| format!("AutoNormal.locs.{}", s.name)).collect();
        let scale_names = proto.sites.iter().map(|s| format!("AutoNormal.scales.{}", s.name)).collect();
        let init_locs = proto.sites.iter().map(|s| tch::no_grad(|| s.transform.inverse(&s.init)).detach()).collect();
        Ok(AutoNormal { proto, init_scale, loc_names, scale_names, init_locs })
    }

    /// The latent sites the guide covers.
    pub fn prototype(&self) -> &Prototype {
        &self.proto
    }

    fn loc_scale(&self, i: usize) -> Result<(Tensor, Tensor)> {
        let loc = param(&self.loc_names[i], &self.init_locs[i], Constraint::Real)?;
        let scale = param(&self.scale_names[i], pyrite_core::message::lazy({
            let (s, init) = (self.init_locs[i].size(), self.init_scale);
            let opts = (self.init_locs[i].kind(), self.init_locs[i].device());
            move || Tensor::full(s.as_slice(), init, opts)
        }), Constraint::Positive)?;
        Ok((loc, scale))
    }

    /// Runs the guide: samples every latent site.
    pub fn sample_sites(&self) -> Result<()> {
        let built = self.proto.build_plates()?;
        for (i, site) in self.proto.sites.iter().enumerate() {
            let (loc, scale) = self.loc_scale(i)?;
            let ued = site.unconstrained_event_dim;
            let loc = subsample_param(&loc, site, &built, ued, &self.proto.plates);
            let scale = subsample_param(&scale, site, &built, ued, &self.proto.plates);
            let base = Normal::new(loc, scale)?.to_event(ued)?;
            // Real-valued sites need no transform (and no Jacobian term).
            let dist: DistRef = if matches!(site.support.base(), Constraint::Real) {
                std::rc::Rc::new(base)
            } else {
                std::rc::Rc::new(TransformedDistribution::new(base, vec![site.transform.clone()])?)
            };
            let _ = within_plates(&built, &site.plates, &mut || sample(&site.name, &dist))?;
        }
        Ok(())
    }

    /// The posterior median of each site (the transformed `loc`).
    pub fn median(&self) -> Result<IndexMap<String, Tensor>> {
        self.quantile(0.5)
    }

    /// `q`-quantiles of each site's marginal (exact for univariate supports).
    pub fn quantile(&self, q: f64) -> Result<IndexMap<String, Tensor>> {
        let z = normal_quantile(q);
        let mut out = IndexMap::new();
        tch::no_grad(|| -> Result<()> {
            for (i, site) in self.proto.sites.iter().enumerate() {
                let (loc, scale) = self.loc_scale(i)?;
                out.insert(site.name.clone(), site.transform.forward(&(loc + scale * z)).detach());
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Quantiles for several levels: level → site → tensor.
    pub fn quantiles(&self, qs: &[f64]) -> Result<Vec<IndexMap<String, Tensor>>> {
        qs.iter().map(|&q| self.quantile(q)).collect()
    }

    /// `n` joint posterior samples of every latent site, drawn at once.
    pub fn sample_posterior(&self, n: i64) -> Result<IndexMap<String, Tensor>> {
        sample_guide(n, self.proto.max_plate_nesting, &|| self.sample_sites(), &self.proto.sites)
    }
}

impl<A: ?Sized> Guide<A> for AutoNormal {
    fn call(&self, _args: &A) -> Result<()> {
        self.sample_sites()
    }
}
