//! `replay`: reuses the values of a recorded trace.

use crate::error::{PyriteError, Result};
use crate::message::{Message, SiteKind};
use crate::runtime::{with_handler, Messenger};
use crate::trace::Trace;

struct ReplayMessenger {
    trace: Trace,
}

impl Messenger for ReplayMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind == SiteKind::Param || msg.is_observed {
            return Ok(());
        }
        if let Some(site) = self.trace.site(&msg.name) {
            if site.kind != msg.kind || (site.kind == SiteKind::Sample && site.is_observed) {
                return Err(PyriteError::GuideMismatch {
                    site: msg.name.clone(),
                    detail: format!("replayed from a {} site that is not a sampled latent", site.kind.as_str()),
                });
            }
            msg.value = Some(site.value.shallow_clone());
            msg.infer = site.infer.clone();
            msg.done = true;
        }
        Ok(())
    }
}

/// Runs `f` with each latent sample site (and plate subsample) that `trace` holds taking the
/// recorded value (`poutine.replay(model, trace=guide_trace)`).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let guide = || sample("z", Normal::new(1.0, 0.1)?);
/// let model = || sample("z", Normal::new(0.0, 1.0)?);
/// let guide_tr = get_trace(guide)?;
/// let model_tr = get_trace(|| replay(&guide_tr, model))?;
/// // The model's `z` takes the guide's value, scored under the model's prior.
/// let (z_model, z_guide) = (model_tr.site("z").unwrap(), guide_tr.site("z").unwrap());
/// assert!(z_model.value.equal(&z_guide.value));
/// let prior_lp = Normal::new(0.0, 1.0)?.log_prob(&z_guide.value)?;
/// assert!(z_model.log_prob()?.allclose(&prior_lp, 1e-6, 1e-6, false));
/// # Ok::<(), PyriteError>(())
/// ```
pub fn replay<R>(trace: &Trace, f: impl FnOnce() -> R) -> R {
    with_handler(ReplayMessenger { trace: trace.clone() }, f).0
}
