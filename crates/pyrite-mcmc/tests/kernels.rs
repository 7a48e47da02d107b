//! NUTS and HMC kernels with warm-up adaptation, run through `Sampler` on potentials with known
//! moments. Every chain has a fixed seed, so each assertion is deterministic; tolerances are
//! stated in Monte-Carlo standard errors (batch means) so they are honest rather than tuned.

use pyrite_core::PyriteError;
use pyrite_mcmc::hmc::HmcSettings;
use pyrite_mcmc::integrator::MassMatrix;
use pyrite_mcmc::nuts::NutsSettings;
use pyrite_mcmc::potential::{FnPotential, Potential};
use pyrite_mcmc::sampler::{Algorithm, Sampler, StepInfo};
use pyrite_mcmc::settings::Adaptive;

/// A Gaussian potential `0.5 (z - mu)^T P (z - mu)` with a row-major precision `P`.
struct Gaussian {
    mean: Vec<f64>,
    precision: Vec<f64>,
}

impl Gaussian {
    fn independent(mean: &[f64], sd: &[f64]) -> Self {
        let d = mean.len();
        let mut precision = vec![0.0; d * d];
        for i in 0..d {
            precision[i * d + i] = 1.0 / (sd[i] * sd[i]);
        }
        Gaussian { mean: mean.to_vec(), precision }
    }
}

impl Potential for Gaussian {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64, PyriteError> {
        let d = self.mean.len();
        let mut u = 0.0;
        for i in 0..d {
            grad[i] = (0..d).map(|j| self.precision[i * d + j] * (z[j] - self.mean[j])).sum();
            u += 0.5 * (z[i] - self.mean[i]) * grad[i];
        }
        Ok(u)
    }
}

/// The 10-dimensional target of the dense-mass tests: means `i`, scales from 0.1 to 10 (log
/// spaced), every correlation 0.9. Returns the potential and the covariance.
fn correlated_gaussian() -> (Gaussian, Vec<f64>) {
    let d = 10;
    let rho = 0.9;
    let scale: Vec<f64> = (0..d).map(|i| 10f64.powf(-1.0 + 2.0 * i as f64 / (d - 1) as f64)).collect();
    let mut cov = vec![0.0; d * d];
    let mut precision = vec![0.0; d * d];
    // R = (1 - rho) I + rho 11^T  =>  R^-1 = (I - rho / (1 - rho + d rho) 11^T) / (1 - rho)
    let c = rho / (1.0 - rho + d as f64 * rho);
    for i in 0..d {
        for j in 0..d {
            let r = if i == j { 1.0 } else { rho };
            let r_inv = ((i == j) as u8 as f64 - c) / (1.0 - rho);
            cov[i * d + j] = r * scale[i] * scale[j];
            precision[i * d + j] = r_inv / (scale[i] * scale[j]);
        }
    }
    let mean = (0..d).map(|i| i as f64).collect();
    (Gaussian { mean, precision }, cov)
}

/// Runs `num_warmup + num_samples` steps from `z0`, returning the post-warm-up draws and infos.
fn run(
    algorithm: Algorithm,
    potential: &mut dyn Potential,
    z0: &[f64],
    num_warmup: usize,
    num_samples: usize,
    seed: u64,
) -> (Sampler, Vec<Vec<f64>>, Vec<StepInfo>) {
    let mut s = Sampler::new(algorithm, z0.len(), num_warmup, seed).unwrap();
    s.init(potential, z0).unwrap();
    for _ in 0..num_warmup {
        assert!(s.is_warming_up());
        s.step(potential).unwrap();
    }
    assert!(!s.is_warming_up());
    let mut draws = Vec::with_capacity(num_samples);
    let mut infos = Vec::with_capacity(num_samples);
    for _ in 0..num_samples {
        infos.push(s.step(potential).unwrap());
        draws.push(s.position().to_vec());
    }
    (s, draws, infos)
}

fn column(draws: &[Vec<f64>], i: usize) -> Vec<f64> {
    draws.iter().map(|d| d[i]).collect()
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn variance(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64
}

/// The Monte-Carlo standard error of `mean(x)` by 20 batch means, floored at the i.i.d. value
/// (an anti-correlated chain may look better than independent draws; we do not credit that).
fn mcse(x: &[f64]) -> f64 {
    let b = 20;
    let m = x.len() / b;
    let batches: Vec<f64> = (0..b).map(|k| mean(&x[k * m..(k + 1) * m])).collect();
    let batch = (variance(&batches) / b as f64).sqrt();
    batch.max((variance(x) / x.len() as f64).sqrt())
}

/// Asserts that the chain's mean of `x` is within 5 Monte-Carlo standard errors of `truth`, and
/// that the chain mixed at all (an effective sample size of at least `min_ess`).
fn assert_mean(x: &[f64], truth: f64, min_ess: f64, what: &str) {
    let se = mcse(x);
    let ess = variance(x) / (se * se);
    let m = mean(x);
    assert!(ess >= min_ess, "{what}: effective sample size {ess:.0} < {min_ess}");
    assert!((m - truth).abs() < 5.0 * se, "{what}: mean {m} vs {truth} (mcse {se})");
}

/// Asserts the mean and variance of coordinate `i` (the variance through the mean of
/// `(x - mu)^2`, whose Monte-Carlo error batch means also estimate).
fn assert_moments(draws: &[Vec<f64>], i: usize, mu: f64, var: f64, min_ess: f64) {
    let x = column(draws, i);
    assert_mean(&x, mu, min_ess, &format!("mean of z[{i}]"));
    let sq: Vec<f64> = x.iter().map(|v| (v - mu) * (v - mu)).collect();
    assert_mean(&sq, var, min_ess / 2.0, &format!("variance of z[{i}]"));
}

fn mean_accept(infos: &[StepInfo]) -> f64 {
    infos.iter().map(|i| i.accept_prob).sum::<f64>() / infos.len() as f64
}

#[test]
fn nuts_samples_a_standard_normal_in_1_and_5_dimensions() {
    for d in [1, 5] {
        let mut u = Gaussian::independent(&vec![0.0; d], &vec![1.0; d]);
        let (s, draws, infos) = run(Algorithm::Nuts(NutsSettings::default()), &mut u, &vec![2.0; d], 500, 2000, 11);
        for i in 0..d {
            assert_moments(&draws, i, 0.0, 1.0, 500.0);
        }
        // Warm-up aims at 0.8; the final step size is the dual average, a little below the last
        // iterates, so the realised acceptance sits somewhat above the target (as in Stan).
        let acc = mean_accept(&infos);
        assert!((0.7..0.95).contains(&acc), "d = {d}: mean acceptance {acc}");
        assert!(infos.iter().all(|i| !i.diverging && i.step_size == s.step_size()));
        // A unit-scale target: the adapted inverse mass is close to the identity.
        let MassMatrix::Diagonal(m) = s.inverse_mass_matrix() else { panic!("dense") };
        assert!(m.iter().all(|&v| (0.6..1.5).contains(&v)), "{m:?}");
    }
}

#[test]
fn nuts_samples_a_skewed_target() {
    // z = log x for x ~ Gamma(3, 1): p(z) ∝ exp(3 z - e^z), E z = digamma(3), Var z = trigamma(3).
    let mut u = FnPotential::new(1, |z: &[f64], g: &mut [f64]| {
        g[0] = z[0].exp() - 3.0;
        Ok(z[0].exp() - 3.0 * z[0])
    });
    let (_, draws, _) = run(Algorithm::Nuts(NutsSettings::default()), &mut u, &[0.0], 300, 3000, 5);
    let digamma3 = 1.5 - 0.577_215_664_901_532_9;
    let trigamma3 = std::f64::consts::PI.powi(2) / 6.0 - 1.25;
    assert_moments(&draws, 0, digamma3, trigamma3, 600.0);
}

#[test]
fn dense_adaptation_recovers_a_correlated_covariance() {
    let (mut u, cov) = correlated_gaussian();
    let d = 10;
    let settings = NutsSettings::default().dense_mass(true);
    let (s, draws, infos) = run(Algorithm::Nuts(settings), &mut u, &vec![0.0; d], 1000, 1000, 3);
    let MassMatrix::Dense(m) = s.inverse_mass_matrix() else { panic!("diagonal") };
    let est = m.inverse();
    // The last slow window has 500 draws; a variance estimate from n_eff >= 250 has a relative
    // sd of sqrt(2 / 250) = 0.09, a correlation of 0.9 an sd of (1 - 0.81) / sqrt(250) = 0.012.
    for i in 0..d {
        let rel = est[i * d + i] / cov[i * d + i];
        assert!((0.65..1.35).contains(&rel), "variance {i}: estimated / true = {rel}");
        for j in 0..i {
            let r = est[i * d + j] / (est[i * d + i] * est[j * d + j]).sqrt();
            assert!((r - 0.9).abs() < 0.06, "correlation ({i}, {j}) = {r}");
        }
    }
    // With the right metric the target is a standard normal to the sampler: short trees, good
    // mixing.
    assert!(infos.iter().filter(|i| i.diverging).count() == 0);
    assert!(infos.iter().map(|i| i.tree_depth).max().unwrap_or(0) <= 5);
    for i in 0..d {
        assert_moments(&draws, i, i as f64, cov[i * d + i], 300.0);
    }
}

/// The low-rank metric on a target a diagonal one samples badly: 8 coordinates, scales from
/// 0.01 to 100, the first two correlated at 0.9999 (a ridge 140 times longer than wide), like a
/// regression's intercept and slope. Warm-up finds the ridge's two directions (and keeps the
/// diagonal for the others); trees stay short and the moments are right.
#[test]
fn low_rank_adaptation_finds_a_strong_correlation() {
    let d = 8;
    let rho = 0.9999;
    let scale: Vec<f64> = (0..d).map(|i| 10f64.powf(-2.0 + 4.0 * i as f64 / (d - 1) as f64)).collect();
    let (mut cov, mut precision) = (vec![0.0; d * d], vec![0.0; d * d]);
    for i in 0..d {
        cov[i * d + i] = scale[i] * scale[i];
        precision[i * d + i] = 1.0 / cov[i * d + i];
    }
    cov[1] = rho * scale[0] * scale[1];
    cov[d] = cov[1];
    let det = 1.0 - rho * rho;
    precision[0] = 1.0 / (det * cov[0]);
    precision[d + 1] = 1.0 / (det * cov[d + 1]);
    precision[1] = -rho / (det * scale[0] * scale[1]);
    precision[d] = precision[1];
    let mean: Vec<f64> = (0..d).map(|i| i as f64).collect();
    let mut u = Gaussian { mean, precision };
    let settings = NutsSettings::default().low_rank_mass(true);
    let (s, draws, infos) = run(Algorithm::Nuts(settings), &mut u, &vec![0.0; d], 1000, 1000, 7);
    let MassMatrix::LowRank(m) = s.inverse_mass_matrix() else { panic!("not low-rank: {:?}", s.inverse_mass_matrix()) };
    assert_eq!(m.rank(), 2, "eigenvalues {:?}", m.values());
    assert!(infos.iter().filter(|i| i.diverging).count() == 0);
    assert!(infos.iter().map(|i| i.tree_depth).max().unwrap_or(0) <= 5, "long trees with the low-rank metric");
    for i in 0..d {
        assert_moments(&draws, i, i as f64, cov[i * d + i], 300.0);
    }
    // The same target with the diagonal metric needs long trees (what the low-rank one saves).
    let (_, _, diagonal) = run(Algorithm::Nuts(NutsSettings::default()), &mut u, &vec![0.0; d], 1000, 300, 7);
    assert!(diagonal.iter().map(|i| i.tree_depth).sum::<usize>() > 2 * infos[..300].iter().map(|i| i.tree_depth).sum::<usize>());
}

/// The low-rank metric's warm-up (nutpie's) starts from scales read off the initial gradient,
/// `|g|^-1/2`: at z = 0 of independent normals with means 2 and -3 and sds 0.5 and 4, the
/// gradients are -8 and 3/16.
#[test]
fn low_rank_warm_up_starts_from_the_initial_gradient() {
    let mut u = Gaussian::independent(&[2.0, -3.0], &[0.5, 4.0]);
    let mut s = Sampler::new(Algorithm::Nuts(NutsSettings::default().low_rank_mass(true)), 2, 100, 3).unwrap();
    s.init(&mut u, &[0.0, 0.0]).unwrap();
    let MassMatrix::LowRank(m) = s.inverse_mass_matrix() else { panic!("not low-rank: {:?}", s.inverse_mass_matrix()) };
    let want = [8f64.powf(-0.5), (3.0f64 / 16.0).powf(-0.5)];
    assert!(m.rank() == 0 && m.scales().iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{:?}", m.scales());
    // The diagonal metric starts from the identity, as Stan's.
    let mut s = Sampler::new(Algorithm::Nuts(NutsSettings::default()), 2, 100, 3).unwrap();
    s.init(&mut u, &[0.0, 0.0]).unwrap();
    assert_eq!(s.inverse_mass_matrix(), &MassMatrix::Diagonal(vec![1.0, 1.0]));
}

/// Warm-ups too short for the low-rank estimate's windows still end with a usable step size
/// and metric, and sample.
#[test]
fn low_rank_warm_up_of_a_few_iterations_samples() {
    let mut u = Gaussian::independent(&[1.0, -1.0, 0.0], &[1.0, 3.0, 0.2]);
    for num_warmup in [1, 2, 5, 12] {
        let (s, draws, _) = run(Algorithm::Nuts(NutsSettings::default().low_rank_mass(true)), &mut u, &[0.0; 3], num_warmup, 50, 11);
        assert!(s.step_size().is_finite() && s.step_size() > 0.0, "warm-up {num_warmup}: step size {}", s.step_size());
        let MassMatrix::LowRank(m) = s.inverse_mass_matrix() else { panic!("not low-rank") };
        assert!(m.scales().iter().all(|x| x.is_finite() && *x > 0.0), "warm-up {num_warmup}: {:?}", m.scales());
        assert!(draws.iter().flatten().all(|x| x.is_finite()));
    }
}

#[test]
fn diagonal_adaptation_still_samples_a_correlated_gaussian() {
    let (mut u, cov) = correlated_gaussian();
    let d = 10;
    let (s, draws, _) = run(Algorithm::Nuts(NutsSettings::default()), &mut u, &vec![0.0; d], 1000, 2000, 4);
    let MassMatrix::Diagonal(m) = s.inverse_mass_matrix() else { panic!("dense") };
    for i in 0..d {
        let rel = m[i] / cov[i * d + i];
        assert!((0.5..1.5).contains(&rel), "variance {i}: estimated / true = {rel}");
        assert_moments(&draws, i, i as f64, cov[i * d + i], 100.0);
    }
}

#[test]
fn nuts_reports_divergences_in_neals_funnel() {
    // v ~ N(0, 3^2), x_k ~ N(0, e^v) for k = 1..4.
    let mut u = FnPotential::new(5, |z: &[f64], g: &mut [f64]| {
        let v = z[0];
        let w = (-v).exp();
        let mut energy = v * v / 18.0;
        g[0] = v / 9.0;
        for k in 1..5 {
            energy += 0.5 * z[k] * z[k] * w + 0.5 * v;
            g[0] += 0.5 - 0.5 * z[k] * z[k] * w;
            g[k] = z[k] * w;
        }
        Ok(energy)
    });
    let settings = NutsSettings::default().max_tree_depth(6);
    let (_, draws, infos) = run(Algorithm::Nuts(settings), &mut u, &[0.0; 5], 300, 500, 8);
    let divergences = infos.iter().filter(|i| i.diverging).count();
    assert!(divergences > 0, "no divergence reported in the funnel");
    assert!(infos.iter().all(|i| i.tree_depth <= 6 && i.num_leapfrog < 64));
    assert!(draws.iter().flatten().all(|x| x.is_finite()));
}

#[test]
fn hmc_with_a_fixed_trajectory_samples_a_gaussian() {
    let mut u = Gaussian::independent(&[1.0, -2.0], &[1.0, 3.0]);
    // Not 2 pi: on a Gaussian whose metric is adapted to it that is one full period, and the
    // trajectory comes back to its start.
    let settings = HmcSettings::default().trajectory_length(1.5);
    let (s, draws, infos) = run(Algorithm::Hmc(settings), &mut u, &[0.0, 0.0], 500, 2000, 21);
    assert_moments(&draws, 0, 1.0, 1.0, 400.0);
    assert_moments(&draws, 1, -2.0, 9.0, 400.0);
    let steps = (1.5 / s.step_size()).ceil() as usize;
    assert!(infos.iter().all(|i| i.num_leapfrog == steps && i.tree_depth == 0));
    let acc = mean_accept(&infos);
    assert!((0.65..0.99).contains(&acc), "mean acceptance {acc}");
}

#[test]
fn hmc_with_a_dense_metric_and_fixed_step_size() {
    let (mut u, cov) = correlated_gaussian();
    let settings = HmcSettings::default().trajectory_length(1.5).dense_mass(true);
    let (_, draws, _) = run(Algorithm::Hmc(settings), &mut u, &[0.0; 10], 1000, 1000, 9);
    for i in [0, 4, 9] {
        assert_moments(&draws, i, i as f64, cov[i * 10 + i], 200.0);
    }
}

#[test]
fn a_seed_fixes_the_draws() {
    let chain = |seed: u64, nuts: bool| {
        let mut u = Gaussian::independent(&[0.0, 1.0, 2.0], &[1.0, 0.5, 2.0]);
        let alg = if nuts { Algorithm::Nuts(NutsSettings::default().dense_mass(true)) } else { Algorithm::Hmc(HmcSettings::default()) };
        run(alg, &mut u, &[0.1, 0.2, 0.3], 100, 50, seed).1
    };
    for nuts in [true, false] {
        let a = chain(7, nuts);
        // Another thread, and other randomness drawn meanwhile, change nothing.
        let b = std::thread::spawn(move || chain(7, nuts)).join().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, chain(8, nuts));
    }
}

fn invalid_setting(result: Result<Sampler, PyriteError>) -> String {
    match result {
        Err(PyriteError::InvalidInput { what, .. }) => what,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn bad_settings_are_invalid_input() {
    let nuts = |s: NutsSettings| invalid_setting(Sampler::new(Algorithm::Nuts(s), 2, 10, 0));
    let hmc = |s: HmcSettings| invalid_setting(Sampler::new(Algorithm::Hmc(s), 2, 10, 0));
    for t in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
        assert_eq!(nuts(NutsSettings::default().target_accept(t)), "target_accept");
        assert_eq!(hmc(HmcSettings::default().target_accept(t)), "target_accept");
    }
    for eps in [0.0, -0.1, f64::INFINITY, f64::NAN] {
        assert_eq!(nuts(NutsSettings::default().step_size(eps)), "step_size");
        assert_eq!(hmc(HmcSettings::default().step_size(eps)), "step_size");
        assert_eq!(hmc(HmcSettings::default().trajectory_length(eps)), "trajectory_length");
    }
    assert_eq!(nuts(NutsSettings::default().max_tree_depth(0)), "max_tree_depth");
    assert_eq!(nuts(NutsSettings::default().max_tree_depth(31)), "max_tree_depth");
    assert_eq!(nuts(NutsSettings::default().max_delta_energy(0.0)), "max_delta_energy");
    assert_eq!(hmc(HmcSettings::default().max_num_steps(0)), "max_num_steps");
    assert_eq!(invalid_setting(Sampler::new(Algorithm::Nuts(Default::default()), 0, 10, 0)), "dim");

    // Using the sampler wrongly.
    let mut s = Sampler::new(Algorithm::Nuts(NutsSettings::default()), 2, 10, 0).unwrap();
    let mut u = Gaussian::independent(&[0.0, 0.0], &[1.0, 1.0]);
    assert!(matches!(s.step(&mut u), Err(PyriteError::InvalidInput { .. })));
    assert!(matches!(s.init(&mut u, &[0.0]), Err(PyriteError::InvalidInput { .. })));
    let mut u3 = Gaussian::independent(&[0.0; 3], &[1.0; 3]);
    assert!(matches!(s.init(&mut u3, &[0.0; 3]), Err(PyriteError::InvalidInput { .. })));
}

#[test]
fn a_non_finite_initial_point_is_reported() {
    let expect_non_finite = |r: Result<(), PyriteError>| match r {
        Err(PyriteError::NonFinite { site, .. }) => assert_eq!(site, "<initial point>"),
        other => panic!("expected NonFinite, got {other:?}"),
    };
    let mut s = Sampler::new(Algorithm::Nuts(NutsSettings::default()), 1, 10, 0).unwrap();
    // An infinite energy (outside a support), a NaN gradient, a NaN position.
    let mut inf = FnPotential::new(1, |_: &[f64], g: &mut [f64]| {
        g[0] = 0.0;
        Ok(f64::INFINITY)
    });
    expect_non_finite(s.init(&mut inf, &[0.0]));
    let mut nan_grad = FnPotential::new(1, |_: &[f64], g: &mut [f64]| {
        g[0] = f64::NAN;
        Ok(0.0)
    });
    expect_non_finite(s.init(&mut nan_grad, &[0.0]));
    let mut u = Gaussian::independent(&[0.0], &[1.0]);
    expect_non_finite(s.init(&mut u, &[f64::NAN]));
    // A retry at a good point works.
    s.init(&mut u, &[0.5]).unwrap();
    s.step(&mut u).unwrap();
}

#[test]
fn an_error_from_the_potential_stops_the_step() {
    for alg in [Algorithm::Nuts(NutsSettings::default()), Algorithm::Hmc(HmcSettings::default())] {
        let mut calls = 0;
        let mut u = FnPotential::new(2, move |z: &[f64], g: &mut [f64]| {
            calls += 1;
            if calls > 40 {
                return Err(PyriteError::Model("boom".to_string()));
            }
            g.copy_from_slice(z);
            Ok(0.5 * (z[0] * z[0] + z[1] * z[1]))
        });
        let mut s = Sampler::new(alg, 2, 100, 1).unwrap();
        s.init(&mut u, &[0.3, 0.3]).unwrap();
        let err = loop {
            let before = s.position().to_vec();
            match s.step(&mut u) {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(s.position(), &before[..], "the position moved on an error");
                    break e;
                }
            }
        };
        assert!(matches!(&err, PyriteError::Model(m) if m == "boom"), "{err:?}");
    }
}

#[test]
fn a_potential_that_is_nan_off_the_start_diverges_every_step() {
    let z0 = [0.5, -0.3];
    let nan_off_start = move |z: &[f64], g: &mut [f64]| {
        if z == z0 {
            g.copy_from_slice(z);
            Ok(0.5 * (z[0] * z[0] + z[1] * z[1]))
        } else {
            g.fill(f64::NAN);
            Ok(f64::NAN)
        }
    };
    let nuts = NutsSettings::default().step_size(0.1);
    let hmc = HmcSettings::default().step_size(0.1);
    for alg in [Algorithm::Nuts(nuts.clone()), Algorithm::Hmc(hmc)] {
        let mut u = FnPotential::new(2, nan_off_start);
        let mut s = Sampler::new(alg, 2, 0, 2).unwrap();
        s.init(&mut u, &z0).unwrap();
        for _ in 0..50 {
            let info = s.step(&mut u).unwrap();
            assert!(info.diverging && info.accept_prob == 0.0 && info.num_leapfrog == 1);
            assert_eq!(s.position(), &z0[..]);
        }
    }
    // With warm-up adaptation on, the step size collapses (the search halves at most 100 times)
    // and the chain still finishes.
    let mut u = FnPotential::new(2, nan_off_start);
    let mut s = Sampler::new(Algorithm::Nuts(nuts.max_tree_depth(5)), 2, 40, 2).unwrap();
    s.init(&mut u, &z0).unwrap();
    let infos: Vec<StepInfo> = (0..60).map(|_| s.step(&mut u).unwrap()).collect();
    assert!(infos[..10].iter().all(|i| i.diverging));
    assert!(s.step_size() > 0.0 && s.step_size().is_finite());
    assert_eq!(s.position(), &z0[..]);
}

#[test]
fn warm_up_ends_after_num_warmup_steps_with_the_averaged_step_size() {
    let mut u = Gaussian::independent(&[0.0; 2], &[1.0, 1.0]);
    let mut s = Sampler::new(Algorithm::Nuts(NutsSettings::default()), 2, 30, 0).unwrap();
    s.init(&mut u, &[1.0, 1.0]).unwrap();
    let mut used = Vec::new();
    for _ in 0..30 {
        assert!(s.is_warming_up());
        used.push(s.step(&mut u).unwrap().step_size);
    }
    assert!(!s.is_warming_up());
    let frozen = s.step_size();
    for _ in 0..20 {
        assert_eq!(s.step(&mut u).unwrap().step_size, frozen);
    }
    // The step size moved during warm-up.
    assert!(used.windows(2).any(|w| w[0] != w[1]));
    // Without any adaptation the configured step size and identity metric stay.
    let fixed = NutsSettings::default().step_size(0.3).adapt_step_size(false).adapt_mass_matrix(false);
    let (s, _, infos) = run(Algorithm::Nuts(fixed), &mut u, &[1.0, 1.0], 50, 10, 0);
    assert_eq!(s.step_size(), 0.3);
    assert_eq!(s.inverse_mass_matrix(), &MassMatrix::identity(2, false));
    assert!(infos.iter().all(|i| i.step_size == 0.3));
}
