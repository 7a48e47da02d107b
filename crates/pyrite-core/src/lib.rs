//! The pyrite language: `sample`, `param` and `plate` statements inside ordinary Rust closures,
//! and the effect handlers (trace, replay, condition, block, scale, mask, seed, substitute,
//! enumerate) that interpret them, as in Pyro's `poutine`.
//!
//! ```
//! use pyrite_core::prelude::*;
//! use pyrite_distributions::prelude::*;
//!
//! let model = || -> Result<()> {
//!     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
//!     plate("data", 3, |_| {
//!         observe("obs", Normal::new(&mu, 1.0)?, &tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]))
//!     })?;
//!     Ok(())
//! };
//! let tr = get_trace(model)?;
//! assert_eq!(tr.names(), vec!["mu", "obs"]);
//! # Ok::<(), PyriteError>(())
//! ```

#![warn(missing_docs)]

pub mod device;
pub mod error;
pub mod glmm;
pub mod handlers;
pub use pyrite_distributions::host_reads;
pub mod markov;
pub mod memory;
pub mod message;
pub mod ode;
pub mod param_store;
pub mod plate;
pub mod primitives;
pub mod random_module;
pub mod render;
pub mod runtime;
pub mod safetensors_doc;
pub mod trace;
mod unit;

pub use error::{PyriteError, Result};

/// What a model author imports.
pub mod prelude {
    pub use crate::device::{cuda_available, device_from_flag};
    pub use crate::error::{PyriteError, Result};
    pub use crate::handlers::{
        block, condition, config_enumerate, enumerate, get_trace, intervene, mask, replay, scale, seed, set_rng_seed, substitute, trace, values, BlockSpec,
        SiteValues,
    };
    pub use crate::markov::{markov, markov_with_history};
    pub use crate::message::{lazy, Enumerate, InferConfig, Message, PlateFrame, SiteKind};
    pub use crate::ode;
    pub use crate::param_store::{get_param_store, new_param_store, with_param_store, ParamStore, ParamStoreHandle};
    pub use crate::plate::{plate, BuiltPlate, Plate, PlateScope};
    pub use crate::primitives::{deterministic, factor, module, observe, param, sample, sample_obs, SampleSite};
    pub use crate::random_module::{linear_from, random_module, ParamSpec, PyroLinear};
    pub use crate::render::{render_model, RenderOptions};
    pub use crate::trace::{Site, Trace};
}
