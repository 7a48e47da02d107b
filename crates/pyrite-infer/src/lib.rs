//! Inference for pyrite: SVI with ELBO losses, optimizers, autoguides and `Predictive`.

#![warn(missing_docs)]

pub mod autoguide;
pub mod contract;
pub mod elbo;
pub mod infer_discrete;
pub mod optim;
pub mod predictive;
pub mod svi;

/// What users import from this crate.
pub mod prelude {
    pub use crate::autoguide::{
        AutoContinuous, AutoDelta, AutoDiagonalNormal, AutoLowRankMultivariateNormal, AutoMultivariateNormal, AutoNormal,
        InitStrategy,
    };
    pub use crate::elbo::{Elbo, TraceElbo, TraceEnumElbo, TraceMeanFieldElbo};
    pub use crate::infer_discrete::infer_discrete;
    pub use crate::optim::{LrSchedule, Optimizer};
    pub use crate::predictive::{summary, Predictive, Samples, SiteSummary};
    pub use crate::svi::{Guide, Svi};
}
