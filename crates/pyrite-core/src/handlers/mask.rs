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
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let x = tch::Tensor::from_slice(&[0.0f32, 100.0]);
/// let keep = tch::Tensor::from_slice(&[true, false]);
/// let tr = get_trace(|| mask(&keep, || plate("data", 2, |_| observe("x", Normal::new(0.0, 1.0)?, &x))))?;
/// // The outlier's log-density is zeroed.
/// let lp = tr.site("x").unwrap().log_prob()?;
/// assert_eq!(lp.double_value(&[1]), 0.0);
/// assert!(lp.double_value(&[0]) < 0.0);
/// # Ok::<(), PyriteError>(())
/// ```
///
/// # Errors
///
/// [`PyriteError::InvalidInput`] if `mask` is not a bool tensor; otherwise `f`'s errors.
pub fn mask<R>(mask: &Tensor, f: impl FnOnce() -> Result<R>) -> Result<R> {
    if mask.kind() != Kind::Bool {
        return Err(PyriteError::InvalidInput { what: "mask".into(), problem: format!("must be a bool tensor, got {:?}", mask.kind()) });
    }
    with_handler(MaskMessenger { mask: mask.shallow_clone() }, f).0
}
