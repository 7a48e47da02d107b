//! ELBO losses, one module each.

mod trace_elbo;
mod trace_enum_elbo;
mod trace_mean_field_elbo;

pub use trace_elbo::TraceElbo;
pub use trace_enum_elbo::TraceEnumElbo;
pub use trace_mean_field_elbo::TraceMeanFieldElbo;

use pyrite_core::prelude::*;
use pyrite_distributions::{Delta, Distribution, Independent, Masked};
use tch::Tensor;

/// A model or guide with its arguments bound.
pub type Program<'a> = &'a dyn Fn() -> Result<()>;

/// The differentiable loss of one step and the params it touched.
pub struct LossAndParams {
    /// The loss (minus the ELBO estimate), as a number.
    pub loss: f64,
    /// A tensor whose gradient is the gradient of the loss (a surrogate where score-function
    /// terms are needed).
    pub surrogate: Tensor,
    /// The unconstrained params touched by model or guide, by name.
    pub params: Vec<(String, Tensor)>,
}

/// A variational objective.
pub trait Elbo {
    /// Estimates the loss and builds the graph for its gradient.
    fn loss_and_params(&self, model: Program, guide: Program) -> Result<LossAndParams>;
}

/// The largest plate nesting (number of plate dims) in a trace.
pub fn max_plate_nesting(tr: &Trace) -> usize {
    tr.nodes.values().flat_map(|s| s.plates.iter().map(|f| (-f.dim) as usize)).max().unwrap_or(0)
}

/// Collects the param leaves of traces, by name, without repeats.
pub(crate) fn collect_params(traces: &[&Trace], out: &mut Vec<(String, Tensor)>) {
    for tr in traces {
        for s in tr.param_sites() {
            if let Some(u) = s.unconstrained.as_ref() {
                if u.requires_grad() && !out.iter().any(|(n, _)| *n == s.name) {
                    out.push((s.name.clone(), u.shallow_clone()));
                }
            }
        }
    }
}

/// Checks that the guide covers every latent site of the model, with a support inside the
/// model's (while validation is on: the first step of an `Svi`) and the same shape.
pub(crate) fn check_model_guide(model_tr: &Trace, guide_tr: &Trace) -> Result<()> {
    for s in model_tr.latent_sites() {
        if s.infer.enumerate_dim.is_some() {
            continue;
        }
        let Some(g) = guide_tr.site(&s.name) else {
            return Err(PyriteError::MissingGuideSite { site: s.name.clone() });
        };
        let (Some(md), Some(gd)) = (s.dist.as_ref(), g.dist.as_ref()) else { continue };
        let (ms, gs) = (md.support(), gd.support());
        if ms.is_discrete() != gs.is_discrete() || ms.event_dim() != gs.event_dim() {
            return Err(PyriteError::GuideMismatch { site: s.name.clone(), detail: format!("model support {} but guide support {}", ms.name(), gs.name()) });
        }
        if pyrite_distributions::validation_enabled() {
            check_support_inside(&s.name, md.as_ref(), gd.as_ref(), &g.value)?;
        }
        let want = md.shape(&[]);
        if g.value.size() != want {
            return Err(PyriteError::GuideMismatch {
                site: s.name.clone(),
                detail: format!("the guide's value has shape {:?} but the model's distribution has shape {want:?}", g.value.size()),
            });
        }
    }
    Ok(())
}

/// A guide site's support must lie inside its model site's, or the guide proposes values the
/// model gives no density (a Normal guide for a HalfNormal scale). A point mass (`Delta`, as
/// `AutoDelta` and the `AutoContinuous` guides place at their transformed values) is checked by
/// its value instead: its support is that point.
fn check_support_inside(site: &str, model: &dyn Distribution, guide: &dyn Distribution, value: &Tensor) -> Result<()> {
    let (ms, gs) = (model.support(), guide.support());
    let inside = if is_point_mass(guide) { Some(ms.contains_all(value)) } else { gs.is_within(&ms) };
    if inside == Some(false) {
        let what = if is_point_mass(guide) { format!("a {} at a value outside it", guide.name()) } else { format!("support {} ({})", gs.name(), guide.name()) };
        return Err(PyriteError::GuideMismatch {
            site: site.to_string(),
            detail: format!(
                "the model's support is {} ({}) but the guide has {what}: the guide must propose only values the model can score",
                ms.name(),
                model.name()
            ),
        });
    }
    Ok(())
}

/// Whether a distribution is a `Delta`, possibly behind `to_event` or `mask`.
fn is_point_mass(d: &dyn Distribution) -> bool {
    let any = d.as_any();
    if any.is::<Delta>() {
        return true;
    }
    if let Some(i) = any.downcast_ref::<Independent>() {
        return is_point_mass(i.base.as_ref());
    }
    any.downcast_ref::<Masked>().is_some_and(|m| is_point_mass(m.base.as_ref()))
}
