//! MCMC for pyrite: the No-U-Turn sampler and Hamiltonian Monte Carlo with warm-up adaptation,
//! several chains, exact enumeration of discrete latents, and convergence diagnostics.

#![warn(missing_docs)]

pub mod adapt;
mod chain_run;
pub mod compiled_potential;
pub mod continuous_adaptation;
pub mod diagnostics;
pub mod discrete;
pub mod hmc;
pub mod integrator;
pub mod kernel;
pub mod low_rank;
pub mod mcmc;
pub mod model_potential;
pub mod nuts;
pub mod potential;
pub mod rejecting;
pub mod sampler;
pub mod settings;
pub mod stuck_chains;
pub mod summary;
pub mod tensor_potential;

/// What users import from this crate.
pub mod prelude {
    pub use crate::diagnostics::{ess_bulk, ess_tail, hpdi, split_rhat};
    pub use crate::discrete::infer_discrete_samples;
    pub use crate::kernel::{Hmc, Kernel, Nuts};
    pub use crate::mcmc::{ChainMethod, ChainStats, Mcmc};
    pub use crate::settings::{Adaptive, Metric};
    pub use crate::summary::{format_summary, posterior_summary, summary_to_json, PosteriorSummary};
}
