//! The prototype run: what an autoguide learns about the model's latent sites.

use pyrite_core::prelude::*;
use pyrite_distributions::{biject_to, Constraint, TransformRef};
use tch::{Kind, Tensor};

use super::init::InitStrategy;
use pyrite_core::runtime::{with_handler, Messenger};

/// A latent site of the model, as found by the prototype run.
#[derive(Debug)]
pub struct LatentSite {
    /// The site's name.
    pub name: String,
    /// The support of the site's distribution.
    pub support: Constraint,
    /// Full (not subsampled) shape of the constrained value: batch ++ event.
    pub shape: Vec<i64>,
    /// Full shape of the unconstrained value.
    pub unconstrained_shape: Vec<i64>,
    /// Event dims of the constrained value.
    pub event_dim: usize,
    /// Event dims of the unconstrained value.
    pub unconstrained_event_dim: usize,
    /// Names of the plates the site lies in, outermost first.
    pub plates: Vec<String>,
    /// Initial value (constrained, full shape).
    pub init: Tensor,
}

impl Clone for LatentSite {
    /// A copy sharing the initial value's storage (tensors are not `Clone`).
    fn clone(&self) -> Self {
        LatentSite {
            name: self.name.clone(),
            support: self.support.clone(),
            shape: self.shape.clone(),
            unconstrained_shape: self.unconstrained_shape.clone(),
            event_dim: self.event_dim,
            unconstrained_event_dim: self.unconstrained_event_dim,
            plates: self.plates.clone(),
            init: self.init.shallow_clone(),
        }
    }
}

impl LatentSite {
    /// `biject_to(support)`: maps the guide's unconstrained value onto the support. Made anew on
    /// each call, so that a site (and the autoguides holding it) can move to another thread.
    ///
    /// # Errors
    ///
    /// None for a site found by [`Prototype::discover`], which checked the support has one.
    pub fn transform(&self) -> Result<TransformRef> {
        biject_to(&self.support).map_err(|e| PyriteError::at_site(&self.name, e))
    }
}

/// A plate of the model: name, size, subsample size, dim.
#[derive(Debug, Clone)]
pub struct PlateInfo {
    /// The plate's name.
    pub name: String,
    /// Full size.
    pub size: i64,
    /// Subsample size in the prototype run.
    pub subsample_size: i64,
    /// The batch dimension it owns (negative, counted from the right).
    pub dim: i64,
}

/// The latent sites and plates of a model.
#[derive(Debug)]
pub struct Prototype {
    /// The continuous latent sites, in execution order (enumerated sites are left out).
    pub sites: Vec<LatentSite>,
    /// The plates that hold latent sites, in order of first appearance.
    pub plates: Vec<PlateInfo>,
    /// The deepest plate nesting: the number of batch dims plates use (`-min(dim)`).
    pub max_plate_nesting: usize,
}

/// Sets latent sites to their initial values while the model runs, so that downstream sites are
/// built from upstream initial values (Pyro's `InitMessenger`).
struct InitMessenger {
    strategy: InitStrategy,
}

impl Messenger for InitMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind != SiteKind::Sample || msg.is_observed || msg.value.is_some() || msg.infer.enumerate.is_some() {
            return Ok(());
        }
        let dist = msg.require_dist()?;
        if dist.support().is_discrete() {
            return Ok(());
        }
        msg.value = Some(self.strategy.init_value(&msg.name, dist.as_ref())?);
        Ok(())
    }
}

/// Repeats `t` periodically along `dim` up to `size` (subsample-sized init to full size).
fn periodic_repeat(t: &Tensor, size: i64, dim: i64) -> Tensor {
    let n = t.size()[dim as usize];
    if n == size {
        return t.shallow_clone();
    }
    let idx = Tensor::arange(size, (Kind::Int64, t.device())).remainder(n);
    t.index_select(dim, &idx)
}

impl Prototype {
    /// Runs `model` once (hidden from outer handlers) and records its continuous latent sites.
    /// Discrete latent sites must be enumerated by the model (they are left to the ELBO).
    pub fn discover(model: &dyn Fn() -> Result<()>, init: &InitStrategy) -> Result<Prototype> {
        let tr = block(BlockSpec::All, || {
            let (out, tr) = trace(|| with_handler(InitMessenger { strategy: init.clone() }, model).0);
            out.map(|_| tr)
        })?;
        let mut plates: Vec<PlateInfo> = Vec::new();
        let mut sites = Vec::new();
        let mut nesting = 0usize;
        for s in tr.nodes.values() {
            for f in &s.plates {
                nesting = nesting.max((-f.dim) as usize);
            }
            if !s.is_latent() || s.infer.enumerate.is_some() {
                continue;
            }
            // Only plates holding latent sites belong to the guide: a plate of observations
            // alone keeps the subsample the model chooses.
            for f in s.plates.iter().rev() {
                if !plates.iter().any(|p| p.name.as_str() == &*f.name) {
                    plates.push(PlateInfo { name: f.name.to_string(), size: f.size, subsample_size: f.subsample_size, dim: f.dim });
                }
            }
            let dist = s.dist.as_ref().ok_or_else(|| PyriteError::Model(format!("site `{}`: a handler removed the sample site's distribution", s.name)))?;
            let support = dist.support();
            if support.is_discrete() {
                return Err(PyriteError::Enumerate {
                    site: s.name.clone(),
                    problem: "an autoguide cannot fit a discrete latent site; mark it for enumeration (config_enumerate) and use TraceEnumElbo".into(),
                });
            }
            let transform = biject_to(&support).map_err(|e| PyriteError::at_site(&s.name, e))?;
            let event_dim = dist.event_shape().len();
            let mut value = s.value.detach();
            let mut shape = value.size();
            // Undo subsampling: full sizes along subsampled plate dims.
            for f in &s.plates {
                let i = shape.len() as i64 - event_dim as i64 + f.dim;
                if f.subsample_size != f.size && i >= 0 {
                    value = periodic_repeat(&value, f.size, i);
                    shape[i as usize] = f.size;
                }
            }
            let unconstrained_shape = transform.inverse_shape(&shape);
            let unconstrained_event_dim = event_dim + unconstrained_shape.len() - shape.len();
            sites.push(LatentSite {
                name: s.name.clone(),
                support,
                shape,
                unconstrained_shape,
                event_dim,
                unconstrained_event_dim,
                plates: s.plates.iter().rev().map(|f| f.name.to_string()).collect(),
                init: value,
            });
        }
        Ok(Prototype { sites, plates, max_plate_nesting: nesting })
    }

    /// Builds the model's plates for one guide run (drawing subsamples once).
    pub fn build_plates(&self) -> Result<Vec<(String, BuiltPlate)>> {
        self.plates
            .iter()
            .map(|p| {
                let mut plate = Plate::new(&p.name, p.size).dim(p.dim);
                if p.subsample_size != p.size {
                    plate = plate.subsample_size(p.subsample_size);
                }
                Ok((p.name.clone(), plate.build()?))
            })
            .collect()
    }
}

/// Runs `f` inside the named plates (outermost first).
pub fn within_plates(built: &[(String, BuiltPlate)], names: &[String], f: &mut dyn FnMut() -> Result<Tensor>) -> Result<Tensor> {
    match names.split_first() {
        None => f(),
        Some((first, rest)) => {
            let Some((_, plate)) = built.iter().find(|(n, _)| n == first) else {
                return Err(PyriteError::Plate {
                    plate: first.clone(),
                    problem: "a guide's site lies in it, but the plates the guide was given do not hold it".into(),
                });
            };
            plate.enter(|_| within_plates(built, rest, f))
        }
    }
}

/// Selects the current subsample of a full-size guide parameter along each subsampled plate.
pub fn subsample_param(t: &Tensor, site: &LatentSite, built: &[(String, BuiltPlate)], event_dim: usize, protos: &[PlateInfo]) -> Tensor {
    let mut out = t.shallow_clone();
    for name in &site.plates {
        let Some((_, bp)) = built.iter().find(|(n, _)| n == name) else { continue };
        let scope = bp.scope();
        if scope.subsample_size() == scope.size() {
            continue;
        }
        let dim = protos.iter().find(|p| &p.name == name).map(|p| p.dim).unwrap_or(-1);
        let d = out.dim() as i64 - event_dim as i64 + dim;
        // Cannot fail: the target is `out`'s own device.
        out = out.index_select(d, &scope.indices().to_device(out.device()));
    }
    out
}
