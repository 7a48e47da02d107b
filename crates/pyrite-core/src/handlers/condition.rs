//! `condition`: turns latent sites into observed ones.

use super::SiteValues;
use crate::error::Result;
use crate::message::{Message, SiteKind};
use crate::runtime::{with_handler, Messenger};

struct ConditionMessenger {
    data: SiteValues,
}

impl Messenger for ConditionMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind == SiteKind::Sample {
            if let Some(v) = self.data.get(&msg.name) {
                msg.value = Some(v.shallow_clone());
                msg.is_observed = true;
                msg.done = true;
            }
        }
        Ok(())
    }
}

/// Runs `f` with the named sample sites observed at the given values (`pyro.condition`).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let y = tch::Tensor::from(1.5f32);
/// let (_, tr) = trace(|| condition(values(&[("y", &y)]), || sample("y", Normal::new(0.0, 1.0)?)));
/// assert!(tr.site("y").unwrap().is_observed);
/// ```
pub fn condition<R>(data: SiteValues, f: impl FnOnce() -> R) -> R {
    with_handler(ConditionMessenger { data }, f).0
}
