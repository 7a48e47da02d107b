//! `AutoDelta`: a point-mass (MAP) guide.

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use tch::Tensor;

use super::init::InitStrategy;
use super::prototype::{subsample_param, within_plates, Prototype};
use crate::svi::Guide;

/// Pyro's `AutoDelta`: each latent site is a `Delta` at a param `AutoDelta.{site}` kept in the
/// site's support; fitting it with an ELBO gives the MAP estimate.
pub struct AutoDelta {
    proto: Prototype,
    names: Vec<String>,
}

impl AutoDelta {
    /// Builds the guide with `init_to_median` (Pyro's default).
    pub fn new<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A) -> Result<Self> {
        Self::with_init(model, args, InitStrategy::Median)
    }
    /// Builds the guide with the given init strategy.
    pub fn with_init<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, init: InitStrategy) -> Result<Self> {
        let proto = Prototype::discover(&|| model(args).map(|_| ()), &init)?;
        let names = proto.sites.iter().map(|s| format!("AutoDelta.{}", s.name)).collect();
        Ok(AutoDelta { proto, names })
    }
    /// The latent sites the guide covers.
    pub fn prototype(&self) -> &Prototype {
        &self.proto
    }
    /// Runs the guide.
    pub fn sample_sites(&self) -> Result<()> {
        let built = self.proto.build_plates()?;
        for (i, site) in self.proto.sites.iter().enumerate() {
            let v = param(&self.names[i], &site.init, site.support.clone())?;
            let v = subsample_param(&v, site, &built, site.event_dim, &self.proto.plates);
            let dist: DistRef = std::rc::Rc::new(Delta::new(v, site.event_dim)?);
            let _ = within_plates(&built, &site.plates, &mut || sample(&site.name, &dist))?;
        }
        Ok(())
    }
    /// The point estimates (the MAP after fitting).
    pub fn median(&self) -> Result<IndexMap<String, Tensor>> {
        let mut out = IndexMap::new();
        for (i, site) in self.proto.sites.iter().enumerate() {
            out.insert(site.name.clone(), param(&self.names[i], &site.init, site.support.clone())?.detach());
        }
        Ok(out)
    }
}

impl<A: ?Sized> Guide<A> for AutoDelta {
    fn call(&self, _args: &A) -> Result<()> {
        self.sample_sites()
    }
}
