//! `block`: hides sites from the handlers outside it.

use crate::error::Result;
use crate::message::{Message, SiteKind};
use crate::runtime::{with_handler, Messenger};

/// Which sites `block` hides.
pub enum BlockSpec {
    /// Every site.
    All,
    /// These names.
    Hide(Vec<String>),
    /// All but these names.
    Expose(Vec<String>),
    /// Sites of these kinds.
    HideKinds(Vec<SiteKind>),
    /// All but sites of these kinds.
    ExposeKinds(Vec<SiteKind>),
    /// Sites for which the predicate is true.
    Predicate(Box<dyn Fn(&Message) -> bool>),
}

impl BlockSpec {
    /// Hides the named sites.
    pub fn hide(names: &[&str]) -> Self {
        BlockSpec::Hide(names.iter().map(|s| s.to_string()).collect())
    }
    /// Hides everything but the named sites.
    pub fn expose(names: &[&str]) -> Self {
        BlockSpec::Expose(names.iter().map(|s| s.to_string()).collect())
    }
    fn hides(&self, msg: &Message) -> bool {
        match self {
            BlockSpec::All => true,
            BlockSpec::Hide(n) => n.contains(&msg.name),
            BlockSpec::Expose(n) => !n.contains(&msg.name),
            BlockSpec::HideKinds(k) => k.contains(&msg.kind),
            BlockSpec::ExposeKinds(k) => !k.contains(&msg.kind),
            BlockSpec::Predicate(p) => p(msg),
        }
    }
}

struct BlockMessenger {
    spec: BlockSpec,
}

impl Messenger for BlockMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if self.spec.hides(msg) {
            msg.stop = true;
        }
        Ok(())
    }
}

/// Runs `f` with the chosen sites invisible to the handlers outside (`poutine.block`).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let (_, tr) = trace(|| block(BlockSpec::expose(&["a"]), || -> Result<()> {
///     sample("a", Normal::new(0.0, 1.0)?)?;
///     sample("b", Normal::new(0.0, 1.0)?)?;
///     Ok(())
/// }));
/// assert_eq!(tr.names(), vec!["a"]);
/// ```
pub fn block<R>(spec: BlockSpec, f: impl FnOnce() -> R) -> R {
    with_handler(BlockMessenger { spec }, f).0
}
