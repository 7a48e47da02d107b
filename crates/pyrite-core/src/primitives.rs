//! The primitives a model or guide calls: `sample`, `observe`, `param`, `deterministic`,
//! `factor`, `module`.

use pyrite_distributions::{Constraint, Delta, DistError, DistRef, Distribution, DistributionExt, IntoDist, IntoSiteDist};
use tch::Tensor;

use crate::error::{PyriteError, Result};
use crate::message::{Enumerate, InferConfig, Message, ParamInit, SiteKind};
use crate::runtime::apply_stack;
use crate::unit::Unit;

/// A latent sample site: draws from `dist` unless a handler supplies the value.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let x = sample("x", Normal::new(0.0, 1.0)?)?;
/// assert_eq!(x.size(), Vec::<i64>::new());
/// # Ok::<(), PyriteError>(())
/// ```
pub fn sample(name: &str, dist: impl IntoSiteDist) -> Result<Tensor> {
    SampleSite::new(name, dist).run()
}

/// An observed sample site: `obs` is data scored under `dist` (`pyro.sample(name, dist, obs=obs)`).
/// Returns the data.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let y = tch::Tensor::from_slice(&[0.5f32, -0.2]);
/// let tr = get_trace(|| plate("data", 2, |_| observe("y", Normal::new(0.0, 1.0)?, &y)))?;
/// let site = tr.site("y").unwrap();
/// assert!(site.is_observed);
/// assert!(site.value.equal(&y));
/// # Ok::<(), PyriteError>(())
/// ```
///
/// # Errors
///
/// [`PyriteError::Shape`] if `obs` does not fit the distribution's shape (with its plates);
/// [`PyriteError::NonFinite`] if it holds NaN or infinity (while validation is on).
pub fn observe(name: &str, dist: impl IntoSiteDist, obs: &Tensor) -> Result<Tensor> {
    SampleSite::new(name, dist).obs(Some(obs)).run()
}

/// `pyro.sample(name, dist, obs=obs)` with an optional observation: `None` makes the site latent,
/// as the rugged tutorial's `obs=log_gdp` does when the model is used for prediction.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use tch::Tensor;
/// let model = |y: Option<&Tensor>| -> Result<Tensor> { sample_obs("y", Normal::new(0.0, 1.0)?, y) };
/// let y = Tensor::from(0.5f32);
/// assert!(get_trace(|| model(Some(&y)))?.site("y").unwrap().is_observed);
/// assert!(get_trace(|| model(None))?.site("y").unwrap().is_latent());
/// # Ok::<(), PyriteError>(())
/// ```
pub fn sample_obs(name: &str, dist: impl IntoSiteDist, obs: Option<&Tensor>) -> Result<Tensor> {
    SampleSite::new(name, dist).obs(obs).run()
}

/// A sample statement with options: observation, `infer` settings.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let probs = tch::Tensor::from_slice(&[0.3f32, 0.7]);
/// let z = SampleSite::new("z", Categorical::new(&probs)?).enumerate().run()?;
/// assert_eq!(z.kind(), tch::Kind::Int64);
/// # Ok::<(), PyriteError>(())
/// ```
pub struct SampleSite {
    name: String,
    dist: std::result::Result<DistRef, DistError>,
    obs: Option<Tensor>,
    infer: InferConfig,
}

impl SampleSite {
    /// A latent site named `name` with distribution `dist` (or the `Result` of a distribution's
    /// constructor: its error is reported by [`run`](Self::run) with the site's name).
    pub fn new(name: &str, dist: impl IntoSiteDist) -> Self {
        SampleSite { name: name.to_string(), dist: dist.into_site_dist(), obs: None, infer: InferConfig::default() }
    }
    /// Observes `obs` (or makes the site latent with `None`).
    pub fn obs(mut self, obs: Option<&Tensor>) -> Self {
        self.obs = obs.map(|t| t.shallow_clone());
        self
    }
    /// Marks the site for parallel enumeration (`infer={"enumerate": "parallel"}`).
    pub fn enumerate(mut self) -> Self {
        self.infer.enumerate = Some(Enumerate::Parallel);
        self
    }
    /// Sets the site's `infer` options.
    pub fn infer(mut self, infer: InferConfig) -> Self {
        self.infer = infer;
        self
    }
    /// Sends the statement through the handler stack and returns the site's value.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Distribution`] naming the site if the distribution's constructor failed;
    /// the handlers' and the distribution's errors otherwise.
    pub fn run(self) -> Result<Tensor> {
        let dist = self.dist.map_err(|e| PyriteError::at_site(&self.name, e))?;
        let mut msg = Message::new(&self.name, SiteKind::Sample);
        if let Some(o) = self.obs {
            msg.value = Some(o);
            msg.is_observed = true;
        }
        msg.dist = Some(dist);
        msg.infer = self.infer;
        apply_stack(&mut msg)?;
        msg.into_value()
    }
}

/// A learnable parameter: created from `init` (a constrained value, or `lazy(|| ...)`) the first
/// time, then read from the param store. Returns the constrained value, differentiable with
/// respect to the stored unconstrained tensor.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let store = new_param_store();
/// with_param_store(&store, || -> Result<()> {
///     let s = param("sigma", 2.0, Constraint::Positive)?;
///     assert!((s.double_value(&[]) - 2.0).abs() < 1e-6);
///     Ok(())
/// })?;
/// # Ok::<(), PyriteError>(())
/// ```
pub fn param(name: &str, init: impl Into<ParamInit>, constraint: Constraint) -> Result<Tensor> {
    let mut msg = Message::new(name, SiteKind::Param);
    msg.init = Some(init.into());
    msg.constraint = Some(constraint);
    apply_stack(&mut msg)?;
    msg.into_value()
}

/// Records a value computed from other sites, so traces and `Predictive` report it
/// (`pyro.deterministic`); it adds nothing to the log-density. `event_dim` is the number of
/// rightmost dimensions of `value` that form one event.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let tr = get_trace(|| -> Result<()> {
///     let x = sample("x", Normal::new(0.0, 1.0)?)?;
///     deterministic("x2", &(&x * 2.0), 0)?;
///     Ok(())
/// })?;
/// let (x, x2) = (tr.site("x").unwrap(), tr.site("x2").unwrap());
/// assert!(x2.value.equal(&(&x.value * 2.0)));
/// // Recorded, but not scored.
/// assert!(!x2.is_scored());
/// assert!(tr.log_prob_sum()?.equal(&x.log_prob()?));
/// # Ok::<(), PyriteError>(())
/// ```
pub fn deterministic(name: &str, value: &Tensor, event_dim: usize) -> Result<Tensor> {
    let dist = Delta::new(value.detach(), event_dim).map_err(|e| PyriteError::at_site(name, e))?;
    let dist = dist.mask(&Tensor::from(false)).map_err(|e| PyriteError::at_site(name, e))?;
    let mut msg = Message::new(name, SiteKind::Sample);
    msg.value = Some(value.shallow_clone());
    msg.is_observed = true;
    msg.dist = Some(dist.into_dist());
    msg.infer.deterministic = true;
    apply_stack(&mut msg)?;
    msg.into_value()
}

/// Adds `log_factor` to the model's log-density (`pyro.factor`).
///
/// ```
/// use pyrite_core::prelude::*;
/// let tr = get_trace(|| factor("penalty", &tch::Tensor::from(-1.5f32)))?;
/// assert_eq!(tr.log_prob_sum()?.double_value(&[]), -1.5);
/// # Ok::<(), PyriteError>(())
/// ```
pub fn factor(name: &str, log_factor: &Tensor) -> Result<()> {
    let unit = Unit::new(log_factor);
    let mut msg = Message::new(name, SiteKind::Sample);
    msg.value = Some(Tensor::empty(unit.shape(&[]).as_slice(), (log_factor.kind(), log_factor.device())));
    msg.is_observed = true;
    msg.dist = Some(unit.into_dist());
    msg.infer.factor = true;
    apply_stack(&mut msg)?;
    Ok(())
}

/// Registers the variables of a tch `VarStore` (the parameters of an `nn` module) in the param
/// store as `"{name}$$${variable}"`, sharing their storage: optimizer updates change the module
/// (`pyro.module`). Each variable also passes through the handler stack as a param site.
///
/// ```
/// use pyrite_core::prelude::*;
/// use tch::nn;
/// let vs = nn::VarStore::new(tch::Device::Cpu);
/// let _fc = nn::linear(vs.root() / "fc", 3, 2, Default::default());
/// let store = new_param_store();
/// with_param_store(&store, || module("net", &vs))?;
/// assert_eq!(store.lock().unwrap().names(), vec!["net$$$fc.bias", "net$$$fc.weight"]);
/// # Ok::<(), PyriteError>(())
/// ```
///
/// # Errors
///
/// [`PyriteError::Param`] if the store already holds one of the names with another shape.
pub fn module(name: &str, vs: &tch::nn::VarStore) -> Result<()> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let store = crate::param_store::get_param_store();
    for (var, t) in vars {
        let full = format!("{name}$$${var}");
        {
            let mut s = crate::param_store::lock(&store);
            match s.entry(&full) {
                Some(e) if crate::host_reads::address(&e.unconstrained) == crate::host_reads::address(&t) => {}
                Some(_) => {
                    // The store holds saved values (after `load`): copy them into the module.
                    // Cannot fail: this arm matched `Some` for this name in this lock.
                    let stored = s.entry(&full).unwrap().unconstrained.shallow_clone();
                    if stored.size() != t.size() {
                        return Err(PyriteError::Param {
                            name: full,
                            problem: format!("stored shape {:?} differs from the module's {:?}", stored.size(), t.size()),
                        });
                    }
                    // Cannot fail: the target is the module variable's own device.
                    tch::no_grad(|| t.shallow_clone().copy_(&stored.to_kind(t.kind()).to_device(t.device())));
                    s.register_leaf(&full, &t);
                }
                None => s.register_leaf(&full, &t),
            }
        }
        let _ = param(&full, t.shallow_clone(), Constraint::Real)?;
    }
    Ok(())
}
