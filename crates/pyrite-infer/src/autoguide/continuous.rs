//! Autoguides over one flat vector of all latent sites: full-rank, diagonal and low-rank
//! multivariate normals (Pyro's `AutoContinuous` family).

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use pyrite_distributions::shape::broadcast_shapes;
use tch::{Kind, Tensor};

use super::init::InitStrategy;
use super::prototype::{within_plates, Prototype};
use super::{normal_quantile, sample_guide};
use crate::svi::Guide;

/// The family of the joint posterior over the flattened unconstrained latents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Posterior {
    /// `MultivariateNormal(loc, scale_tril)`, full rank.
    MultivariateNormal,
    /// `Normal(loc, scale).to_event(1)`.
    DiagonalNormal,
    /// `LowRankMultivariateNormal(loc, cov_factor, cov_diag)` of the given rank.
    LowRank(i64),
}

/// A guide that draws all latent sites' unconstrained values jointly from one `Posterior`, then
/// splits, reshapes and transforms them, scoring each site with a `Delta` whose log-density
/// carries the Jacobian, exactly as Pyro's `AutoContinuous`.
pub struct AutoContinuous {
    proto: Prototype,
    posterior: Posterior,
    prefix: &'static str,
    latent_name: String,
    init_loc: Tensor,
    init_scale: f64,
    names: [String; 3],
    dim: i64,
}

/// `AutoMultivariateNormal`: a full-rank Gaussian over all latents.
pub type AutoMultivariateNormal = AutoContinuous;
/// `AutoDiagonalNormal`.
pub type AutoDiagonalNormal = AutoContinuous;
/// `AutoLowRankMultivariateNormal`.
pub type AutoLowRankMultivariateNormal = AutoContinuous;

impl AutoContinuous {
    /// A full-rank multivariate normal guide (`AutoMultivariateNormal`), `init_to_median`.
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
    /// let guide = AutoMultivariateNormal::multivariate_normal(&model, &data)?;
    /// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.05), TraceElbo::new());
    /// for _ in 0..20 {
    ///     svi.step(&data)?;
    /// }
    /// // One Gaussian over the unconstrained (mu, log sigma), with a full covariance.
    /// assert_eq!(guide.covariance()?.size(), vec![2, 2]);
    /// let draws = guide.sample_posterior(100)?;
    /// assert_eq!(draws["sigma"].size(), vec![100]);
    /// assert!(draws["sigma"].min().double_value(&[]) > 0.0);
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The model's errors in the prototype run; [`PyriteError::Enumerate`] for a discrete latent
    /// site not marked for enumeration; [`PyriteError::Plate`] for a subsampled plate.
    pub fn multivariate_normal<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A) -> Result<Self> {
        Self::build(model, args, Posterior::MultivariateNormal, InitStrategy::Median, 0.1)
    }
    /// A diagonal normal guide (`AutoDiagonalNormal`), `init_to_median`.
    pub fn diagonal_normal<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A) -> Result<Self> {
        Self::build(model, args, Posterior::DiagonalNormal, InitStrategy::Median, 0.1)
    }
    /// A low-rank-plus-diagonal guide (`AutoLowRankMultivariateNormal`), `init_to_median`.
    pub fn low_rank<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, rank: i64) -> Result<Self> {
        Self::build(model, args, Posterior::LowRank(rank), InitStrategy::Median, 0.1)
    }

    /// Any family, init strategy and initial scale.
    ///
    /// # Errors
    ///
    /// [`PyriteError::InvalidInput`] for a low rank that is not positive;
    /// [`PyriteError::Plate`] for a model that subsamples; the model's errors.
    pub fn build<A: ?Sized, R>(model: &impl Fn(&A) -> Result<R>, args: &A, posterior: Posterior, init: InitStrategy, init_scale: f64) -> Result<Self> {
        if let Posterior::LowRank(rank @ ..=0) = posterior {
            return Err(PyriteError::InvalidInput { what: "rank".into(), problem: format!("must be positive, got {rank}") });
        }
        let proto = Prototype::discover(&|| model(args).map(|_| ()), &init)?;
        if let Some(p) = proto.plates.iter().find(|p| p.subsample_size != p.size) {
            return Err(PyriteError::Plate { plate: p.name.clone(), problem: "AutoContinuous guides do not support subsampling; use AutoNormal".into() });
        }
        let prefix = match posterior {
            Posterior::MultivariateNormal => "AutoMultivariateNormal",
            Posterior::DiagonalNormal => "AutoDiagonalNormal",
            Posterior::LowRank(_) => "AutoLowRankMultivariateNormal",
        };
        // The flat vector keeps the model's floating dtype (f64 when any site is f64) and device.
        let kind = if proto.sites.iter().any(|s| s.init.kind() == Kind::Double) { Kind::Double } else { Kind::Float };
        let device = proto.sites.first().map(|s| s.init.device()).unwrap_or(tch::Device::Cpu);
        // Cannot fail: `device` is the first site's own device.
        let parts: Vec<Tensor> =
            proto.sites.iter().map(|s| tch::no_grad(|| s.transform.inverse(&s.init)).detach().flatten(0, -1).to_kind(kind).to_device(device)).collect();
        let init_loc = if parts.is_empty() { Tensor::zeros([0], (kind, device)) } else { Tensor::cat(&parts, 0) };
        let dim = init_loc.size()[0];
        let second = match posterior {
            Posterior::MultivariateNormal => "scale_tril",
            Posterior::DiagonalNormal => "scale",
            Posterior::LowRank(_) => "cov_factor",
        };
        let third = if posterior == Posterior::MultivariateNormal { "scale" } else { "cov_diag" };
        let names = [format!("{prefix}.loc"), format!("{prefix}.{second}"), format!("{prefix}.{third}")];
        Ok(AutoContinuous { proto, posterior, prefix, latent_name: format!("_{prefix}_latent"), init_loc, init_scale, names, dim })
    }

    /// The latent sites the guide covers.
    pub fn prototype(&self) -> &Prototype {
        &self.proto
    }

    /// The joint posterior over the flat unconstrained vector.
    pub fn posterior(&self) -> Result<DistRef> {
        let d = self.dim;
        let opts = (self.init_loc.kind(), self.init_loc.device());
        let loc = param(&self.names[0], &self.init_loc, Constraint::Real)?;
        let s = self.init_scale;
        Ok(match self.posterior {
            Posterior::MultivariateNormal => {
                // Pyro's parameterisation: per-coordinate scales times a unit lower-triangular
                // factor, which optimises far better than a raw Cholesky factor.
                let scale = param(&self.names[2], lazy(move || Tensor::full([d], s, opts)), Constraint::Positive)?;
                let strict = param(&self.names[1], lazy(move || Tensor::zeros([d, d], opts)), Constraint::Real)?;
                let unit = strict.tril(-1) + Tensor::eye(d, opts);
                std::rc::Rc::new(MultivariateNormal::from_scale_tril(loc, scale.unsqueeze(-1) * unit)?)
            }
            Posterior::DiagonalNormal => {
                let scale = param(&self.names[1], lazy(move || Tensor::full([d], s, opts)), Constraint::Positive)?;
                std::rc::Rc::new(Normal::new(loc, scale)?.to_event(1)?)
            }
            Posterior::LowRank(rank) => {
                let w = param(&self.names[1], lazy(move || Tensor::zeros([d, rank], opts)), Constraint::Real)?;
                let diag = param(&self.names[2], lazy(move || Tensor::full([d], s * s, opts)), Constraint::Positive)?;
                std::rc::Rc::new(LowRankMultivariateNormal::new(loc, w, diag)?)
            }
        })
    }

    /// Runs the guide: one joint draw, then a `Delta` per site.
    pub fn sample_sites(&self) -> Result<()> {
        let latent = SampleSite::new(&self.latent_name, self.posterior()?).run()?;
        let built = self.proto.build_plates()?;
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
            let x = site.transform.forward(&z);
            let ld = site.transform.log_abs_det_jacobian(&z, &x);
            let extra = site.unconstrained_event_dim.saturating_sub(site.transform.domain_event_dim());
            let ld = if extra > 0 { ld.sum_dim_intlist((1..=extra as i64).map(|i| -i).collect::<Vec<_>>().as_slice(), false, ld.kind()) } else { ld };
            let dist: DistRef = std::rc::Rc::new(Delta::with_log_density(x, -ld, site.event_dim)?);
            let _ = within_plates(&built, &site.plates, &mut || sample(&site.name, &dist))?;
        }
        Ok(())
    }

    /// Splits a flat unconstrained vector into constrained site values.
    fn unpack(&self, flat: &Tensor) -> IndexMap<String, Tensor> {
        let mut out = IndexMap::new();
        let mut pos = 0;
        for site in &self.proto.sites {
            let n: i64 = site.unconstrained_shape.iter().product();
            let z = flat.narrow(-1, pos, n).reshape(site.unconstrained_shape.as_slice());
            pos += n;
            out.insert(site.name.clone(), site.transform.forward(&z).detach());
        }
        out
    }

    /// Posterior medians of the sites (the transformed `loc`).
    pub fn median(&self) -> Result<IndexMap<String, Tensor>> {
        self.quantile(0.5)
    }

    /// `q`-quantiles of each unconstrained coordinate's marginal, transformed.
    pub fn quantile(&self, q: f64) -> Result<IndexMap<String, Tensor>> {
        tch::no_grad(|| {
            let post = self.posterior()?;
            let loc = post.mean().map_err(|e| PyriteError::at_site(&self.latent_name, e))?;
            let sd = post.stddev().map_err(|e| PyriteError::at_site(&self.latent_name, e))?;
            Ok(self.unpack(&(loc + sd * normal_quantile(q))))
        })
    }

    /// Quantiles for several levels.
    pub fn quantiles(&self, qs: &[f64]) -> Result<Vec<IndexMap<String, Tensor>>> {
        qs.iter().map(|&q| self.quantile(q)).collect()
    }

    /// `n` joint posterior samples of every latent site, drawn at once.
    pub fn sample_posterior(&self, n: i64) -> Result<IndexMap<String, Tensor>> {
        sample_guide(n, self.proto.max_plate_nesting, &|| self.sample_sites(), &self.proto.sites)
    }

    /// The covariance of the flat unconstrained posterior, with the site layout.
    pub fn covariance(&self) -> Result<Tensor> {
        tch::no_grad(|| {
            let post = self.posterior()?;
            Ok(match post.as_any().downcast_ref::<MultivariateNormal>() {
                Some(mvn) => mvn.covariance(),
                None => post.variance().map_err(|e| PyriteError::at_site(&self.latent_name, e))?.diag_embed(0, -2, -1),
            })
        })
    }

    /// The params' name prefix (`AutoMultivariateNormal`, ...).
    pub fn prefix(&self) -> &str {
        self.prefix
    }
}

impl<A: ?Sized> Guide<A> for AutoContinuous {
    fn call(&self, _args: &A) -> Result<()> {
        self.sample_sites()
    }
}
