//! NUTS and HMC on models whose posterior is known: conjugate pairs, constrained priors (so the
//! Jacobians are right), a mixture whose discrete sites are summed out (against a brute-force
//! grid), reproducibility for each chain method, and bad input.
//!
//! Tolerances are Monte Carlo errors from the chains' own bulk ESS: a mean within 4.5 standard
//! errors (`sd / sqrt(ess)`), a standard deviation within 4.5 of its standard errors
//! (`sd / sqrt(2 ess)`), plus a small floor.

use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use pyrite_mcmc::prelude::*;
use tch::{Kind, Tensor};

/// The flat draws of a site, element `i` of each draw, split by chain.
fn chains_of(mcmc_samples: &Tensor, i: i64) -> Vec<Vec<f64>> {
    let s = mcmc_samples.to_kind(Kind::Double);
    let (c, n) = (s.size()[0], s.size()[1]);
    let s = s.reshape([c, n, -1]).select(2, i);
    (0..c).map(|k| Vec::<f64>::try_from(s.get(k)).unwrap()).collect()
}

/// Checks the mean and sd of element `i` of a site against exact values, within Monte Carlo error.
#[track_caller]
fn assert_moments(what: &str, samples: &Tensor, i: i64, mean: f64, sd: f64) {
    let chains = chains_of(samples, i);
    let ess = ess_bulk(&chains).unwrap();
    let all: Vec<f64> = chains.concat();
    let n = all.len() as f64;
    let m = all.iter().sum::<f64>() / n;
    let s = (all.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(ess > 50.0, "{what}: bulk ESS {ess} too small to test");
    let (se_mean, se_sd) = (sd / ess.sqrt(), sd / (2.0 * ess).sqrt());
    assert!((m - mean).abs() <= 4.5 * se_mean + 1e-3 * sd, "{what}: mean {m} vs {mean} (se {se_mean}, ess {ess})");
    assert!((s - sd).abs() <= 4.5 * se_sd + 1e-3 * sd, "{what}: sd {s} vs {sd} (se {se_sd}, ess {ess})");
}

/// libtorch on one intra-op thread: the tensors are tiny, and two test threads each with an
/// OpenMP pool spinning on two cores make every operation cost milliseconds.
fn one_thread() {
    tch::set_num_threads(1);
}

fn run<'m, M: Fn(&Tensor) -> Result<()>>(model: &'m M, data: &Tensor, seed: u64) -> Mcmc<pyrite_mcmc::kernel::ModelTarget<'m, M>> {
    let mut mcmc = Mcmc::new(Nuts::new(model)).warmup(400).samples(800).chains(2).chain_method(ChainMethod::Vectorized).seed(seed).progress(false);
    mcmc.run(data).unwrap();
    mcmc
}

fn flips() -> Tensor {
    Tensor::from_slice(&[1.0f64, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
}

#[test]
fn normal_normal_matches_the_exact_posterior() {
    one_thread();
    let data = Tensor::from_slice(&[0.8f64, 1.9, 1.2, 0.4, 1.5, 2.2, 0.9, 1.1]);
    let model = |x: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(Tensor::from(0.0f64), Tensor::from(2.0f64)))?;
        plate("data", 8, |_| observe("obs", Normal::new(&mu, Tensor::from(1.0f64)), x)).map(drop)
    };
    let prec = 0.25 + 8.0;
    let mean = 10.0 / prec;
    let mcmc = run(&model, &data, 1);
    assert_moments("mu", &mcmc.get_samples_by_chain().unwrap()["mu"], 0, mean, prec.sqrt().recip());
    let stats = mcmc.chain_stats().unwrap();
    assert_eq!(stats.len(), 2);
    assert!(
        stats.iter().all(|s| (0.6..0.97).contains(&s.mean_accept_prob())),
        "acceptance {:?}",
        stats.iter().map(|s| s.mean_accept_prob()).collect::<Vec<_>>()
    );
    assert_eq!(mcmc.divergences().unwrap(), 0);
}

#[test]
fn beta_bernoulli_and_gamma_poisson_match_the_exact_posteriors() {
    one_thread();
    // p ~ Beta(2, 2), seven heads in ten flips: Beta(9, 5)
    let coin = |x: &Tensor| -> Result<()> {
        let p = sample("p", Beta::new(Tensor::from(2.0f64), Tensor::from(2.0f64)))?;
        plate("flips", 10, |_| observe("obs", Bernoulli::new(&p), x)).map(drop)
    };
    let mcmc = run(&coin, &flips(), 2);
    let (a, b) = (9.0f64, 5.0f64);
    let sd = (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
    assert_moments("p", &mcmc.get_samples_by_chain().unwrap()["p"], 0, a / (a + b), sd);

    // rate ~ Gamma(2, 1), counts ~ Poisson(rate): Gamma(2 + sum, 1 + n)
    let counts = Tensor::from_slice(&[3.0f64, 5.0, 2.0, 4.0, 6.0]);
    let poisson = |x: &Tensor| -> Result<()> {
        let rate = sample("rate", Gamma::new(Tensor::from(2.0f64), Tensor::from(1.0f64)))?;
        plate("counts", 5, |_| observe("obs", Poisson::new(&rate), x)).map(drop)
    };
    let mcmc = run(&poisson, &counts, 3);
    let (shape, rate) = (2.0 + 20.0, 1.0 + 5.0);
    assert_moments("rate", &mcmc.get_samples_by_chain().unwrap()["rate"], 0, shape / rate, shape.sqrt() / rate);
}

/// Priors alone, on constrained supports: the draws must follow the prior, which they do only
/// if each site's `log|det J|` is right.
#[test]
fn constrained_sites_follow_their_distribution() {
    one_thread();
    let model = |_: &Tensor| -> Result<()> {
        let _ = sample("scale", HalfNormal::new(Tensor::from(2.0f64)))?;
        let _ = sample("p", Beta::new(Tensor::from(2.0f64), Tensor::from(5.0f64)))?;
        let _ = sample("w", Dirichlet::new(Tensor::from_slice(&[1.0f64, 2.0, 3.0])))?;
        let _ = sample("corr", LKJCholesky::new(3, Tensor::from(2.0f64)))?;
        Ok(())
    };
    let mcmc = run(&model, &Tensor::from(0.0f64), 4);
    let s = mcmc.get_samples_by_chain().unwrap();
    let half_normal_mean = 2.0 * (2.0 / std::f64::consts::PI).sqrt();
    assert_moments("HalfNormal(2)", &s["scale"], 0, half_normal_mean, (4.0 - half_normal_mean.powi(2)).sqrt());
    let beta_sd = (10.0f64 / (49.0 * 8.0)).sqrt();
    assert_moments("Beta(2, 5)", &s["p"], 0, 2.0 / 7.0, beta_sd);
    for (i, a) in [1.0f64, 2.0, 3.0].into_iter().enumerate() {
        let sd = (a * (6.0 - a) / (36.0 * 7.0)).sqrt();
        assert_moments(&format!("Dirichlet w[{i}]"), &s["w"], i as i64, a / 6.0, sd);
    }
    // LKJ(3, eta = 2): each correlation is 2 Beta(2.5, 2.5) - 1, mean 0 and variance 1/6
    let l = &s["corr"];
    let corr = l.matmul(&l.transpose(-2, -1));
    assert_moments("LKJ corr[0, 1]", &corr.reshape([2, 800, 9]), 1, 0.0, (1.0f64 / 6.0).sqrt());
    assert_moments("LKJ corr[1, 2]", &corr.reshape([2, 800, 9]), 5, 0.0, (1.0f64 / 6.0).sqrt());
}

/// `x_i ~ 0.7 N(mu, 1) + 0.3 N(0, 1)` with the component of each point enumerated: NUTS on
/// `mu` agrees with the posterior computed on a grid from the same marginal likelihood.
#[test]
fn enumerated_mixture_matches_the_brute_force_posterior() {
    one_thread();
    let xs = [2.1f64, 1.7, -0.3, 2.6, 0.2, 1.9];
    let data = Tensor::from_slice(&xs);
    let model = |x: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(Tensor::from(0.0f64), Tensor::from(3.0f64)))?;
        plate("data", 6, |_| {
            let z = SampleSite::new("z", Categorical::new(Tensor::from_slice(&[0.7f64, 0.3]))).enumerate().run()?;
            // component 0 at mu, component 1 at 0 (broadcasts over enumeration and chains)
            let loc = &mu * z.rsub_scalar(1.0);
            observe("obs", Normal::new(loc, Tensor::from(1.0f64)), x)
        })
        .map(drop)
    };
    // the grid posterior of mu
    let normal = |x: f64, m: f64, s: f64| (-0.5 * ((x - m) / s).powi(2)).exp() / s;
    let grid: Vec<f64> = (0..8001).map(|i| -4.0 + 10.0 * i as f64 / 8000.0).collect();
    let w: Vec<f64> =
        grid.iter().map(|&m| normal(m, 0.0, 3.0) * xs.iter().map(|&x| 0.7 * normal(x, m, 1.0) + 0.3 * normal(x, 0.0, 1.0)).product::<f64>()).collect();
    let total: f64 = w.iter().sum();
    let mean = grid.iter().zip(&w).map(|(m, w)| m * w).sum::<f64>() / total;
    let sd = (grid.iter().zip(&w).map(|(m, w)| (m - mean).powi(2) * w).sum::<f64>() / total).sqrt();
    let mcmc = run(&model, &data, 5);
    let samples = mcmc.get_samples_by_chain().unwrap();
    assert_eq!(samples.keys().collect::<Vec<_>>(), vec!["mu"], "the enumerated site is summed out");
    assert_moments("mixture mu", &samples["mu"], 0, mean, sd);
}

/// A model only free functions and constants use, so that `run_parallel` can share it.
fn coin_model(x: &Tensor) -> Result<()> {
    let p = sample("p", Beta::new(Tensor::from(2.0f64), Tensor::from(2.0f64)))?;
    plate("flips", 10, |_| observe("obs", Bernoulli::new(&p), x)).map(drop)
}

#[test]
fn a_seed_gives_the_same_draws_whatever_the_chain_method_and_other_sampling() {
    one_thread();
    let draws = |method: ChainMethod, disturb: bool| -> Tensor {
        let mut mcmc = Mcmc::new(Nuts::new(&coin_model)).warmup(100).samples(100).chains(2).chain_method(method).seed(9).progress(false);
        if disturb {
            let _ = Tensor::randn([100], (Kind::Float, tch::Device::Cpu));
        }
        match method {
            ChainMethod::Parallel => mcmc.run_parallel(flips).unwrap(),
            _ => mcmc.run(&flips()).unwrap(),
        }
        mcmc.get_samples_by_chain().unwrap()["p"].shallow_clone()
    };
    let sequential = draws(ChainMethod::Sequential, false);
    assert!(sequential.equal(&draws(ChainMethod::Sequential, true)), "other sampling changed the draws");
    assert!(sequential.equal(&draws(ChainMethod::Parallel, false)), "parallel chains differ from sequential ones");
    let vectorized = draws(ChainMethod::Vectorized, false);
    assert!(vectorized.equal(&draws(ChainMethod::Vectorized, true)), "vectorised chains are not reproducible");
    assert!(!sequential.get(0).equal(&sequential.get(1)), "two chains drew the same values");
    let other_seed = {
        let mut mcmc = Mcmc::new(Nuts::new(&coin_model)).warmup(100).samples(100).chains(2).seed(10).progress(false);
        mcmc.run(&flips()).unwrap();
        mcmc.get_samples_by_chain().unwrap()["p"].shallow_clone()
    };
    assert!(!sequential.equal(&other_seed));
}

#[test]
fn vectorized_chains_sample_the_posterior() {
    one_thread();
    let mut mcmc = Mcmc::new(Nuts::new(&coin_model)).warmup(300).samples(600).chains(4).chain_method(ChainMethod::Vectorized).seed(11).progress(false);
    mcmc.run(&flips()).unwrap();
    let (a, b) = (9.0f64, 5.0f64);
    let sd = (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
    let p = &mcmc.get_samples_by_chain().unwrap()["p"];
    assert_eq!(p.size(), vec![4, 600]);
    assert_moments("vectorised p", p, 0, a / (a + b), sd);
    let summary = mcmc.summary(0.89).unwrap();
    assert!((summary["p"].r_hat[0] - 1.0).abs() < 0.02, "r_hat {:?}", summary["p"].r_hat);
    assert!(mcmc.summary_table().unwrap().contains("Number of divergences: 0"));
}

/// `x ~ Normal(0, 1)` in two dims tilted by `exp(x_1 + x_2)`: `x_i ~ Normal(1, 1)`. The tilt
/// is written as a sum over all dims, which over a batch of chains adds every chain's tilt to
/// each chain (sampled that way, x's mean came out 0.18): the first batched evaluation differs from the
/// chain-by-chain one, and the chains are evaluated one at a time, as sequential chains are.
#[test]
fn vectorized_chains_of_a_model_that_mixes_them_are_evaluated_one_at_a_time() {
    one_thread();
    let model = |_: &()| -> Result<()> {
        let x = sample("x", Normal::new(Tensor::from(0.0f64), Tensor::from(1.0f64))?.expand(&[2])?.to_event(1)?)?;
        factor("tilt", &x.sum(Kind::Double)).map(drop)
    };
    let draws = |method| {
        let mut mcmc = Mcmc::new(Nuts::new(&model).compiled(false)).warmup(300).samples(500).chains(4).chain_method(method).seed(21).progress(false);
        mcmc.run(&()).unwrap();
        mcmc.get_samples_by_chain().unwrap()["x"].shallow_clone()
    };
    let vectorized = draws(ChainMethod::Vectorized);
    assert_moments("x[0]", &vectorized, 0, 1.0, 1.0);
    assert_moments("x[1]", &vectorized, 1, 1.0, 1.0);
    assert!(vectorized.equal(&draws(ChainMethod::Sequential)), "chain by chain, vectorised chains draw what sequential ones do");
}

#[test]
fn hmc_and_a_potential_function_sample_their_targets() {
    one_thread();
    let mut mcmc = Mcmc::new(Hmc::new(&coin_model).trajectory_length(1.0)).warmup(300).samples(600).chains(2).seed(12).progress(false);
    mcmc.run(&flips()).unwrap();
    let (a, b) = (9.0f64, 5.0f64);
    assert_moments("HMC p", &mcmc.get_samples_by_chain().unwrap()["p"], 0, a / (a + b), (a * b / (196.0 * 15.0)).sqrt());

    // U(z) = z^T A z / 2 for a 2-d Gaussian with sds 1 and 3 and correlation 0.5
    let cov = [[1.0, 1.5], [1.5, 9.0]];
    let det: f64 = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0];
    let prec = Tensor::from_slice(&[cov[1][1] / det, -cov[0][1] / det, -cov[1][0] / det, cov[0][0] / det]).reshape([2, 2]);
    let potential = move |z: &Tensor| -> Result<Tensor> { Ok(z.dot(&prec.mv(z)) * 0.5) };
    let mut mcmc = Mcmc::new(Nuts::potential(potential, &Tensor::from_slice(&[0.5f64, -0.5]))).warmup(300).samples(800).chains(2).seed(13).progress(false);
    mcmc.run().unwrap();
    let z = &mcmc.get_samples_by_chain().unwrap()["z"];
    assert_eq!(z.size(), vec![2, 800, 2]);
    assert_moments("z[0]", z, 0, 0.0, 1.0);
    assert_moments("z[1]", z, 1, 0.0, 3.0);
}

#[test]
fn posterior_predictive_from_mcmc_samples() {
    one_thread();
    let mut mcmc = Mcmc::new(Nuts::new(&coin_model)).warmup(100).samples(200).seed(14).progress(false);
    mcmc.run(&flips()).unwrap();
    let samples = mcmc.get_samples().unwrap();
    let predictive = pyrite_infer::prelude::Predictive::from_samples(&coin_model, &samples).call(&flips()).unwrap();
    assert_eq!(predictive["obs"].size(), vec![200, 10]);
    // the predictive mean of a flip is the posterior mean of p, 9/14
    let m = predictive["obs"].mean(Kind::Double).double_value(&[]);
    assert!((m - 9.0 / 14.0).abs() < 0.06, "{m}");
}

#[test]
fn bad_settings_and_models_are_typed_errors() {
    one_thread();
    let x = flips();
    let err = |m: Result<()>| m.unwrap_err();
    let e = err(Mcmc::new(Nuts::new(&coin_model)).chains(0).progress(false).run(&x));
    assert!(matches!(e, PyriteError::InvalidInput { ref what, .. } if what == "chains"), "{e}");
    let e = err(Mcmc::new(Nuts::new(&coin_model)).samples(0).progress(false).run(&x));
    assert!(matches!(e, PyriteError::InvalidInput { ref what, .. } if what == "samples"), "{e}");
    let e = err(Mcmc::new(Nuts::new(&coin_model).target_accept(1.5)).progress(false).run(&x));
    assert!(matches!(e, PyriteError::InvalidInput { .. }) && e.to_string().contains("target_accept"), "{e}");
    let e = err(Mcmc::new(Nuts::new(&coin_model).step_size(-0.1)).progress(false).run(&x));
    assert!(matches!(e, PyriteError::InvalidInput { .. }) && e.to_string().contains("step_size"), "{e}");
    let e = err(Mcmc::new(Nuts::new(&coin_model)).chain_method(ChainMethod::Parallel).progress(false).run(&x));
    assert!(e.to_string().contains("run_parallel"), "{e}");

    // a discrete latent site not marked for enumeration
    let discrete = |_: &Tensor| -> Result<()> { sample("k", Bernoulli::new(0.3)).map(drop) };
    let e = err(Mcmc::new(Nuts::new(&discrete)).warmup(5).samples(5).progress(false).run(&x));
    assert!(matches!(e, PyriteError::Enumerate { ref site, .. } if site == "k"), "{e}");

    // a log-density that is never finite: named after 100 initial points
    let hopeless = |_: &Tensor| -> Result<()> {
        let _ = sample("a", Normal::new(0.0, 1.0))?;
        factor("nan_factor", &Tensor::from(f32::NAN)).map(drop)
    };
    let e = err(Mcmc::new(Nuts::new(&hopeless)).warmup(5).samples(5).progress(false).run(&x));
    assert!(matches!(e, PyriteError::NonFinite { ref site, .. } if site.contains("nan_factor")), "{e}");
}

/// A potential finite only at its starting point: every transition diverges, and the run
/// reports it instead of hanging or failing.
#[test]
fn a_chain_that_always_diverges_is_reported() {
    one_thread();
    let potential = |z: &Tensor| -> Result<Tensor> {
        let at_start = z.abs().sum(Kind::Double).lt(1e-12);
        Ok(z.square().sum(Kind::Double).where_self(&at_start, &Tensor::from(f64::NAN)))
    };
    let mut mcmc = Mcmc::new(Nuts::potential(potential, &Tensor::from_slice(&[0.0f64, 0.0])).step_size(0.5).adapt_step_size(false))
        .warmup(10)
        .samples(20)
        .seed(15)
        .progress(false);
    mcmc.run().unwrap();
    assert_eq!(mcmc.divergences().unwrap(), 20);
    assert!(mcmc.summary_table().unwrap().contains("Number of divergences: 20"));
}
