//! Chainable helpers on any distribution: `to_event`, `mask`, `expand_to`.

use tch::Tensor;

use crate::distribution::{DistRef, IntoDist};
use crate::error::Result;
use crate::families::independent::Independent;
use crate::families::masked::Masked;

/// `to_event`, `mask` and `expand_to` for every distribution, as in Pyro.
///
/// ```
/// use pyrite_distributions::prelude::*;
/// let d = Normal::new(tch::Tensor::zeros([3], (tch::Kind::Float, tch::Device::Cpu)), 1.0)
///     .unwrap()
///     .to_event(1)
///     .unwrap();
/// assert_eq!(d.batch_shape(), &[] as &[i64]);
/// assert_eq!(d.event_shape(), &[3]);
/// ```
pub trait DistributionExt: IntoDist + Sized {
    /// Reinterprets the `n` rightmost batch dims as event dims (`Independent`).
    fn to_event(self, n: usize) -> Result<Independent> {
        Independent::new(self, n)
    }
    /// Zeroes `log_prob` where the boolean `mask` is false.
    fn mask(self, mask: &Tensor) -> Result<Masked> {
        Masked::new(self, mask)
    }
    /// Broadcasts the batch shape to `batch_shape`.
    fn expand_to(self, batch_shape: &[i64]) -> Result<DistRef> {
        self.into_dist().expand(batch_shape)
    }
}

impl<T: IntoDist> DistributionExt for T {}
