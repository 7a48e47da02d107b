//! Effect handlers, one module each. Each is a [`Messenger`](crate::runtime::Messenger) plus a
//! function that runs a closure under it.

mod block;
mod condition;
mod enumerate;
mod intervene;
mod mask;
mod replay;
mod scale;
mod seed;
mod substitute;
mod trace;

pub use block::{block, BlockSpec};
pub use condition::condition;
pub use enumerate::{config_enumerate, enumerate};
pub use intervene::intervene;
pub use mask::mask;
pub use replay::replay;
pub use scale::scale;
pub use seed::{seed, set_rng_seed};
pub use substitute::substitute;
pub use trace::{get_trace, trace};

use tch::Tensor;

/// Values by site name, as `condition`, `substitute` and `replay` take them.
pub type SiteValues = indexmap::IndexMap<String, Tensor>;

/// Builds [`SiteValues`] from pairs: `values(&[("obs", &y)])`.
pub fn values(pairs: &[(&str, &Tensor)]) -> SiteValues {
    pairs.iter().map(|(k, v)| (k.to_string(), v.shallow_clone())).collect()
}
