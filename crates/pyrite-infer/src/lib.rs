//! Inference for pyrite: SVI with ELBO losses, optimizers, autoguides and `Predictive`; model
//! comparison (pointwise log-likelihoods, WAIC, PSIS-LOO) and `.npz` export of draws.

#![warn(missing_docs)]

pub mod autoguide;
pub mod compare;
mod compiled_step;
pub mod contract;
pub mod elbo;
pub mod export;
pub mod infer_discrete;
pub mod log_likelihood;
pub mod optim;
pub mod predictive;
pub mod psis;
pub mod svi;

/// What users import from this crate.
pub mod prelude {
    pub use crate::autoguide::{
        AutoContinuous, AutoDelta, AutoDiagonalNormal, AutoGuide, AutoGuideList, AutoLowRankMultivariateNormal, AutoMultivariateNormal, AutoNormal,
        GuidePosterior, InitStrategy,
    };
    pub use crate::compare::{compare, loo, waic, Comparison, Criterion, Elpd, LogLikMatrix, Loo, ModelWeights};
    pub use crate::elbo::{Elbo, TraceElbo, TraceEnumElbo, TraceMeanFieldElbo};
    pub use crate::export::save_npz;
    pub use crate::infer_discrete::infer_discrete;
    pub use crate::log_likelihood::{log_likelihood, log_likelihood_sequential};
    pub use crate::optim::{LrSchedule, Optimizer};
    pub use crate::predictive::{summary, Predictive, Samples, SiteSummary};
    pub use crate::svi::{Guide, OnNonFinite, SendSvi, Svi};
}
