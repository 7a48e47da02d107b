//! The distribution families, one module each.

pub(crate) mod common;

macro_rules! family_common {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn batch_shape(&self) -> &[i64] {
            &self.batch_shape
        }
    };
}

pub mod bernoulli;
pub mod beta;
pub mod binomial;
pub mod categorical;
pub mod cauchy;
pub mod delta;
pub mod dirichlet;
pub mod exponential;
pub mod gamma;
pub mod half_cauchy;
pub mod half_normal;
pub mod half_student_t;
pub mod improper_uniform;
pub mod independent;
pub mod inverse_gamma;
pub mod laplace;
pub mod lkj_cholesky;
pub mod log_normal;
pub mod low_rank_mvn;
pub mod masked;
pub mod multivariate_normal;
pub mod negative_binomial;
pub mod normal;
pub mod one_hot_categorical;
pub mod poisson;
pub mod student_t;
pub mod transformed;
pub mod uniform;
