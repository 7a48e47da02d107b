//! `scale`: multiplies log-densities.

use crate::error::{PyriteError, Result};
use crate::message::{Message, SiteKind};
use crate::runtime::{with_handler, Messenger};

struct ScaleMessenger {
    factor: f64,
}

impl Messenger for ScaleMessenger {
    fn process_message(&mut self, msg: &mut Message) -> Result<()> {
        if msg.kind == SiteKind::Sample {
            if !(self.factor > 0.0 && self.factor.is_finite()) {
                return Err(PyriteError::InvalidInput {
                    what: format!("scale around site `{}`", msg.name),
                    problem: format!("the factor must be positive and finite, got {}", self.factor),
                });
            }
            msg.scale *= self.factor;
        }
        Ok(())
    }
}

/// Runs `f` with every sample site's log-density multiplied by `factor > 0` (`poutine.scale`).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let x = tch::Tensor::from(0.5f32);
/// let tr = get_trace(|| scale(10.0, || observe("x", Normal::new(0.0, 1.0)?, &x)))?;
/// let site = tr.site("x").unwrap();
/// assert_eq!(site.scale, 10.0);
/// assert!(tr.log_prob_sum()?.allclose(&(site.log_prob()? * 10.0), 1e-6, 1e-6, false));
/// # Ok::<(), PyriteError>(())
/// ```
///
/// # Errors
///
/// `scale` returns what `f` returns, like the other handlers. A `factor` that is not positive
/// and finite makes each sample statement inside `f` fail with [`PyriteError::InvalidInput`]
/// naming its site.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let err = scale(-1.0, || sample("x", Normal::new(0.0, 1.0)?)).unwrap_err();
/// assert!(err.to_string().contains("`x`"));
/// ```
pub fn scale<R>(factor: f64, f: impl FnOnce() -> R) -> R {
    with_handler(ScaleMessenger { factor }, f).0
}
