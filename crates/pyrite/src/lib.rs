//! # pyrite
//!
//! A probabilistic programming language in the style of Pyro, embedded in Rust and running on
//! libtorch through `tch`. Models and guides are ordinary closures calling `sample`, `param` and
//! `plate`; effect handlers interpret them; SVI, autoguides, `Predictive` and MCMC (NUTS, HMC) do inference.
//!
//! ```
//! use pyrite::prelude::*;
//!
//! let data = Tensor::from_slice(&[0.9f32, 1.1, 1.3]);
//! let model = |x: &Tensor| -> Result<()> {
//!     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
//!     plate("data", x.size()[0], |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
//!     Ok(())
//! };
//! let tr = get_trace(|| model(&data))?;
//! assert_eq!(tr.names(), vec!["mu", "obs"]);
//! # Ok::<(), PyriteError>(())
//! ```

#![warn(missing_docs)]

pub use pyrite_compile as compile;
pub use pyrite_core as core;
pub use pyrite_data as data;
/// Data-parallel SVI across processes and machines (feature `distributed`).
#[cfg(feature = "distributed")]
pub use pyrite_distributed as distributed;
pub use pyrite_distributions as distributions;
pub use pyrite_infer as infer;
pub use pyrite_mcmc as mcmc;
pub use tch;

/// Everything a model author needs: primitives, handlers, distributions, inference.
pub mod prelude {
    pub use pyrite_core::prelude::*;
    pub use pyrite_distributions::prelude::*;
    pub use pyrite_infer::prelude::*;
    pub use pyrite_mcmc::prelude::*;
    pub use tch::{Device, Kind, Tensor};
}
