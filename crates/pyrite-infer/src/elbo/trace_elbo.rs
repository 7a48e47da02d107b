//! `Trace_ELBO`: the ELBO estimated from sampled guide traces.

use std::cell::Cell;

use pyrite_core::host_reads::checking;
use pyrite_core::prelude::*;
use pyrite_core::runtime::{with_handler, Messenger};
use tch::Tensor;

use pyrite_distributions::kl_divergence;

use crate::autoguide::InitStrategy;

use super::{check_model_guide, collect_params, max_plate_nesting, Elbo, LossAndParams, Program};

/// Pyro's `Trace_ELBO`: `E_q[log p(x, z) - log q(z)]` with reparameterised gradients where the
/// guide's sites have `rsample`, and score-function (REINFORCE) terms where they have not.
/// Scales, masks and subsampling are respected through each site's scale and mask.
///
/// With `num_particles > 1` the estimate is averaged over particles, drawn one after another or,
/// with `vectorize_particles`, all at once in an extra outer plate.
#[derive(Debug, Clone)]
pub struct TraceElbo {
    /// Number of particles (samples of the guide) averaged per estimate.
    pub num_particles: usize,
    /// Draw all particles at once in an extra outer plate (the model and guide must broadcast), instead of one after another.
    pub vectorize_particles: bool,
    /// Plate dims used by the model; found on first use when `None`.
    pub max_plate_nesting: Option<usize>,
    detected_nesting: Cell<Option<usize>>,
    /// Use closed-form KL divergences between guide and model sites where known
    /// (`TraceMeanFieldElbo`).
    analytic_kl: bool,
}

impl Default for TraceElbo {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceElbo {
    /// One particle.
    pub fn new() -> Self {
        TraceElbo { num_particles: 1, vectorize_particles: false, max_plate_nesting: None, detected_nesting: Cell::new(None), analytic_kl: false }
    }
    /// `n` particles, sequential or vectorised.
    pub fn with_particles(n: usize, vectorize: bool) -> Self {
        TraceElbo { num_particles: n.max(1), vectorize_particles: vectorize, ..Self::new() }
    }

    /// The same estimator with closed-form KL terms, for `TraceMeanFieldElbo`.
    pub(crate) fn with_analytic_kl(mut self) -> Self {
        self.analytic_kl = true;
        self
    }

    fn nesting(&self, model: Program, guide: Program) -> Result<usize> {
        if let Some(n) = self.max_plate_nesting.or(self.detected_nesting.get()) {
            return Ok(n);
        }
        let n = detect_plate_nesting(model, guide)?;
        self.detected_nesting.set(Some(n));
        Ok(n)
    }

    /// One (possibly vectorised) particle: the ELBO's value, its surrogate and the traces. With
    /// `particle_dim`, the particles' plate dim, every site must broadcast within it.
    fn particle(&self, model: Program, guide: Program, particle_dim: Option<i64>) -> Result<(f64, Tensor, Trace, Trace)> {
        let guide_tr = get_trace(guide)?;
        let (out, model_tr) = trace(|| replay(&guide_tr, model));
        // A guide value the model cannot use often fails downstream of its site (a guide site of
        // the wrong shape breaks the plate of the next site): report the site itself.
        check_model_guide(&model_tr, &guide_tr)?;
        out?;
        if let Some(dim) = particle_dim {
            check_particle_dims(&model_tr, &guide_tr, dim)?;
        }
        let elbo = if self.analytic_kl { mean_field_elbo(&model_tr, &guide_tr)? } else { model_tr.log_prob_sum()? - guide_tr.latent_log_prob_sum()? };
        // One read of the value serves as the finiteness check and the reported loss (neither
        // steers the surrogate: a capture need not follow it).
        let value = checking(|| elbo.double_value(&[]));
        if !value.is_finite() {
            return Err(non_finite_site(&model_tr, &guide_tr));
        }
        let surrogate = match score_function_term(&model_tr, &guide_tr)? {
            None => elbo,
            Some(sc) => elbo + sc,
        };
        Ok((value, surrogate, model_tr, guide_tr))
    }
}

/// `TraceMeanFieldElbo`'s estimate: `sum log p(observed) - sum KL(q || p)` over latent sites,
/// each KL in closed form where the pair has one and the guide site is reparameterised (scaled
/// by the guide site's scale), and `log q(z) - log p(z)` at the sample otherwise.
fn mean_field_elbo(model_tr: &Trace, guide_tr: &Trace) -> Result<Tensor> {
    let mut elbo: Option<Tensor> = None;
    let mut add = |t: Tensor| {
        elbo = Some(match elbo.take() {
            None => t,
            Some(acc) => acc + t,
        })
    };
    let mut analytic: Vec<&str> = Vec::new();
    for s in model_tr.sample_sites() {
        if !s.is_observed && s.mask.is_none() {
            // Only a reparameterised guide site: a discrete one's sample keeps its place in the
            // score-function term, which would count the closed form's gradient a second time.
            if let Some(g) = guide_tr.site(&s.name).filter(|g| g.mask.is_none() && g.dist.as_ref().is_some_and(|d| d.has_rsample())) {
                if let (Some(q), Some(p)) = (g.dist.as_ref(), s.dist.as_ref()) {
                    if let Ok(kl) = kl_divergence(q.as_ref(), p.as_ref()) {
                        let kl = kl.sum(kl.kind());
                        add(-(if g.scale == 1.0 { kl } else { kl * g.scale }));
                        analytic.push(&s.name);
                        continue;
                    }
                }
            }
        }
        add(s.log_prob_sum()?);
    }
    for g in guide_tr.sample_sites().filter(|g| !g.is_observed && !analytic.contains(&g.name.as_str())) {
        add(-g.log_prob_sum()?);
    }
    Ok(elbo.unwrap_or_else(|| Tensor::from(0.0f32)))
}

/// Supplies every latent sample site and plate subsample without drawing random numbers:
/// continuous sites take their distribution's mean where it is finite and in the support (a
/// `Delta`, as autoguides use, its own value), else `biject_to(support)(0)`
/// (`init_to_feasible`); discrete ones zeros; subsampled plates their first indices.
struct NoDraw;

impl Messenger for NoDraw {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.value.is_some() {
            return Ok(());
        }
        match msg.kind {
            SiteKind::Sample if !msg.is_observed => {
                let Some(dist) = msg.dist.as_ref() else { return Ok(()) };
                let v = if dist.support().is_discrete() {
                    Tensor::zeros(dist.shape(&[]).as_slice(), dist.options())
                } else {
                    match dist.mean() {
                        Ok(m) if bool::try_from(m.isfinite().all()).unwrap_or(false) && dist.support().contains_all(&m) => m,
                        _ => InitStrategy::Feasible.init_value(&msg.name, dist.as_ref())?,
                    }
                };
                msg.value = Some(v);
            }
            SiteKind::Subsample => {
                if let Some((_, n)) = msg.subsample {
                    msg.value = Some(Tensor::arange(n, (tch::Kind::Int64, pyrite_distributions::default_device())));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The plate nesting of a model and guide, from one run of each hidden from outer handlers.
/// The run draws no random numbers, so that finding the nesting on the first step does not
/// shift the random stream (a run resumed from `Svi::save` then draws what an uninterrupted
/// run would have drawn).
pub(crate) fn detect_plate_nesting(model: Program, guide: Program) -> Result<usize> {
    tch::no_grad(|| {
        block(BlockSpec::All, || {
            with_handler(NoDraw, || -> Result<usize> {
                let guide_tr = get_trace(guide)?;
                let model_tr = get_trace(|| replay(&guide_tr, model))?;
                Ok(max_plate_nesting(&model_tr).max(max_plate_nesting(&guide_tr)))
            })
            .0
        })
    })
}

/// Under vectorised particles (an outer plate at `dim`), a site whose log-density has dims left
/// of `dim` did not broadcast over the particles: typically the model combined a value that has
/// the particle dim with a tensor on the wrong side (`x.matmul(w)` where `(x * w).sum(-1)` was
/// meant), and the log-density would silently pair every particle with every other.
pub(crate) fn check_particle_dims(model_tr: &Trace, guide_tr: &Trace, dim: i64) -> Result<()> {
    for (who, tr) in [("model", model_tr), ("guide", guide_tr)] {
        for s in tr.sample_sites() {
            let lp = s.log_prob()?;
            if lp.dim() as i64 > -dim {
                return Err(PyriteError::Shape {
                    site: s.name.clone(),
                    detail: format!(
                        "in the {who}, the log-density has shape {:?}, with dims left of the vectorised particles' dim {dim}: \
                         the {who} does not broadcast over a batch dim on the left (align batch dims to the right, \
                         e.g. `(x * w).sum(-1)` rather than `x.matmul(w)`)",
                        lp.size()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The error for a non-finite ELBO: names the first model site, then guide site, whose (scaled)
/// log-density is not finite.
pub(crate) fn non_finite_site(model_tr: &Trace, guide_tr: &Trace) -> PyriteError {
    for (who, tr) in [("model", model_tr), ("guide", guide_tr)] {
        for s in tr.sample_sites() {
            if let Ok(lp) = s.log_prob_sum() {
                let v = checking(|| lp.double_value(&[]));
                if !v.is_finite() {
                    return PyriteError::NonFinite { site: s.name.clone(), what: format!("the {who}'s log-density ({v})") };
                }
            }
        }
    }
    PyriteError::NonFinite { site: "<loss>".into(), what: "the ELBO".into() }
}

/// Sums `term` (a site's scaled log-density, batch-shaped, lying in `frames`) over every dim
/// that is not the dim of one of `target`'s plates that the term also lies in (keeping dims).
fn sum_to(term: &Tensor, frames: &[PlateFrame], target: &[PlateFrame]) -> Tensor {
    let r = term.dim() as i64;
    let dims: Vec<i64> = (0..r)
        .filter(|&i| {
            let d = i - r;
            !target.iter().any(|f| f.dim == d && frames.iter().any(|g| g.dim == d && g.name == f.name))
        })
        .collect();
    if dims.is_empty() {
        term.shallow_clone()
    } else {
        term.sum_dim_intlist(dims.as_slice(), true, term.kind())
    }
}

/// The score-function (REINFORCE) part of the surrogate ELBO, as Pyro's `Trace_ELBO`: for each
/// guide site without `rsample`, `sum(log q(z) * log r)` where `log r = log p - log q` over all
/// sites is summed down to the site's plates, detached. Summing down to the plates keeps each
/// plate element's (and each vectorised particle's) score paired with its own cost rather than
/// with the whole ELBO, which is unbiased either way but far less noisy. `None` when every
/// guide site is reparameterised.
pub(crate) fn score_function_term(model_tr: &Trace, guide_tr: &Trace) -> Result<Option<Tensor>> {
    let non_reparam: Vec<&Site> = guide_tr.sample_sites().filter(|s| !s.is_observed && !s.dist.as_ref().map(|d| d.has_rsample()).unwrap_or(true)).collect();
    if non_reparam.is_empty() {
        return Ok(None);
    }
    // The terms of log r: model sites' scaled log p, minus guide latent sites' scaled log q.
    let mut terms: Vec<(Tensor, &[PlateFrame])> = Vec::new();
    for s in model_tr.sample_sites() {
        terms.push((s.scaled_log_prob()?.detach(), &s.plates));
    }
    for s in guide_tr.sample_sites().filter(|s| !s.is_observed) {
        terms.push((-s.scaled_log_prob()?.detach(), &s.plates));
    }
    let mut total: Option<Tensor> = None;
    for site in non_reparam {
        let mut log_r: Option<Tensor> = None;
        for (t, frames) in &terms {
            let t = sum_to(t, frames, &site.plates);
            log_r = Some(match log_r {
                None => t,
                Some(acc) => acc + t,
            });
        }
        let Some(log_r) = log_r else { continue };
        let prod = site.scaled_log_prob()? * log_r;
        let term = prod.sum(prod.kind());
        total = Some(match total {
            None => term,
            Some(acc) => acc + term,
        });
    }
    Ok(total)
}
impl Elbo for TraceElbo {
    fn loss_and_params(&self, model: Program, guide: Program) -> Result<LossAndParams> {
        let mut params = Vec::new();
        if self.vectorize_particles && self.num_particles > 1 {
            let dim = -(self.nesting(model, guide)? as i64) - 1;
            let n = self.num_particles as i64;
            let vec_guide = || Plate::new("num_particles_vectorized", n).dim(dim).run(|_| guide());
            let vec_model = || Plate::new("num_particles_vectorized", n).dim(dim).run(|_| model());
            let (elbo, surrogate, mt, gt) = self.particle(&vec_model, &vec_guide, Some(dim))?;
            collect_params(&[&mt, &gt], &mut params);
            let k = self.num_particles as f64;
            let loss = -elbo / k;
            return Ok(LossAndParams { loss, surrogate: -surrogate / k, params });
        }
        let mut loss = 0.0;
        let mut total: Option<Tensor> = None;
        let k = self.num_particles as f64;
        for _ in 0..self.num_particles {
            let (elbo, surrogate, mt, gt) = self.particle(model, guide, None)?;
            collect_params(&[&mt, &gt], &mut params);
            loss -= elbo / k;
            let s = if self.num_particles == 1 { -surrogate } else { -surrogate / k };
            total = Some(match total {
                None => s,
                Some(t) => t + s,
            });
        }
        // No particle was drawn: `num_particles` (a public field) is 0.
        let Some(surrogate) = total else {
            return Err(PyriteError::InvalidInput { what: "num_particles".into(), problem: "must be positive, got 0".into() });
        };
        Ok(LossAndParams { loss, surrogate, params })
    }
}
