//! `substitute`: fixes the values of sample and param sites.

use super::SiteValues;
use crate::error::Result;
use crate::message::{Message, SiteKind};
use crate::runtime::{with_handler, Messenger};

struct SubstituteMessenger {
    data: SiteValues,
}

impl Messenger for SubstituteMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind == SiteKind::Subsample || msg.is_observed {
            return Ok(());
        }
        if let Some(v) = self.data.get(&msg.name) {
            msg.value = Some(v.shallow_clone());
            msg.done = true;
        }
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// Runs `f` with the named latent sample sites and params set to the given values, which stay
/// latent (unlike `condition`).
pub fn substitute<R>(data: SiteValues, f: impl FnOnce() -> R) -> R {
    with_handler(SubstituteMessenger { data }, f).0
}
