//! Probability distributions for pyrite, with the semantics of `torch.distributions` and
//! `pyro.distributions`: batch and event shapes, reparameterised sampling, log densities,
//! moments, `expand`, `to_event`, masks and enumeration of discrete supports; constraints and the
//! bijective transforms that map unconstrained reals onto them.
//!
//! ```
//! use pyrite_distributions::prelude::*;
//! let d = Gamma::new(2.0, 3.0).unwrap();
//! let x = d.rsample(&[1000]).unwrap();
//! assert_eq!(x.size(), vec![1000]);
//! ```

#![warn(missing_docs)]

pub mod constraints;
pub mod device;
pub mod distribution;
pub mod error;
mod ext;
pub mod families;
pub mod host_reads;
pub mod kl;
pub mod shape;
pub mod transforms;
pub mod validation;

pub use constraints::Constraint;
pub use device::{default_device, set_default_device};
pub use distribution::{validate_value, DistRef, Distribution, IntoDist, IntoParam, IntoSiteDist};
pub use error::DistError;
pub use ext::DistributionExt;
pub use families::{
    bernoulli::Bernoulli, beta::Beta, binomial::Binomial, categorical::Categorical, cauchy::Cauchy, delta::Delta, dirichlet::Dirichlet,
    exponential::Exponential, gamma::Gamma, half_cauchy::HalfCauchy, half_normal::HalfNormal, half_student_t::HalfStudentT, improper_uniform::ImproperUniform,
    independent::Independent, inverse_gamma::InverseGamma, laplace::Laplace, lkj_cholesky::LKJCholesky, log_normal::LogNormal,
    low_rank_mvn::LowRankMultivariateNormal, masked::Masked, multivariate_normal::MultivariateNormal, negative_binomial::NegativeBinomial, normal::Normal,
    one_hot_categorical::OneHotCategorical, poisson::Poisson, student_t::StudentT, transformed::TransformedDistribution, uniform::Uniform,
};
pub use kl::kl_divergence;
pub use transforms::{biject_to, Transform, TransformRef};
pub use validation::{set_validation, validation_enabled, without_validation};

/// Everything a model author needs from this crate.
pub mod prelude {
    pub use crate::constraints::{self, Constraint};
    pub use crate::device::{default_device, set_default_device};
    pub use crate::kl::kl_divergence;
    pub use crate::transforms::{biject_to, Transform, TransformRef};
    pub use crate::validation::{set_validation, validation_enabled, without_validation};
    pub use crate::{
        Bernoulli, Beta, Binomial, Categorical, Cauchy, Delta, Dirichlet, DistError, DistRef, Distribution, DistributionExt, Exponential, Gamma, HalfCauchy,
        HalfNormal, HalfStudentT, ImproperUniform, Independent, IntoDist, IntoParam, IntoSiteDist, InverseGamma, LKJCholesky, Laplace, LogNormal,
        LowRankMultivariateNormal, Masked, MultivariateNormal, NegativeBinomial, Normal, OneHotCategorical, Poisson, StudentT, TransformedDistribution,
        Uniform,
    };
}
