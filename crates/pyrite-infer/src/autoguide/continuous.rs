//! Autoguides over one flat vector of all latent sites (Pyro's `AutoContinuous`): the machinery
//! shared by the families of `family.rs`, written once and parameterised by the family.

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use pyrite_distributions::shape::broadcast_shapes;
use tch::{Kind, Tensor};

use super::family::{Diagonal, Family, FullRank, LowRank};
use super::guide::{AutoGuide, GuidePosterior};
use super::init::InitStrategy;
use super::normal_quantile;
use super::prototype::{within_plates, Prototype};

/// A guide that draws all latent sites' unconstrained values jointly from one posterior of the
/// family `F`, then splits, reshapes and transforms them, scoring each site with a `Delta` whose
/// log-density carries the Jacobian, exactly as Pyro's `AutoContinuous`. Use it through its
/// three families: [`AutoMultivariateNormal`], [`AutoDiagonalNormal`] and
/// [`AutoLowRankMultivariateNormal`], distinct types with their own constructors.
pub struct AutoContinuous<F: Family> {
    proto: Prototype,
    family: F,
    prefix: String,
    latent_name: String,
    init_loc: Tensor,
    init_scale: f64,
    /// `{prefix}.loc`, then `{prefix}.{name}` for the family's params.
    names: Vec<String>,
}

/// `AutoMultivariateNormal`: a full-rank Gaussian over all latents.
///
/// Each family is its own type: a diagonal guide is built with [`AutoDiagonalNormal::new`], and
/// there is no `AutoMultivariateNormal::diagonal_normal`:
///
/// ```compile_fail,E0599
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// let model = |_: &()| -> Result<()> { sample("mu", Normal::new(0.0, 1.0)?).map(drop) };
/// let guide = AutoMultivariateNormal::diagonal_normal(&model, &())?;
/// # Ok::<(), PyriteError>(())
/// ```
///
/// nor can one family stand for another:
///
/// ```compile_fail,E0308
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// let model = |_: &()| -> Result<()> { sample("mu", Normal::new(0.0, 1.0)?).map(drop) };
/// let guide: AutoMultivariateNormal = AutoDiagonalNormal::new(&model, &())?;
/// # Ok::<(), PyriteError>(())
/// ```
///
/// while the same code with the right type compiles:
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// let model = |_: &()| -> Result<()> { sample("mu", Normal::new(0.0, 1.0)?).map(drop) };
/// let guide: AutoDiagonalNormal = AutoDiagonalNormal::new(&model, &())?;
/// # Ok::<(), PyriteError>(())
/// ```
pub type AutoMultivariateNormal = AutoContinuous<FullRank>;
/// `AutoDiagonalNormal`: independent Gaussians over all latents, in one flat vector.
pub type AutoDiagonalNormal = AutoContinuous<Diagonal>;
/// `AutoLowRankMultivariateNormal`: a Gaussian with a low-rank-plus-diagonal covariance.
pub type AutoLowRankMultivariateNormal = AutoContinuous<LowRank>;

impl<F: Family> AutoContinuous<F> {
    /// Runs the model once and lays its latent sites out in one flat vector.
    pub(super) fn build<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, family: F, init: InitStrategy, init_scale: f64) -> Result<Self> {
        let proto = Prototype::discover(&|| model(args).map(|_| ()), &init)?;
        if let Some(p) = proto.plates.iter().find(|p| p.subsample_size != p.size) {
            return Err(PyriteError::Plate { plate: p.name.clone(), problem: "AutoContinuous guides do not support subsampling; use AutoNormal".into() });
        }
        // The flat vector keeps the model's floating dtype (f64 when any site is f64) and device.
        let kind = if proto.sites.iter().any(|s| s.init.kind() == Kind::Double) { Kind::Double } else { Kind::Float };
        let device = proto.sites.first().map(|s| s.init.device()).unwrap_or(tch::Device::Cpu);
        // Cannot fail: `device` is the first site's own device.
        let parts = proto
            .sites
            .iter()
            .map(|s| Ok(tch::no_grad(|| s.transform().map(|t| t.inverse(&s.init)))?.detach().flatten(0, -1).to_kind(kind).to_device(device)))
            .collect::<Result<Vec<Tensor>>>()?;
        let init_loc = if parts.is_empty() { Tensor::zeros([0], (kind, device)) } else { Tensor::cat(&parts, 0) };
        Ok(AutoContinuous { proto, family, prefix: String::new(), latent_name: String::new(), init_loc, init_scale, names: Vec::new() }.with_prefix(F::NAME))
    }

    /// Names the params `{prefix}.loc`, ... and the joint site `_{prefix}_latent` (the family's
    /// name by default): two guides of one family in one
    /// [`AutoGuideList`](super::AutoGuideList) need different prefixes.
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// use pyrite_distributions::prelude::*;
    /// use pyrite_infer::prelude::*;
    /// let model = |_: &()| -> Result<()> { sample("mu", Normal::new(0.0, 1.0)?).map(drop) };
    /// let guide = AutoDiagonalNormal::new(&model, &())?.with_prefix("globals");
    /// let tr = get_trace(|| guide.sample_sites())?;
    /// assert!(tr.site("_globals_latent").is_some() && tr.site("mu").is_some());
    /// assert!(get_param_store().lock().unwrap().get("globals.scale").is_ok());
    /// # Ok::<(), PyriteError>(())
    /// ```
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.names = std::iter::once("loc").chain(F::PARAMS.iter().copied()).map(|p| format!("{prefix}.{p}")).collect();
        self.latent_name = format!("_{prefix}_latent");
        self.prefix = prefix.to_string();
        self
    }

    /// The params' name prefix (`AutoMultivariateNormal`, ... unless set by
    /// [`with_prefix`](Self::with_prefix)).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The posterior's family (the rank, for the low-rank family).
    pub fn family(&self) -> &F {
        &self.family
    }

    /// The joint posterior over the flat unconstrained vector, of the family's own type
    /// (`MultivariateNormal`, `Independent` normals, `LowRankMultivariateNormal`).
    ///
    /// # Errors
    ///
    /// A param the store holds with another shape or constraint; the distribution refusing the
    /// params.
    pub fn posterior(&self) -> Result<F::Dist> {
        let loc = param(&self.names[0], &self.init_loc, Constraint::Real)?;
        self.family.posterior(loc, &self.names[1..], self.init_scale)
    }

    /// The covariance of the flat unconstrained posterior, with the site layout of
    /// [`prototype`](AutoGuide::prototype).
    ///
    /// # Errors
    ///
    /// As [`posterior`](Self::posterior).
    pub fn covariance(&self) -> Result<Tensor> {
        tch::no_grad(|| self.family.covariance(&self.posterior()?))
    }

    /// Splits a flat unconstrained vector into constrained site values.
    fn unpack(&self, flat: &Tensor) -> Result<IndexMap<String, Tensor>> {
        let mut out = IndexMap::new();
        let mut pos = 0;
        for site in &self.proto.sites {
            let n: i64 = site.unconstrained_shape.iter().product();
            let z = flat.narrow(-1, pos, n).reshape(site.unconstrained_shape.as_slice());
            pos += n;
            out.insert(site.name.clone(), site.transform()?.forward(&z).detach());
        }
        Ok(out)
    }
}

impl<F: Family> AutoGuide for AutoContinuous<F> {
    fn prototype(&self) -> &Prototype {
        &self.proto
    }

    /// One joint draw, then a `Delta` per site.
    fn sample_sites_in(&self, plates: &[(String, BuiltPlate)]) -> Result<()> {
        let posterior: DistRef = std::rc::Rc::new(self.posterior()?);
        let latent = SampleSite::new(&self.latent_name, posterior).run()?;
        let lsize = latent.size();
        // Batch dims of the joint draw come from plates outside the guide (vectorised particles,
        // `Predictive`, `sample_posterior`): `[.., 1, ..]` with a 1 for each of the model's plate
        // dims. As Pyro's `_unpack_latent`, each site's unconstrained shape is broadcast against
        // `batch ++ [1; event dims]`, so that a site inside a model plate keeps that plate's size
        // at the plate's dim (prepending the batch would put it one dim too far left).
        let prefix = &lsize[..lsize.len() - 1];
        let mut pos = 0;
        for site in &self.proto.sites {
            let n: i64 = site.unconstrained_shape.iter().product();
            let mut batch = prefix.to_vec();
            batch.extend(std::iter::repeat_n(1, site.unconstrained_event_dim));
            let shape = broadcast_shapes(&[&site.unconstrained_shape, &batch]).ok_or_else(|| PyriteError::Shape {
                site: site.name.clone(),
                detail: format!("the guide's batch shape {prefix:?} does not broadcast with the site's shape {:?}", site.unconstrained_shape),
            })?;
            let z = latent.narrow(-1, pos, n).reshape(shape.as_slice());
            pos += n;
            let transform = site.transform()?;
            let x = transform.forward(&z);
            let ld = transform.log_abs_det_jacobian(&z, &x);
            let extra = site.unconstrained_event_dim.saturating_sub(transform.domain_event_dim());
            let ld = if extra > 0 { ld.sum_dim_intlist((1..=extra as i64).map(|i| -i).collect::<Vec<_>>().as_slice(), false, ld.kind()) } else { ld };
            let dist: DistRef = std::rc::Rc::new(Delta::with_log_density(x, -ld, site.event_dim)?);
            let _ = within_plates(plates, &site.plates, &mut || sample(&site.name, &dist))?;
        }
        Ok(())
    }

    /// `q`-quantiles of each unconstrained coordinate's marginal, transformed.
    fn quantile(&self, q: f64) -> Result<IndexMap<String, Tensor>> {
        tch::no_grad(|| {
            let post = self.posterior()?;
            let loc = post.mean().map_err(|e| PyriteError::at_site(&self.latent_name, e))?;
            let sd = post.stddev().map_err(|e| PyriteError::at_site(&self.latent_name, e))?;
            self.unpack(&(loc + sd * normal_quantile(q)))
        })
    }

    fn get_posterior(&self) -> Result<GuidePosterior> {
        Ok(GuidePosterior::Joint(std::rc::Rc::new(self.posterior()?)))
    }
}
