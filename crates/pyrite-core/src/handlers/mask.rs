//! `mask`: zeroes log-densities where a mask is false.

use tch::{Kind, Tensor};

use crate::error::{PyriteError, Result};
use crate::message::{Message, SiteKind};
use crate::runtime::{with_handler, Messenger};

struct MaskMessenger {
    mask: Tensor,
}

impl Messenger for MaskMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind == SiteKind::Sample {
            msg.mask = Some(match &msg.mask {
                Some(m) => m.logical_and(&self.mask),
                None => self.mask.shallow_clone(),
            });
        }
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// Runs `f` with every sample site's log-density masked by the boolean `mask` (`poutine.mask`).
pub fn mask<R>(mask: &Tensor, f: impl FnOnce() -> Result<R>) -> Result<R> {
    if mask.kind() != Kind::Bool {
        return Err(PyriteError::InvalidInput { what: "mask".into(), problem: format!("must be a bool tensor, got {:?}", mask.kind()) });
    }
    with_handler(MaskMessenger { mask: mask.shallow_clone() }, f).0
}
