//! `TraceEnum_ELBO`: the ELBO with discrete model sites summed out exactly.

use std::cell::Cell;
use std::collections::BTreeSet;

use pyrite_core::prelude::*;
use pyrite_core::trace::sum_scalars;
use tch::Tensor;

use super::{check_model_guide, collect_params, Elbo, LossAndParams, Program};
use crate::contract::{align, eliminate, model_factors, site_factor, sum_all, Factor, Layout, Reduce, VarId};

/// Pyro's `TraceEnum_ELBO`: discrete model sites marked for enumeration (`SampleSite::enumerate`
/// or `config_enumerate`) are enumerated in parallel in dims left of the plates and summed out
/// exactly by tensor variable elimination (through plates, for several sites, and for sites that
/// depend on one another); the remaining latent sites come from the guide as in `TraceElbo`,
/// with score-function terms for guide sites without `rsample`.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::{Kind, Tensor};
/// // A two-component mixture with learnable weights; the assignments are summed out.
/// let data = Tensor::from_slice(&[-1.1f32, 0.9, 1.2]);
/// let locs = Tensor::from_slice(&[-1.0f32, 1.0]);
/// let model = |x: &Tensor| -> Result<()> {
///     let w = param("weights", Tensor::from_slice(&[0.5f32, 0.5]), Constraint::Simplex)?;
///     plate("data", 3, |_| {
///         let z = SampleSite::new("z", Categorical::new(&w)?).enumerate().run()?;
///         observe("x", Normal::new(locs.index(&[Some(&z)]), 1.0)?, x)
///     })?;
///     Ok(())
/// };
/// let guide = |_: &Tensor| -> Result<()> { Ok(()) };
/// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.05), TraceEnumElbo::with_max_plate_nesting(1));
///
/// // With no latent site left to the guide, the loss is exactly -log p(x).
/// let lp = Normal::new(locs.unsqueeze(-1), 1.0)?.log_prob(&data)? + 0.5f64.ln();
/// let minus_log_evidence = -lp.logsumexp([0], false).sum(Kind::Float).double_value(&[]);
/// assert!((svi.evaluate_loss(&data)? - minus_log_evidence).abs() < 1e-4);
///
/// for _ in 0..50 {
///     svi.step(&data)?;
/// }
/// // Two of the three points lie near +1.
/// let w = get_param_store().lock().unwrap().get("weights")?;
/// assert!(w.double_value(&[1]) > 0.5);
/// # Ok::<(), PyriteError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct TraceEnumElbo {
    /// Plate dims used by the model; found on first use when `None`.
    pub max_plate_nesting: Option<usize>,
    detected: Cell<Option<usize>>,
}

impl TraceEnumElbo {
    /// With the plate nesting detected on first use.
    pub fn new() -> Self {
        Self::default()
    }
    /// With a given plate nesting (enumeration starts at dim `-(n + 1)`).
    pub fn with_max_plate_nesting(n: usize) -> Self {
        TraceEnumElbo { max_plate_nesting: Some(n), detected: Cell::new(None) }
    }

    /// Plate nesting, given or detected from one run without enumeration.
    pub fn nesting(&self, model: Program, guide: Program) -> Result<usize> {
        if let Some(n) = self.max_plate_nesting.or(self.detected.get()) {
            return Ok(n);
        }
        // The same detection as TraceElbo's: a run that draws no random numbers, so a resumed
        // run (after `Svi::load`) sees the same random stream.
        let n = super::trace_elbo::detect_plate_nesting(model, guide)?;
        self.detected.set(Some(n));
        Ok(n)
    }

    /// The ELBO with the model's enumerated sites summed out and the guide's averaged over
    /// exactly, and the two traces.
    ///
    /// The guide runs under `enumerate` (its sites marked for enumeration take all their values
    /// in dims left of the plates), the model is replayed on it and enumerates its own sites
    /// further left. The model's variables are eliminated by tensor variable elimination, which
    /// leaves cost terms (log-densities, minus the guide's) that depend on the guide's
    /// enumerated variables at most; each is averaged under the guide's probabilities of the
    /// values it depends on (the expectation that Pyro's Dice estimator computes).
    fn enumerated_elbo(&self, model: Program, guide: Program) -> Result<(Tensor, Trace, Trace)> {
        let first = -(self.nesting(model, guide)? as i64) - 1;
        let guide_tr = get_trace(|| enumerate(first, guide))?;
        let pinned: BTreeSet<VarId> = guide_tr.sample_sites().filter_map(|s| s.infer.enumerate_id).collect();
        // The model's own enumeration starts left of every dim the guide used.
        let guide_dims = guide_tr.sample_sites().filter_map(|s| s.infer.enumerate_dim).min().unwrap_or(first + 1);
        let model_first = guide_dims.min(first + 1) - 1;
        let model_tr = get_trace(|| enumerate(model_first, || replay(&guide_tr, model)))?;
        check_model_guide(&model_tr, &guide_tr)?;
        let mut m = model_factors(&model_tr, first, &pinned)?;
        for s in guide_tr.nodes.values() {
            for f in &s.plates {
                if !m.layout.plates.iter().any(|p| p.0 == *f.name) {
                    m.layout.plates.push((f.name.to_string(), f.dim, f.subsample_size));
                }
            }
        }
        let mut costs: Vec<Factor> =
            eliminate(m.factors, &m.layout, Reduce::Sum, None, &pinned)?.into_iter().map(|f| Factor { log: f.log * m.scale, ..f }).collect();
        costs.append(&mut m.other);
        // The guide's probabilities of its enumerated values (unscaled, as Dice's factors).
        let mut dice = Vec::new();
        for s in guide_tr.sample_sites().filter(|s| !s.is_observed) {
            if s.infer.enumerate_id.is_some() {
                dice.push(site_factor(s, s.log_prob()?, first)?);
            }
            costs.push(site_factor(s, -s.scaled_log_prob()?, first)?);
        }
        let elbo = sum_scalars(costs.iter().map(|c| expectation(c, &dice, &m.layout)).collect::<Result<_>>()?);
        Ok((elbo, model_tr, guide_tr))
    }
}

/// The expectation of a cost term under the guide's enumerated variables: the guide's joint
/// probability of the variables the cost depends on (those of its enumerated sites that the
/// cost's plates can see, the others summed out) times the cost, summed over values and plates.
///
/// A cost that depends on a guide variable whose guide site lies in a plate the cost is outside
/// of (a model site outside a plate using a value enumerated inside it) has no such
/// probability: [`PyriteError::Enumerate`] naming the variable's site.
fn expectation(cost: &Factor, dice: &[Factor], layout: &Layout) -> Result<Tensor> {
    let mut t = cost.log.shallow_clone();
    if !cost.vars.is_empty() {
        let visible: Vec<&Factor> = dice.iter().filter(|d| d.ordinal.is_subset(&cost.ordinal)).collect();
        let mut parts = vec![(t, cost.vars.clone())];
        parts.extend(visible.iter().map(|d| (d.log.shallow_clone(), d.vars.clone())));
        let (mut tensors, dims) = align(parts);
        let cost_t = tensors.remove(0);
        let Some(mut log_q) = tensors.into_iter().reduce(|a, b| a + b) else {
            let var = cost.vars.keys().next().and_then(|v| layout.vars.iter().find(|l| l.0 == *v));
            return Err(PyriteError::Enumerate {
                site: var.map(|l| l.1.clone()).unwrap_or_default(),
                problem: "a site outside the guide's plates of this variable depends on it; \
                          use its value only inside those plates"
                    .into(),
            });
        };
        for (v, &d) in &dims {
            if !cost.vars.contains_key(v) && log_q.dim() as i64 >= -d {
                log_q = log_q.logsumexp([d].as_slice(), true);
            }
        }
        t = log_q.exp() * cost_t;
    }
    Ok(sum_all(t, &cost.ordinal, layout))
}

impl Elbo for TraceEnumElbo {
    fn loss_and_params(&self, model: Program, guide: Program) -> Result<LossAndParams> {
        let (elbo, model_tr, guide_tr) = self.enumerated_elbo(model, guide)?;
        // Guide sites sampled without `rsample` and not enumerated: score-function terms.
        let mut score: Option<Tensor> = None;
        for s in guide_tr.sample_sites() {
            if s.is_observed || s.infer.enumerate_dim.is_some() || s.dist.as_ref().map(|d| d.has_rsample()).unwrap_or(true) {
                continue;
            }
            let lq = s.log_prob_sum()?;
            score = Some(match score {
                None => lq,
                Some(t) => t + lq,
            });
        }
        let surrogate = match score {
            None => elbo.shallow_clone(),
            Some(sc) => &elbo + sc * elbo.detach(),
        };
        let mut params = Vec::new();
        collect_params(&[&model_tr, &guide_tr], &mut params);
        Ok(LossAndParams { loss: -pyrite_core::host_reads::checking(|| elbo.double_value(&[])), surrogate: -surrogate, params })
    }
}
