//! `intervene`: Pyro's `poutine.do`, fixing sites' values for what follows them.

use super::SiteValues;
use crate::error::Result;
use crate::message::{Message, SiteKind};
use crate::runtime::{with_handler, Messenger};

struct InterveneMessenger {
    data: SiteValues,
}

impl Messenger for InterveneMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind != SiteKind::Sample || msg.intervened {
            return Ok(());
        }
        let Some(v) = self.data.get(&msg.name) else { return Ok(()) };
        // The site itself is still sampled (or observed) as written, by a copy of the message
        // sent through the whole stack once this one is done.
        let mut original = Message::new(&msg.name, SiteKind::Sample);
        original.dist = msg.dist.clone();
        original.infer = msg.infer.clone();
        if msg.is_observed {
            original.value = msg.value.as_ref().map(|t| t.shallow_clone());
            original.is_observed = true;
        }
        original.intervened = true;
        msg.split = Some(Box::new(original));
        // What the program sees from here on is the intervention, as an observed
        // counterfactual site `name__CF` that handlers outside this one do not see.
        msg.name.push_str("__CF");
        msg.value = Some(v.shallow_clone());
        msg.is_observed = true;
        msg.done = true;
        msg.stop = true;
        Ok(())
    }
}

/// Runs `f` with the named sample sites intervened on (`poutine.do`): each such site is still
/// sampled and recorded as usual, but the program goes on with the given value, so the sites
/// downstream of it see the intervention while the site's own log-density does not condition
/// on it (unlike [`condition`](super::condition)).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let model = || -> Result<tch::Tensor> {
///     let z = sample("z", Normal::new(0.0, 1.0)?)?;
///     sample("x", Normal::new(z * 2.0, 0.001)?)
/// };
/// let v = tch::Tensor::from(3.0f32);
/// let (x, tr) = trace(|| intervene(values(&[("z", &v)]), model));
/// // x follows the intervention, z itself is a draw from its prior
/// assert!((x?.double_value(&[]) - 6.0).abs() < 0.01);
/// let z = tr.site("z").unwrap();
/// assert!(!z.is_observed);
/// assert_ne!(z.value.double_value(&[]), 3.0);
/// # Ok::<(), PyriteError>(())
/// ```
pub fn intervene<R>(data: SiteValues, f: impl FnOnce() -> R) -> R {
    with_handler(InterveneMessenger { data }, f).0
}
