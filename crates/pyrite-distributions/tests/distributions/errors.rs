//! Bad input gives a typed `DistError`, never a panic; `set_validation(false)` switches the
//! support and parameter checks off (but not the shape checks, which keep libtorch from
//! aborting).
//!
//! The validation flag is global and the harness runs tests on several threads, so every
//! assertion that depends on it lives in this one test, run in sequence; the flag is restored
//! even if an assertion fails. No other test depends on validation being on or off.

use pyrite_distributions::prelude::*;
use pyrite_distributions::set_validation;
use tch::{Device, Kind, Tensor};

use crate::util::*;

const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

/// Turns validation back on when dropped.
struct RestoreValidation;
impl Drop for RestoreValidation {
    fn drop(&mut self) {
        set_validation(true);
    }
}

#[track_caller]
fn invalid_param<T: std::fmt::Debug>(r: Result<T, DistError>, dist: &str, param: &str) -> String {
    match r {
        Err(DistError::InvalidParameter { dist: d, param: p, problem }) if d == dist && p == param => {
            let e = DistError::InvalidParameter { dist: d, param: p, problem };
            let msg = e.to_string();
            assert!(msg.contains(dist) && msg.contains(param), "message names the family and parameter: {msg}");
            msg
        }
        other => panic!("expected InvalidParameter {{ dist: {dist}, param: {param} }}, got {other:?}"),
    }
}

#[track_caller]
fn invalid_value<T: std::fmt::Debug>(r: Result<T, DistError>, dist: &str) -> String {
    match r {
        Err(e @ DistError::InvalidValue { .. }) => {
            let msg = e.to_string();
            assert!(msg.starts_with(dist), "message names {dist}: {msg}");
            msg
        }
        other => panic!("expected InvalidValue from {dist}, got {other:?}"),
    }
}

#[track_caller]
fn shape_err<T: std::fmt::Debug>(r: Result<T, DistError>, dist: &str) {
    match r {
        Err(DistError::Shape { dist: d, .. }) if d == dist => {}
        other => panic!("expected Shape error from {dist}, got {other:?}"),
    }
}

/// Runs `f`, failing the test with a message if it panics.
#[track_caller]
fn no_panic<R>(what: &str, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => panic!("{what}: panicked instead of returning a DistError"),
    }
}

fn v(x: &[f64]) -> Tensor {
    Tensor::from_slice(x)
}

#[test]
fn bad_input_gives_typed_errors_and_validation_switch() {
    let _restore = RestoreValidation;
    set_validation(true);
    assert!(pyrite_distributions::validation_enabled());

    // ---- parameters outside their constraints
    let msg = invalid_param(Normal::new(0.0, -1.0), "Normal", "scale");
    assert!(msg.contains("positive"), "{msg}");
    invalid_param(Normal::new(v(&[0.0, 1.0]), v(&[1.0, 0.0])), "Normal", "scale");
    let msg = invalid_param(Normal::new(f64::NAN, 1.0), "Normal", "loc");
    assert!(msg.contains("NaN"), "{msg}");
    invalid_param(Normal::new(0.0, f64::NAN), "Normal", "scale");
    invalid_param(HalfNormal::new(-2.0), "HalfNormal", "scale");
    invalid_param(LogNormal::new(0.0, 0.0), "LogNormal", "scale");
    invalid_param(Cauchy::new(0.0, -1.0), "Cauchy", "scale");
    invalid_param(HalfCauchy::new(-1.0), "HalfCauchy", "scale");
    invalid_param(Laplace::new(0.0, -1.0), "Laplace", "scale");
    invalid_param(StudentT::new(-1.0, 0.0, 1.0), "StudentT", "df");
    invalid_param(StudentT::new(3.0, 0.0, -1.0), "StudentT", "scale");
    invalid_param(Exponential::new(-1.0), "Exponential", "rate");
    invalid_param(Gamma::new(-1.0, 1.0), "Gamma", "concentration");
    invalid_param(Gamma::new(1.0, -1.0), "Gamma", "rate");
    invalid_param(InverseGamma::new(0.0, 1.0), "InverseGamma", "concentration");
    invalid_param(Beta::new(1.0, -0.5), "Beta", "concentration0");
    invalid_param(Dirichlet::new(v(&[1.0, -1.0])), "Dirichlet", "concentration");
    invalid_param(Dirichlet::new(Tensor::from(1.0)), "Dirichlet", "concentration");
    invalid_param(Uniform::new(1.0, 0.0), "Uniform", "high");
    invalid_param(Bernoulli::new(1.5), "Bernoulli", "probs");
    invalid_param(Bernoulli::from_logits(f64::NAN), "Bernoulli", "logits");
    invalid_param(Binomial::new(-1.0, 0.5), "Binomial", "total_count");
    invalid_param(Binomial::new(2.5, 0.5), "Binomial", "total_count");
    invalid_param(Binomial::new(3.0, -0.1), "Binomial", "probs");
    invalid_param(Poisson::new(-1.0), "Poisson", "rate");
    invalid_param(NegativeBinomial::new(-1.0, 0.5), "NegativeBinomial", "total_count");
    invalid_param(NegativeBinomial::new(2.0, 1.5), "NegativeBinomial", "probs");
    // Categorical probabilities must sum to one.
    let msg = invalid_param(Categorical::new(v(&[0.2, 0.3])), "Categorical", "probs");
    assert!(msg.contains("simplex"), "{msg}");
    invalid_param(Categorical::new(v(&[0.5, 0.7, -0.2])), "Categorical", "probs");
    invalid_param(Categorical::new(Tensor::from(1.0)), "Categorical", "probs");
    invalid_param(OneHotCategorical::new(v(&[0.2, 0.3])), "Categorical", "probs");
    invalid_param(Categorical::from_logits(v(&[0.0, f64::NAN])), "Categorical", "logits");
    invalid_param(LowRankMultivariateNormal::new(v(&[0.0, 0.0]), Tensor::ones([2, 1], F64), v(&[1.0, -1.0])), "LowRankMultivariateNormal", "cov_diag");
    invalid_param(Delta::new(Tensor::from(1.0), 1), "Delta", "event_dim");

    // ---- MultivariateNormal: non-square, non-PD, mismatched sizes
    let loc = v(&[0.0, 0.0]);
    invalid_param(MultivariateNormal::from_covariance(&loc, Tensor::ones([2, 3], F64)), "MultivariateNormal", "covariance_matrix");
    invalid_param(MultivariateNormal::from_covariance(&loc, v(&[1.0, 2.0])), "MultivariateNormal", "covariance_matrix");
    let not_pd = v(&[1.0, 2.0, 2.0, 1.0]).reshape([2, 2]);
    invalid_param(MultivariateNormal::from_covariance(&loc, &not_pd), "MultivariateNormal", "covariance_matrix");
    let not_sym = v(&[2.0, 1.0, 0.0, 2.0]).reshape([2, 2]);
    invalid_param(MultivariateNormal::from_covariance(&loc, &not_sym), "MultivariateNormal", "covariance_matrix");
    invalid_param(MultivariateNormal::from_precision(&loc, &not_pd), "MultivariateNormal", "precision_matrix");
    invalid_param(MultivariateNormal::from_precision(&loc, Tensor::ones([3, 2], F64)), "MultivariateNormal", "precision_matrix");
    invalid_param(MultivariateNormal::from_scale_tril(&loc, Tensor::ones([2, 3], F64)), "MultivariateNormal", "scale_tril");
    no_panic("MVN with a 1-d scale_tril", || invalid_param(MultivariateNormal::from_scale_tril(&loc, v(&[1.0, 1.0])), "MultivariateNormal", "scale_tril"));
    invalid_param(MultivariateNormal::from_scale_tril(&loc, v(&[1.0, 0.0, 0.0, -1.0]).reshape([2, 2])), "MultivariateNormal", "scale_tril");
    shape_err(MultivariateNormal::from_scale_tril(v(&[0.0, 0.0, 0.0]), Tensor::eye(2, F64)), "MultivariateNormal");
    shape_err(MultivariateNormal::from_covariance(Tensor::zeros([3, 2], F64), Tensor::eye(2, F64).expand([2, 2, 2], false)), "MultivariateNormal");

    // ---- parameters whose shapes do not broadcast
    shape_err(Normal::new(Tensor::zeros([3], F64), Tensor::ones([2], F64)), "Normal");
    shape_err(Gamma::new(Tensor::ones([2, 3], F64), Tensor::ones([4], F64)), "Gamma");
    shape_err(StudentT::new(Tensor::ones([3], F64), Tensor::zeros([2], F64), 1.0), "StudentT");
    shape_err(Uniform::new(Tensor::zeros([3], F64), Tensor::ones([2], F64)), "Uniform");
    shape_err(Binomial::new(Tensor::ones([3], F64), Tensor::full([2], 0.5, F64)), "Binomial");
    shape_err(LowRankMultivariateNormal::new(Tensor::zeros([3], F64), Tensor::ones([2, 1], F64), Tensor::ones([3], F64)), "LowRankMultivariateNormal");

    // ---- values outside the support
    invalid_value(Exponential::new(1.0).unwrap().log_prob(&v(&[1.0, -1.0])), "Exponential");
    invalid_value(Gamma::new(1.0, 1.0).unwrap().log_prob(&v(&[-0.5])), "Gamma");
    invalid_value(Beta::new(1.0, 1.0).unwrap().log_prob(&v(&[1.5])), "Beta");
    invalid_value(Uniform::new(0.0, 1.0).unwrap().log_prob(&v(&[2.0])), "Uniform");
    invalid_value(HalfNormal::new(1.0).unwrap().log_prob(&v(&[-1.0])), "HalfNormal");
    invalid_value(LogNormal::new(0.0, 1.0).unwrap().log_prob(&v(&[0.0])), "LogNormal");
    invalid_value(Bernoulli::new(0.3).unwrap().log_prob(&v(&[0.5])), "Bernoulli");
    invalid_value(Poisson::new(1.0).unwrap().log_prob(&v(&[1.5])), "Poisson");
    invalid_value(Binomial::new(3.0, 0.5).unwrap().log_prob(&v(&[4.0])), "Binomial");
    invalid_value(NegativeBinomial::new(3.0, 0.5).unwrap().log_prob(&v(&[-1.0])), "NegativeBinomial");
    let cat = Categorical::new(v(&[0.2, 0.3, 0.5])).unwrap();
    invalid_value(cat.log_prob(&Tensor::from_slice(&[0i64, 3])), "Categorical");
    invalid_value(cat.log_prob(&Tensor::from_slice(&[-1i64])), "Categorical");
    invalid_value(cat.log_prob(&v(&[0.5])), "Categorical");
    let oh = OneHotCategorical::new(v(&[0.2, 0.3, 0.5])).unwrap();
    invalid_value(oh.log_prob(&v(&[1.0, 1.0, 0.0])), "OneHotCategorical");
    invalid_value(Dirichlet::new(v(&[1.0, 1.0])).unwrap().log_prob(&v(&[0.5, 0.6])), "Dirichlet");
    let msg = invalid_value(Normal::new(0.0, 1.0).unwrap().log_prob(&v(&[f64::NAN])), "Normal");
    assert!(msg.contains("NaN"), "{msg}");
    invalid_value(Normal::new(0.0, 1.0).unwrap().to_event(0).unwrap().log_prob(&v(&[f64::NAN])), "Normal");

    // ---- values whose shape does not fit the batch or event shape
    let n3 = Normal::new(Tensor::zeros([3], F64), 1.0).unwrap();
    invalid_value(n3.log_prob(&Tensor::zeros([4], F64)), "Normal");
    invalid_value(n3.log_prob(&Tensor::zeros([2, 2], F64)), "Normal");
    let mvn = MultivariateNormal::from_scale_tril(Tensor::zeros([2, 3], F64), Tensor::eye(3, F64)).unwrap();
    invalid_value(mvn.log_prob(&Tensor::zeros([2], F64)), "MultivariateNormal");
    invalid_value(mvn.log_prob(&Tensor::zeros([3, 3], F64)), "MultivariateNormal");
    invalid_value(mvn.log_prob(&Tensor::from(0.0)), "MultivariateNormal");
    let cat2 = Categorical::new(Tensor::full([2, 3], 1.0 / 3.0, F64)).unwrap();
    invalid_value(cat2.log_prob(&Tensor::zeros([3], (Kind::Int64, Device::Cpu))), "Categorical");
    let d3 = Dirichlet::new(Tensor::ones([2, 3], F64)).unwrap();
    invalid_value(d3.log_prob(&Tensor::full([4], 0.25, F64)), "Dirichlet");
    invalid_value(oh.log_prob(&v(&[1.0, 0.0])), "OneHotCategorical");
    let lr = LowRankMultivariateNormal::new(Tensor::zeros([3], F64), Tensor::ones([3, 1], F64), Tensor::ones([3], F64)).unwrap();
    invalid_value(lr.log_prob(&Tensor::zeros([2], F64)), "LowRankMultivariateNormal");

    // ---- shape errors of the combinators
    shape_err(n3.expand(&[2]), "Normal");
    shape_err(Normal::new(Tensor::zeros([3], F64), 1.0).unwrap().to_event(2), "Independent");
    shape_err(Normal::new(Tensor::zeros([3], F64), 1.0).unwrap().mask(&Tensor::ones([2], (Kind::Bool, Device::Cpu))), "Masked");
    invalid_param(Normal::new(Tensor::zeros([3], F64), 1.0).unwrap().mask(&Tensor::ones([3], F64)), "Masked", "mask");

    // ---- unsupported operations
    assert!(matches!(cat.rsample(&[2]), Err(DistError::Unsupported { dist: "Categorical", op: "rsample" })));
    assert!(matches!(Poisson::new(1.0).unwrap().entropy(), Err(DistError::Unsupported { dist: "Poisson", .. })));
    assert!(matches!(Poisson::new(1.0).unwrap().rsample(&[]), Err(DistError::Unsupported { .. })));
    let e = Poisson::new(1.0).unwrap().entropy().unwrap_err();
    assert_eq!(e.to_string(), "Poisson: entropy is not supported");

    // ---- validation off: no support or parameter checks, no panics, shape checks stay
    set_validation(false);
    assert!(!pyrite_distributions::validation_enabled());
    no_panic("validation off", || {
        let n = Normal::new(0.0, -1.0).expect("no parameter check when validation is off");
        assert!(n.log_prob(&v(&[0.0])).is_ok());
        Gamma::new(-1.0, 1.0).expect("no check");
        Categorical::new(v(&[0.2, 0.3])).expect("no simplex check");
        let lp = Exponential::new(1.0).unwrap().log_prob(&v(&[-1.0, 1.0])).expect("no support check");
        assert_eq!(vals(&lp), vec![f64::NEG_INFINITY, -1.0]);
        let lp = Uniform::new(0.0, 1.0).unwrap().log_prob(&v(&[2.0])).unwrap();
        assert_eq!(vals(&lp), vec![f64::NEG_INFINITY]);
        let lp = HalfNormal::new(1.0).unwrap().log_prob(&v(&[-1.0])).unwrap();
        assert_eq!(vals(&lp), vec![f64::NEG_INFINITY]);
        assert!(Beta::new(1.0, 1.0).unwrap().log_prob(&v(&[1.5])).is_ok());
        assert!(Normal::new(0.0, 1.0).unwrap().log_prob(&v(&[f64::NAN])).is_ok());
        // Out-of-range category indices give -inf rather than an out-of-bounds gather.
        let lp = cat.log_prob(&Tensor::from_slice(&[0i64, 3, -1])).expect("no support check");
        assert_eq!(vals(&lp)[1..], [f64::NEG_INFINITY, f64::NEG_INFINITY]);
        assert!(close(vals(&lp)[0], 0.2f64.ln(), 1e-6, 0.0));
        let lp = cat2.log_prob(&Tensor::from_slice(&[7i64]).reshape([1, 1])).unwrap();
        assert_eq!(vals(&lp), vec![f64::NEG_INFINITY; 2]);
        let lp = oh.log_prob(&v(&[0.0, 0.0, 0.0])).unwrap();
        assert_eq!(lp.size(), Vec::<i64>::new());
        let lp = Binomial::new(3.0, 0.5).unwrap().log_prob(&v(&[4.0])).unwrap();
        assert_eq!(vals(&lp), vec![f64::NEG_INFINITY]);
        // Shapes are still checked (libtorch would abort otherwise) ...
        invalid_value(n3.log_prob(&Tensor::zeros([4], F64)), "Normal");
        invalid_value(mvn.log_prob(&Tensor::zeros([2], F64)), "MultivariateNormal");
        shape_err(Normal::new(Tensor::zeros([3], F64), Tensor::ones([2], F64)), "Normal");
        invalid_param(MultivariateNormal::from_covariance(&loc, Tensor::ones([2, 3], F64)), "MultivariateNormal", "covariance_matrix");
        // ... and a matrix that has no Cholesky factor is an error, not an abort.
        invalid_param(MultivariateNormal::from_covariance(&loc, &not_pd), "MultivariateNormal", "covariance_matrix");
        invalid_param(MultivariateNormal::from_precision(&loc, &not_pd), "MultivariateNormal", "precision_matrix");
        invalid_param(MultivariateNormal::from_precision(&loc, Tensor::zeros([2, 2], F64)), "MultivariateNormal", "precision_matrix");
    });
    set_validation(true);
    invalid_param(Normal::new(0.0, -1.0), "Normal", "scale");
}
