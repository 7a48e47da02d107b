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
}

/// Runs `f` with the named latent sample sites and params set to the given values, which stay
/// latent (unlike `condition`).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let model = || -> Result<tch::Tensor> {
///     let loc = param("loc", 0.0, Constraint::Real)?;
///     sample("x", Normal::new(&loc, 1.0)?)
/// };
/// let v = tch::Tensor::from(2.0f32);
/// let tr = get_trace(|| substitute(values(&[("loc", &v), ("x", &v)]), model))?;
/// assert_eq!(tr.site("loc").unwrap().value.double_value(&[]), 2.0);
/// let x = tr.site("x").unwrap();
/// assert_eq!(x.value.double_value(&[]), 2.0);
/// assert!(x.is_latent());
/// # Ok::<(), PyriteError>(())
/// ```
pub fn substitute<R>(data: SiteValues, f: impl FnOnce() -> R) -> R {
    with_handler(SubstituteMessenger { data }, f).0
}
