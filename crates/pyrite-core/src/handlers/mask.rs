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
            if self.mask.kind() != Kind::Bool {
                return Err(PyriteError::InvalidInput {
                    what: format!("mask around site `{}`", msg.name),
                    problem: format!("the mask must be a bool tensor, got {:?}", self.mask.kind()),
                });
            }
            msg.mask = Some(match &msg.mask {
                Some(m) => m.f_logical_and(&self.mask).map_err(|_| PyriteError::Shape {
                    site: msg.name.clone(),
                    detail: format!("nested masks of shapes {:?} and {:?} do not broadcast", m.size(), self.mask.size()),
                })?,
                None => self.mask.shallow_clone(),
            });
        }
        Ok(())
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
/// `mask` returns what `f` returns, like the other handlers. A mask that is not a bool tensor
/// makes each sample statement inside `f` fail with [`PyriteError::InvalidInput`] naming its
/// site, and so does one whose shape does not broadcast with an enclosing mask's, with
/// [`PyriteError::Shape`]; a mask whose shape does not broadcast with a site's log-density is a
/// [`PyriteError::Shape`] naming the site when the log-density is computed.
pub fn mask<R>(mask: &Tensor, f: impl FnOnce() -> R) -> R {
    with_handler(MaskMessenger { mask: mask.shallow_clone() }, f).0
}
