//! A model that fails at some proposed points (a covariance that is not positive definite, whose
//! Cholesky factorisation fails) runs to the end: those proposals are rejected as divergent
//! transitions, counted, and the posterior is the one restricted to where the model is defined,
//! as in Stan. Eager and compiled (the default) alike; vectorised chains too.

use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use pyrite_mcmc::prelude::*;
use tch::{Device, Kind, Tensor};

const Y: [f64; 2] = [1.2, 1.1];

/// `r ~ Uniform(-1.5, 1.5)`, `y ~ MVN(0, [[1, r], [r, 1]])`: positive definite for |r| < 1 only.
fn model(y: &Tensor) -> Result<()> {
    let f = |v: f64| Tensor::from(v);
    let r = sample("r", Uniform::new(f(-1.5), f(1.5))?)?;
    let one = f(1.0);
    let cov = Tensor::stack(&[Tensor::stack(&[&one, &r], 0), Tensor::stack(&[&r, &one], 0)], 0);
    let zero = Tensor::zeros([2], (Kind::Double, Device::Cpu));
    observe("y", MultivariateNormal::from_covariance(&zero, &cov)?, y).map(drop)
}

/// The posterior mean of r on a grid over (-1, 1).
fn exact_mean() -> f64 {
    let (mut w, mut m) = (0.0, 0.0);
    for i in 1..40_000 {
        let r = -1.0 + 2.0 * i as f64 / 40_000.0;
        let q = (Y[0] * Y[0] - 2.0 * r * Y[0] * Y[1] + Y[1] * Y[1]) / (1.0 - r * r);
        let p = (-0.5 * (1.0 - r * r).ln() - 0.5 * q).exp();
        w += p;
        m += p * r;
    }
    m / w
}

#[test]
fn proposals_where_the_model_fails_are_rejected_and_the_run_goes_on() {
    tch::set_num_threads(1);
    let y = Tensor::from_slice(&Y);
    let want = exact_mean();
    for (compiled, method) in [(false, ChainMethod::Sequential), (true, ChainMethod::Sequential), (true, ChainMethod::Vectorized)] {
        let mut mcmc = Mcmc::new(Nuts::new(&model).compiled(compiled)).warmup(300).samples(1200).chains(2).chain_method(method).seed(11).progress(false);
        mcmc.run(&y).unwrap();
        let r = &mcmc.get_samples().unwrap()["r"];
        let failures: usize = mcmc.chain_stats().unwrap().iter().map(|s| s.failures).sum();
        assert!(failures > 0, "no proposal beyond |r| = 1 ({compiled}, {method:?})");
        let first = mcmc.chain_stats().unwrap().iter().find_map(|s| s.first_failure.clone()).unwrap();
        assert!(first.contains("positive definite"), "{first}");
        assert!(r.abs().max().double_value(&[]) < 1.0, "a draw where the model is not defined");
        let mean = r.mean(Kind::Double).double_value(&[]);
        assert!((mean - want).abs() < 0.05, "posterior mean {mean}, exactly {want} ({compiled}, {method:?})");
    }
}

#[test]
fn a_model_that_fails_at_every_initial_point_is_an_error_naming_the_cause() {
    let model = |_: &()| -> Result<()> {
        let r = sample("r", Uniform::new(Tensor::from(2.0f64), Tensor::from(3.0f64))?)?;
        let one = Tensor::from(1.0f64);
        let cov = Tensor::stack(&[Tensor::stack(&[&one, &r], 0), Tensor::stack(&[&r, &one], 0)], 0);
        let zero = Tensor::zeros([2], (Kind::Double, Device::Cpu));
        observe("y", MultivariateNormal::from_covariance(&zero, &cov)?, &Tensor::from_slice(&Y)).map(drop)
    };
    let mut mcmc = Mcmc::new(Nuts::new(&model)).warmup(10).samples(10).seed(1).progress(false);
    let err = mcmc.run(&()).unwrap_err().to_string();
    assert!(err.contains("MultivariateNormal") && err.contains("positive"), "{err}");
}

#[test]
fn a_libtorch_failure_is_reported_in_one_line_without_its_cpp_backtrace() {
    tch::set_num_threads(1);
    // The factorisation itself (libtorch's error, not a distribution's check) fails for |r| >= 1.
    let model = |y: &Tensor| -> Result<()> {
        let r = sample("r", Uniform::new(Tensor::from(-1.5f64), Tensor::from(1.5f64))?)?;
        let one = Tensor::from(1.0f64);
        let cov = Tensor::stack(&[Tensor::stack(&[&one, &r], 0), Tensor::stack(&[&r, &one], 0)], 0);
        let scale_tril = cov.f_linalg_cholesky(false)?;
        let zero = Tensor::zeros([2], (Kind::Double, Device::Cpu));
        observe("y", MultivariateNormal::from_scale_tril(&zero, &scale_tril)?, y).map(drop)
    };
    let mut mcmc = Mcmc::new(Nuts::new(&model).compiled(false)).warmup(200).samples(200).seed(3).progress(false);
    mcmc.run(&Tensor::from_slice(&Y)).unwrap();
    let first = mcmc.chain_stats().unwrap().iter().find_map(|s| s.first_failure.clone()).expect("no proposal beyond |r| = 1");
    assert!(first.starts_with("libtorch: linalg.cholesky: "), "{first}");
    assert!(!first.contains("Exception raised from") && !first.contains('\n'), "{first}");
}
