//! A model's potential energy: its continuous latent sites, found by tracing the model once,
//! laid side by side in one flat unconstrained vector; `U(z) = -(log p(x, T(z)) + log|det J_T(z)|)`
//! where `T` maps each site's slice onto its support (`biject_to`). Observed sites, plates,
//! `scale`, `mask` and `factor` count as in SVI; sites marked for enumeration are summed out
//! exactly (the tensor variable elimination of `TraceEnumElbo`).

use std::collections::BTreeSet;

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use pyrite_core::runtime::catch_panics;
use pyrite_core::trace::sum_scalars;
use pyrite_distributions::TransformRef;
use pyrite_infer::autoguide::Prototype;
use pyrite_infer::contract::{eliminate, model_factors, sum_all, Reduce};
use pyrite_infer::prelude::InitStrategy;
use tch::{Device, Kind, Tensor};

use crate::potential::Potential;

/// The name of the plate that vectorised chains run in.
pub const CHAIN_PLATE: &str = "_mcmc_chains";

/// One latent site's slice of the flat vector.
#[derive(Debug)]
struct Slot {
    name: String,
    transform: TransformRef,
    /// Whether the transform is the identity (a real-valued site: no Jacobian term).
    real: bool,
    /// The unconstrained value's shape.
    unconstrained_shape: Vec<i64>,
    /// Event dims of the unconstrained value.
    unconstrained_event_dim: usize,
    offset: i64,
    numel: i64,
}

/// Where each continuous latent site of a model lives in the flat unconstrained vector.
#[derive(Debug)]
pub struct LatentLayout {
    slots: Vec<Slot>,
    dim: usize,
    kind: Kind,
    device: Device,
    max_plate_nesting: usize,
    /// The first enumeration dim when the model has sites marked for enumeration.
    enum_first_dim: Option<i64>,
}

impl LatentLayout {
    /// Traces `model` once with the initial values of `init` and returns the layout and the
    /// initial point (unconstrained, flat).
    ///
    /// # Errors
    /// [`PyriteError::Enumerate`] naming a discrete latent site that is not marked for
    /// enumeration; [`PyriteError::Plate`] for a subsampled plate (MCMC needs the whole data);
    /// the model's errors.
    pub fn discover(model: &dyn Fn() -> Result<()>, init: &InitStrategy) -> Result<(LatentLayout, Vec<f64>)> {
        let proto = Prototype::discover(model, init).map_err(|e| match e {
            PyriteError::Enumerate { site, .. } => PyriteError::Enumerate {
                site,
                problem: "NUTS and HMC move continuous sites only: mark this discrete latent site for enumeration \
                          (`config_enumerate` or `SampleSite::enumerate`) so that it is summed out of the potential"
                    .into(),
            },
            e => e,
        })?;
        if let Some(p) = proto.plates.iter().find(|p| p.subsample_size != p.size) {
            return Err(PyriteError::Plate {
                plate: p.name.clone(),
                problem: format!("subsamples {} of {}: MCMC needs the whole data set in every step", p.subsample_size, p.size),
            });
        }
        // At the initial values (a draw from the prior may be where the model fails).
        let init_values: SiteValues = proto.sites.iter().map(|s| (s.name.clone(), s.init.shallow_clone())).collect();
        let tr = block(BlockSpec::All, || get_trace(|| substitute(init_values, model)))?;
        let enumerated = tr.sample_sites().any(|s| s.infer.enumerate.is_some() && !s.is_observed);
        let (kind, device) = proto.sites.first().map(|s| (s.init.kind(), s.init.device())).unwrap_or((Kind::Float, Device::Cpu));
        let mut slots = Vec::new();
        let mut init_z = Vec::new();
        let mut offset = 0;
        for s in &proto.sites {
            let numel: i64 = s.unconstrained_shape.iter().product();
            let transform = s.transform()?;
            let u = tch::no_grad(|| transform.inverse(&s.init));
            init_z.extend(Vec::<f64>::try_from(u.to_kind(Kind::Double).to_device(Device::Cpu).reshape([-1]))?);
            slots.push(Slot {
                name: s.name.clone(),
                transform,
                real: matches!(s.support.base(), pyrite_distributions::Constraint::Real),
                unconstrained_shape: s.unconstrained_shape.clone(),
                unconstrained_event_dim: s.unconstrained_event_dim,
                offset,
                numel,
            });
            offset += numel;
        }
        let max_plate_nesting = proto.max_plate_nesting;
        let enum_first_dim = enumerated.then_some(-(max_plate_nesting as i64) - 1);
        Ok((LatentLayout { slots, dim: offset as usize, kind, device, max_plate_nesting, enum_first_dim }, init_z))
    }

    /// The number of unconstrained coordinates.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The names of the latent sites, in the order of the flat vector.
    pub fn site_names(&self) -> Vec<&str> {
        self.slots.iter().map(|s| s.name.as_str()).collect()
    }

    /// The floating dtype the latent values take (the model's).
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether the model has enumerated discrete sites (summed out in the potential).
    pub fn is_enumerated(&self) -> bool {
        self.enum_first_dim.is_some()
    }

    /// The number of plate dims the model uses.
    pub fn max_plate_nesting(&self) -> usize {
        self.max_plate_nesting
    }

    /// Each site's slice of `z` (`[dim]`, or `[chains, dim]` row by row with `chains`) as a leaf
    /// tensor of the model's dtype and device, shaped for the model: `[chains, 1, ..., site
    /// shape]` with chains (the chain dim left of every model plate). Leaves of their own, not
    /// views of one vector: no autograd node is spent on splitting and reshaping.
    fn leaves(&self, z: &[f64], chains: Option<i64>) -> Result<Vec<Tensor>> {
        let rows = chains.unwrap_or(1) as usize;
        let mut leaves = Vec::with_capacity(self.slots.len());
        let mut buffer = Vec::new();
        for s in &self.slots {
            buffer.clear();
            for r in 0..rows {
                let start = r * self.dim + s.offset as usize;
                buffer.extend_from_slice(&z[start..start + s.numel as usize]);
            }
            let shape = match chains {
                None => s.unconstrained_shape.clone(),
                Some(c) => {
                    let mut shape = vec![c];
                    let batch_rank = s.unconstrained_shape.len() - s.unconstrained_event_dim;
                    shape.extend(std::iter::repeat_n(1, self.max_plate_nesting.saturating_sub(batch_rank)));
                    shape.extend_from_slice(&s.unconstrained_shape);
                    shape
                }
            };
            let t = match self.kind {
                Kind::Float => Tensor::f_from_slice(&buffer.iter().map(|&x| x as f32).collect::<Vec<f32>>())?,
                Kind::Double => Tensor::f_from_slice(&buffer)?,
                other => Tensor::f_from_slice(&buffer)?.f_to_kind(other)?,
            };
            leaves.push(t.f_reshape(shape.as_slice())?.f_to_device(self.device)?.set_requires_grad(true));
        }
        Ok(leaves)
    }

    /// Writes the gradients of the leaves (see [`leaves`](Self::leaves)) into `grad`, laid out as
    /// `z`, negated (the potential is minus the log-density).
    fn scatter_grads(&self, grads: &[Tensor], grad: &mut [f64], chains: Option<i64>) -> Result<()> {
        let rows = chains.unwrap_or(1) as usize;
        for (s, g) in self.slots.iter().zip(grads) {
            let n = s.numel as usize;
            let values: Vec<f64> =
                if g.defined() { Vec::<f64>::try_from(g.f_to_kind(Kind::Double)?.f_to_device(Device::Cpu)?.f_reshape([-1])?)? } else { vec![0.0; n * rows] };
            for r in 0..rows {
                let start = r * self.dim + s.offset as usize;
                for (dst, src) in grad[start..start + n].iter_mut().zip(&values[r * n..(r + 1) * n]) {
                    *dst = -src;
                }
            }
        }
        Ok(())
    }

    /// The constrained site values of the leaves and the total `log|det J|` (per chain with
    /// `chains`).
    fn unpack(&self, leaves: &[Tensor], chains: Option<i64>) -> (SiteValues, Option<Tensor>) {
        let mut values = SiteValues::new();
        let mut ldj: Vec<Tensor> = Vec::new();
        for (s, u) in self.slots.iter().zip(leaves) {
            if s.real {
                values.insert(s.name.clone(), u.shallow_clone());
                continue;
            }
            let x = s.transform.forward(u);
            let j = s.transform.log_abs_det_jacobian(u, &x);
            ldj.push(match chains {
                None if j.dim() == 0 => j,
                None => j.sum(j.kind()),
                Some(c) => j.reshape([c, -1]).sum_dim_intlist([1i64].as_slice(), false, j.kind()),
            });
            values.insert(s.name.clone(), x);
        }
        let ldj = ldj.into_iter().reduce(|a, b| a + b);
        (values, ldj)
    }

    /// Constrained draws by site, from flat unconstrained draws `z` of shape `[n, dim]`: each
    /// site `[n, ...site shape]`.
    pub fn constrain(&self, z: &[f64], n: i64) -> Result<IndexMap<String, Tensor>> {
        let zt = Tensor::f_from_slice(z)?.f_reshape([n, self.dim as i64])?.f_to_kind(self.kind)?;
        let mut out = IndexMap::new();
        tch::no_grad(|| {
            for s in &self.slots {
                let mut shape = vec![n];
                shape.extend_from_slice(&s.unconstrained_shape);
                let u = zt.narrow(1, s.offset, s.numel).reshape(shape.as_slice());
                let x = if s.real { u } else { s.transform.forward(&u) };
                out.insert(s.name.clone(), x);
            }
        });
        Ok(out)
    }
}

/// The potential energy of a model with bound arguments, for one chain or for several chains
/// at once (vectorised: one run of the model in an extra plate of chains).
pub struct ModelPotential<'a> {
    model: &'a dyn Fn() -> Result<()>,
    layout: &'a LatentLayout,
    /// Whether the first evaluation (validated, as SVI's first step) has happened.
    validated: bool,
    /// Whether the model broadcasts over a batch of chains (unknown until first tried).
    pub(crate) batching: Option<bool>,
}

impl<'a> ModelPotential<'a> {
    /// The potential of `model` over `layout`'s sites.
    pub fn new(model: &'a dyn Fn() -> Result<()>, layout: &'a LatentLayout) -> Self {
        ModelPotential { model, layout, validated: false, batching: None }
    }

    /// `log p(x, T(z)) + log|det J|` as a differentiable tensor: a scalar, or per chain (`[chains]`).
    fn log_density(&self, leaves: &[Tensor], chains: Option<i64>) -> Result<Tensor> {
        let (values, ldj) = self.layout.unpack(leaves, chains);
        let program = || substitute(values, self.model);
        let first = self.layout.enum_first_dim.map(|d| d - i64::from(chains.is_some()));
        let run = || -> Result<Trace> {
            block(BlockSpec::All, || match (first, chains) {
                (None, None) => get_trace(program),
                (Some(first), None) => get_trace(|| enumerate(first, program)),
                (first, Some(c)) => {
                    let dim = -(self.layout.max_plate_nesting as i64) - 1;
                    let in_plate = || Plate::new(CHAIN_PLATE, c).dim(dim).run(|_| program());
                    match first {
                        None => get_trace(in_plate),
                        Some(first) => get_trace(|| enumerate(first, in_plate)),
                    }
                }
            })
        };
        let tr = run()?;
        let lp = match (first, chains) {
            (None, None) => tr.log_prob_sum()?,
            (Some(first), None) => enumerated_log_density(&tr, first, None)?,
            (None, Some(c)) => per_chain(tr.sample_sites().map(|s| s.scaled_log_prob()).collect::<Result<Vec<_>>>()?, c, self.layout.max_plate_nesting)?,
            (Some(first), Some(c)) => enumerated_log_density(&tr, first, Some((c, self.layout.max_plate_nesting)))?,
        };
        Ok(match ldj {
            Some(j) => lp + j,
            None => lp,
        })
    }

    /// Energies (one per chain, or one) and gradients (`[chains, dim]` flattened) at `z`.
    fn evaluate(&mut self, z: &[f64], grad: &mut [f64], chains: Option<i64>) -> Result<Vec<f64>> {
        let leaves = self.layout.leaves(z, chains)?;
        let eval = || catch_panics(|| self.log_density(&leaves, chains));
        let lp = if self.validated { pyrite_distributions::without_validation(eval)? } else { eval()? };
        self.validated = true;
        let energy: Vec<f64> = Vec::<f64>::try_from(lp.detach().to_kind(Kind::Double).to_device(Device::Cpu).reshape([-1]))?.into_iter().map(|l| -l).collect();
        if energy.iter().all(|e| !e.is_finite()) || !lp.requires_grad() {
            grad.fill(0.0);
            return Ok(energy);
        }
        // the gradient of the log-density; `scatter_grads` negates it (no extra node)
        let total = if chains.is_some() { lp.sum(lp.kind()) } else { lp };
        let leaf_refs: Vec<&Tensor> = leaves.iter().collect();
        let grads = Tensor::f_run_backward(&[&total], &leaf_refs, false, false)?;
        self.layout.scatter_grads(&grads, grad, chains)?;
        Ok(energy)
    }

    /// The potential energies of several chains at once, `z` being `[chains, dim]` row by row;
    /// writes the gradients the same way.
    ///
    /// # Errors
    /// The model's errors; [`PyriteError::InvalidInput`] if the model has enumerated sites
    /// that do not broadcast with the chain plate.
    pub fn energies_and_grads(&mut self, z: &[f64], grads: &mut [f64], chains: usize) -> Result<Vec<f64>> {
        self.evaluate(z, grads, Some(chains as i64))
    }

    /// The log-density at `z` as captured by libtorch's tracer (one input per site, in layout
    /// order), for the compiler.
    ///
    /// # Errors
    ///
    /// The model's errors; the tracer's.
    pub fn trace_log_density(&self, z: &[f64]) -> Result<pyrite_compile::Graph> {
        let leaves = self.layout.leaves(z, None)?;
        pyrite_distributions::without_validation(|| pyrite_compile::trace(&leaves, || self.log_density(&leaves, None)))
    }

    /// The layout of the latent sites this potential evaluates.
    pub fn layout(&self) -> &LatentLayout {
        self.layout
    }

    /// The latent sites whose value or log-density is not finite at `z` (for error messages).
    pub fn non_finite_sites(&self, z: &[f64]) -> Vec<String> {
        let Ok(leaves) = self.layout.leaves(z, None) else { return vec!["<initial point>".into()] };
        let (values, _) = tch::no_grad(|| self.layout.unpack(&leaves, None));
        let Ok(tr) = block(BlockSpec::All, || catch_panics(|| get_trace(|| substitute(values, self.model)))) else {
            return vec!["<model>".into()];
        };
        let finite = |t: &Tensor| t.f_isfinite().and_then(|f| f.f_all()).map(|a| bool::try_from(a).unwrap_or(false)).unwrap_or(false);
        tr.sample_sites()
            .filter(|s| !finite(&s.value.to_kind(Kind::Double)) || !s.log_prob_sum().map(|l| finite(&l)).unwrap_or(false))
            .map(|s| s.name.clone())
            .collect()
    }
}

impl Potential for ModelPotential<'_> {
    fn dim(&self) -> usize {
        self.layout.dim
    }
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64> {
        Ok(self.evaluate(z, grad, None)?[0])
    }
}

/// The log-density of an enumerated trace: the sites that depend on enumerated variables
/// contracted by variable elimination (sum-product), the others summed. With `chains`, per
/// chain: the chain plate is kept to the end.
fn enumerated_log_density(tr: &Trace, first: i64, chains: Option<(i64, usize)>) -> Result<Tensor> {
    let m = model_factors(tr, first, &BTreeSet::new())?;
    let residual = eliminate(m.factors, &m.layout, Reduce::Sum, None, &BTreeSet::new())?;
    match chains {
        None => {
            let mut terms: Vec<Tensor> = residual.into_iter().map(|f| sum_all(f.log, &f.ordinal, &m.layout) * m.scale).collect();
            terms.extend(m.other.into_iter().map(|f| sum_all(f.log, &f.ordinal, &m.layout)));
            Ok(sum_scalars(terms))
        }
        Some((c, nesting)) => {
            // as `sum_all`, a factor constant along one of its plates counts once per element
            let constant_over = |f: &pyrite_infer::contract::Factor| -> f64 {
                let size = f.log.size();
                let rank = size.len() as i64;
                m.layout
                    .plates
                    .iter()
                    .filter(|(name, dim, _)| f.ordinal.contains(name) && name != CHAIN_PLATE && (rank < -dim || size[(rank + dim) as usize] == 1))
                    .map(|(_, _, n)| *n as f64)
                    .product()
            };
            let mut terms: Vec<Tensor> = residual.iter().map(|f| &f.log * (m.scale * constant_over(f))).collect();
            terms.extend(m.other.iter().map(|f| &f.log * constant_over(f)));
            per_chain(terms, c, nesting)
        }
    }
}

/// Sums log-density tensors over every dim but the chain plate's (`-(nesting + 1)`): `[chains]`.
/// A term without that dim is the same for every chain.
fn per_chain(terms: Vec<Tensor>, chains: i64, nesting: usize) -> Result<Tensor> {
    let chain_dim = -(nesting as i64) - 1;
    let mut total: Option<Tensor> = None;
    for t in terms {
        let rank = t.dim() as i64;
        let part = if rank >= -chain_dim && t.size()[(rank + chain_dim) as usize] == chains {
            let others: Vec<i64> = (0..rank).filter(|&d| d != rank + chain_dim).collect();
            let s = if others.is_empty() { t } else { t.f_sum_dim_intlist(others.as_slice(), false, t.kind())? };
            s.f_reshape([chains])?
        } else {
            let s = if rank == 0 { t } else { t.sum(t.kind()) };
            s.f_expand([chains], false)?
        };
        total = Some(match total {
            None => part,
            Some(acc) => acc + part,
        });
    }
    Ok(total.unwrap_or_else(|| Tensor::zeros([chains], (Kind::Float, Device::Cpu))))
}
