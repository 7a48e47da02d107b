//! `TraceEnum_ELBO`: the ELBO with discrete model sites summed out exactly.

use std::cell::Cell;

use pyrite_core::prelude::*;
use tch::Tensor;

use super::{check_model_guide, collect_params, Elbo, LossAndParams, Program};
use crate::contract::{contract, model_factors, Reduce};

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

    /// `log p(data, guide sites)` with the enumerated sites summed out, and the traces.
    pub fn marginal(&self, model: Program, guide: Program) -> Result<(Tensor, Trace, Trace)> {
        let first = -(self.nesting(model, guide)? as i64) - 1;
        let guide_tr = get_trace(guide)?;
        let model_tr = get_trace(|| enumerate(first, || replay(&guide_tr, model)))?;
        check_model_guide(&model_tr, &guide_tr)?;
        let m = model_factors(&model_tr, first)?;
        let enumerated = contract(m.factors, &m.layout, Reduce::Sum, None)? * m.scale;
        let rest = contract(m.other, &m.layout, Reduce::Sum, None)?;
        Ok((enumerated + rest, model_tr, guide_tr))
    }
}

impl Elbo for TraceEnumElbo {
    fn loss_and_params(&self, model: Program, guide: Program) -> Result<LossAndParams> {
        let (log_marginal, model_tr, guide_tr) = self.marginal(model, guide)?;
        let mut elbo = log_marginal;
        let mut score: Option<Tensor> = None;
        for s in guide_tr.sample_sites() {
            if s.is_observed {
                continue;
            }
            let lq = s.log_prob_sum()?;
            if !s.dist.as_ref().map(|d| d.has_rsample()).unwrap_or(true) {
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
        let mut params = Vec::new();
        collect_params(&[&model_tr, &guide_tr], &mut params);
        Ok(LossAndParams { loss: -elbo.double_value(&[]), surrogate: -surrogate, params })
    }
}
