//! Inference for pyrite: SVI with ELBO losses, optimizers, autoguides and `Predictive`.

pub mod autoguide;
pub mod elbo;
pub mod optim;
pub mod predictive;
pub mod svi;

/// What users import from this crate.
pub mod prelude {
    pub use crate::autoguide::{
        AutoContinuous, AutoDelta, AutoDiagonalNormal, AutoLowRankMultivariateNormal, AutoMultivariateNormal, AutoNormal,
        InitStrategy,
    };
    pub use crate::elbo::{Elbo, TraceElbo};
    pub use crate::optim::{LrSchedule, Optimizer};
    pub use crate::predictive::{summary, Predictive, Samples, SiteSummary};
    pub use crate::svi::{Guide, Svi};
}
