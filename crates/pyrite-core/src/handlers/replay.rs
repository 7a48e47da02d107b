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
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// Runs `f` with each latent sample site (and plate subsample) that `trace` holds taking the
/// recorded value (`poutine.replay(model, trace=guide_trace)`).
pub fn replay<R>(trace: &Trace, f: impl FnOnce() -> R) -> R {
    with_handler(ReplayMessenger { trace: trace.clone() }, f).0
}
