//! `Trace_ELBO`: the ELBO estimated from sampled guide traces.

use std::cell::Cell;

use pyrite_core::prelude::*;
use tch::Tensor;

use super::{check_model_guide, collect_params, max_plate_nesting, Elbo, LossAndParams, Program};

/// Pyro's `Trace_ELBO`: `E_q[log p(x, z) - log q(z)]` with reparameterised gradients where the
/// guide's sites have `rsample`, and score-function (REINFORCE) terms where they have not.
/// Scales, masks and subsampling are respected through each site's scale and mask.
///
/// With `num_particles > 1` the estimate is averaged over particles, drawn one after another or,
/// with `vectorize_particles`, all at once in an extra outer plate.
#[derive(Debug, Clone)]
pub struct TraceElbo {
    pub num_particles: usize,
    pub vectorize_particles: bool,
    /// Plate dims used by the model; found on first use when `None`.
    pub max_plate_nesting: Option<usize>,
    detected_nesting: Cell<Option<usize>>,
}

impl Default for TraceElbo {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceElbo {
    /// One particle.
    pub fn new() -> Self {
        TraceElbo { num_particles: 1, vectorize_particles: false, max_plate_nesting: None, detected_nesting: Cell::new(None) }
    }
    /// `n` particles, sequential or vectorised.
    pub fn with_particles(n: usize, vectorize: bool) -> Self {
        TraceElbo { num_particles: n.max(1), vectorize_particles: vectorize, ..Self::new() }
    }

    fn nesting(&self, model: Program, guide: Program) -> Result<usize> {
        if let Some(n) = self.max_plate_nesting.or(self.detected_nesting.get()) {
            return Ok(n);
        }
        let guide_tr = block(BlockSpec::All, || get_trace(guide))?;
        let model_tr = block(BlockSpec::All, || get_trace(|| replay(&guide_tr, model)))?;
        let n = max_plate_nesting(&model_tr).max(max_plate_nesting(&guide_tr));
        self.detected_nesting.set(Some(n));
        Ok(n)
    }

    /// One (possibly vectorised) particle: the ELBO, its surrogate and the traces.
    fn particle(&self, model: Program, guide: Program) -> Result<(Tensor, Tensor, Trace, Trace)> {
        let guide_tr = get_trace(guide)?;
        let model_tr = get_trace(|| replay(&guide_tr, model))?;
        check_model_guide(&model_tr, &guide_tr)?;
        let mut elbo = model_tr.log_prob_sum()?;
        let mut score: Option<Tensor> = None;
        for s in guide_tr.sample_sites() {
            if s.is_observed {
                continue;
            }
            let lq = s.log_prob_sum()?;
            let reparam = s.dist.as_ref().map(|d| d.has_rsample()).unwrap_or(true);
            if !reparam {
                score = Some(match score {
                    None => lq.shallow_clone(),
                    Some(t) => t + &lq,
                });
            }
            elbo = elbo - lq;
        }
        let surrogate = match score {
            None => elbo.shallow_clone(),
            Some(sc) => &elbo + sc * elbo.detach(),
        };
        Ok((elbo, surrogate, model_tr, guide_tr))
    }
}

impl Elbo for TraceElbo {
    fn loss_and_params(&self, model: Program, guide: Program) -> Result<LossAndParams> {
        let mut params = Vec::new();
        if self.vectorize_particles && self.num_particles > 1 {
            let dim = -(self.nesting(model, guide)? as i64) - 1;
            let n = self.num_particles as i64;
            let vec_guide = || Plate::new("num_particles_vectorized", n).dim(dim).run(|_| guide());
            let vec_model = || Plate::new("num_particles_vectorized", n).dim(dim).run(|_| model());
            let (elbo, surrogate, mt, gt) = self.particle(&vec_model, &vec_guide)?;
            collect_params(&[&mt, &gt], &mut params);
            let k = self.num_particles as f64;
            let loss = -elbo.double_value(&[]) / k;
            return Ok(LossAndParams { loss, surrogate: -surrogate / k, params });
        }
        let mut loss = 0.0;
        let mut total: Option<Tensor> = None;
        let k = self.num_particles as f64;
        for _ in 0..self.num_particles {
            let (elbo, surrogate, mt, gt) = self.particle(model, guide)?;
            collect_params(&[&mt, &gt], &mut params);
            loss -= elbo.double_value(&[]) / k;
            let s = if self.num_particles == 1 { -surrogate } else { -surrogate / k };
            total = Some(match total {
                None => s,
                Some(t) => t + s,
            });
        }
        Ok(LossAndParams { loss, surrogate: total.unwrap(), params })
    }
}
