//! Sample moments under fixed seeds: the mean and variance of many draws agree with the
//! family's `mean` and `variance` (which the golden tests tie to torch) within a few standard
//! errors; heavy-tailed families are checked through quantiles instead.

use pyrite_distributions::prelude::*;
use tch::{Kind, Tensor};

use crate::util::*;

const N: i64 = 50_000;
/// Tolerance in standard errors. The seeds are fixed, so the outcome is deterministic.
const Z: f64 = 5.0;

/// Draws `N` samples and compares their mean and variance with the distribution's, elementwise
/// over batch and event dims.
fn check_moments(label: &str, d: &dyn Distribution, seed: i64) {
    let x = {
        let _g = seeded(seed);
        d.sample(&[N]).unwrap()
    };
    assert_eq!(x.size(), d.shape(&[N]), "{label}: sample shape");
    let x = x.to_kind(Kind::Double);
    let mean = d.mean().unwrap().to_kind(Kind::Double);
    let var = d.variance().unwrap().to_kind(Kind::Double);
    assert_eq!(mean.size(), d.shape(&[]), "{label}: mean shape");
    assert_eq!(var.size(), d.shape(&[]), "{label}: variance shape");

    let m = x.mean_dim(0, false, Kind::Double);
    let v = x.var_dim(0, true, false);
    let m4 = (&x - &m).pow_tensor_scalar(4).mean_dim(0, false, Kind::Double);
    let se_mean = (&var / N as f64).sqrt();
    let se_var = ((m4 - v.square()).clamp_min(0.0) / N as f64).sqrt();
    let (m, v, mean, var, se_mean, se_var) = (vals(&m), vals(&v), vals(&mean), vals(&var), vals(&se_mean), vals(&se_var));
    for i in 0..m.len() {
        assert!(mean[i].is_finite() && var[i].is_finite(), "{label}: choose parameters with finite moments");
        assert!((m[i] - mean[i]).abs() <= Z * se_mean[i] + 1e-12, "{label}: element {i}: sample mean {} vs mean {} (se {})", m[i], mean[i], se_mean[i]);
        assert!(
            // (the relative slack covers laws such as Bernoulli(1/2), where (x - m)^2 is
            // constant and the first-order standard error vanishes)
            (v[i] - var[i]).abs() <= Z * se_var[i] + 1e-3 * var[i].abs(),
            "{label}: element {i}: sample variance {} vs variance {} (se {})",
            v[i],
            var[i],
            se_var[i]
        );
    }
}

fn v64(data: &[f64]) -> Tensor {
    Tensor::from_slice(data)
}

#[test]
fn continuous_moments() {
    let cases: Vec<(&str, DistRef)> = vec![
        ("Normal", Normal::new(v64(&[0.5, -2.0]), v64(&[1.0, 3.0])).unwrap().into_dist()),
        ("HalfNormal", HalfNormal::new(v64(&[0.5, 2.0])).unwrap().into_dist()),
        ("LogNormal", LogNormal::new(v64(&[0.0, 0.5]), v64(&[0.25, 0.5])).unwrap().into_dist()),
        ("Uniform", Uniform::new(v64(&[-1.0, 2.0]), v64(&[1.0, 5.0])).unwrap().into_dist()),
        ("Exponential", Exponential::new(v64(&[0.5, 3.0])).unwrap().into_dist()),
        ("Gamma", Gamma::new(v64(&[0.5, 4.0]), v64(&[2.0, 0.5])).unwrap().into_dist()),
        ("InverseGamma", InverseGamma::new(v64(&[6.0, 10.0]), v64(&[2.0, 5.0])).unwrap().into_dist()),
        ("Beta", Beta::new(v64(&[0.5, 3.0]), v64(&[0.7, 2.0])).unwrap().into_dist()),
        ("Dirichlet", Dirichlet::new(t64(&[0.5, 1.0, 2.0, 3.0, 3.0, 3.0], &[2, 3])).unwrap().into_dist()),
        ("StudentT", StudentT::new(v64(&[10.0, 25.0]), v64(&[1.0, -1.0]), v64(&[2.0, 0.5])).unwrap().into_dist()),
        ("Laplace", Laplace::new(v64(&[0.0, 2.0]), v64(&[1.0, 0.3])).unwrap().into_dist()),
        (
            "MultivariateNormal",
            MultivariateNormal::from_scale_tril(v64(&[1.0, -1.0, 0.5]), t64(&[1.0, 0.0, 0.0, 0.5, 2.0, 0.0, -1.0, 0.3, 0.7], &[3, 3])).unwrap().into_dist(),
        ),
        (
            "LowRankMultivariateNormal",
            LowRankMultivariateNormal::new(v64(&[0.0, 1.0, 2.0]), t64(&[1.0, 0.5, -0.5, 1.0, 2.0, 0.0], &[3, 2]), v64(&[0.5, 1.0, 0.2])).unwrap().into_dist(),
        ),
    ];
    for (i, (label, d)) in cases.iter().enumerate() {
        check_moments(label, d.as_ref(), 1000 + i as i64);
        // rsample draws from the same law (and has the same shape).
        let _g = seeded(2000 + i as i64);
        let r = d.rsample(&[3]).unwrap();
        assert_eq!(r.size(), d.shape(&[3]), "{label}: rsample shape");
    }
}

#[test]
fn discrete_moments() {
    let cases: Vec<(&str, DistRef)> = vec![
        ("Bernoulli", Bernoulli::new(v64(&[0.2, 0.7])).unwrap().into_dist()),
        ("Bernoulli logits", Bernoulli::from_logits(v64(&[-1.0, 2.0])).unwrap().into_dist()),
        ("Binomial", Binomial::new(v64(&[10.0, 25.0]), v64(&[0.3, 0.8])).unwrap().into_dist()),
        ("Binomial logits", Binomial::from_logits(v64(&[7.0, 7.0]), v64(&[0.5, -1.5])).unwrap().into_dist()),
        ("Poisson", Poisson::new(v64(&[0.5, 12.0])).unwrap().into_dist()),
        ("NegativeBinomial", NegativeBinomial::new(v64(&[2.0, 5.0]), v64(&[0.3, 0.6])).unwrap().into_dist()),
        ("NegativeBinomial logits", NegativeBinomial::from_logits(v64(&[3.5, 1.0]), v64(&[0.2, -1.0])).unwrap().into_dist()),
        ("OneHotCategorical", OneHotCategorical::new(t64(&[0.2, 0.3, 0.5, 0.6, 0.3, 0.1], &[2, 3])).unwrap().into_dist()),
    ];
    for (i, (label, d)) in cases.iter().enumerate() {
        check_moments(label, d.as_ref(), 3000 + i as i64);
    }
}

#[test]
fn categorical_frequencies() {
    let probs = t64(&[0.1, 0.2, 0.7, 0.5, 0.25, 0.25], &[2, 3]);
    for (k, d) in [Categorical::new(&probs).unwrap(), Categorical::from_logits(probs.log() + 3.0).unwrap()].iter().enumerate() {
        let x = {
            let _g = seeded(4000 + k as i64);
            d.sample(&[N]).unwrap()
        };
        assert_eq!(x.size(), vec![N, 2]);
        assert_eq!(x.kind(), Kind::Int64);
        let freq = x.one_hot(3).to_kind(Kind::Double).mean_dim(0, false, Kind::Double);
        let (f, p) = (vals(&freq), vals(&probs));
        for i in 0..6 {
            let se = (p[i] * (1.0 - p[i]) / N as f64).sqrt();
            assert!((f[i] - p[i]).abs() <= Z * se, "Categorical #{k}: frequency {i}: {} vs {}", f[i], p[i]);
        }
    }
}

/// The `q`-quantiles of `N` draws (first batch element along dim 0) agree with `expected`,
/// within `Z` standard errors `sqrt(q (1 - q) / N) / density(x_q)`.
fn check_quantiles(label: &str, d: &dyn Distribution, seed: i64, qs: &[f64], expected: &[Vec<f64>]) {
    let x = {
        let _g = seeded(seed);
        d.sample(&[N]).unwrap()
    };
    let (sorted, _) = x.to_kind(Kind::Double).sort(0, false);
    for (qi, &q) in qs.iter().enumerate() {
        let idx = ((N as f64) * q) as i64;
        let got = vals(&sorted.get(idx));
        let at = Tensor::from_slice(&expected[qi]);
        let density = vals(&d.log_prob(&at).unwrap().exp());
        for b in 0..got.len() {
            let se = (q * (1.0 - q) / N as f64).sqrt() / density[b];
            assert!((got[b] - expected[qi][b]).abs() <= Z * se, "{label}: quantile {q} of batch element {b}: {} vs {} (se {se})", got[b], expected[qi][b]);
        }
    }
}

#[test]
fn heavy_tailed_quantiles() {
    use std::f64::consts::PI;
    let (loc, scale) = ([0.0, 3.0], [1.0, 0.5]);
    let cauchy = Cauchy::new(v64(&loc), v64(&scale)).unwrap();
    let qs = [0.25, 0.5, 0.75];
    let exp: Vec<Vec<f64>> = qs.iter().map(|&q| (0..2).map(|b| loc[b] + scale[b] * (PI * (q - 0.5)).tan()).collect()).collect();
    check_quantiles("Cauchy", &cauchy, 5000, &qs, &exp);

    let half = HalfCauchy::new(v64(&scale)).unwrap();
    let exp: Vec<Vec<f64>> = qs.iter().map(|&q| (0..2).map(|b| scale[b] * (PI * q / 2.0).tan()).collect()).collect();
    check_quantiles("HalfCauchy", &half, 5001, &qs, &exp);

    // StudentT with df = 1 is a Cauchy.
    let t1 = StudentT::new(1.0f64, v64(&loc), v64(&scale)).unwrap();
    let exp: Vec<Vec<f64>> = qs.iter().map(|&q| (0..2).map(|b| loc[b] + scale[b] * (PI * (q - 0.5)).tan()).collect()).collect();
    check_quantiles("StudentT(df=1)", &t1, 5002, &qs, &exp);
}

#[test]
fn multivariate_normal_sample_covariance() {
    let l = t64(&[1.0, 0.0, 0.0, 0.5, 2.0, 0.0, -1.0, 0.3, 0.7], &[3, 3]);
    let cov = l.matmul(&l.tr());
    let d = MultivariateNormal::from_covariance(v64(&[1.0, -1.0, 0.5]), &cov).unwrap();
    let x = {
        let _g = seeded(6000);
        d.sample(&[N]).unwrap()
    };
    let c = x - d.mean().unwrap();
    let emp = c.tr().matmul(&c) / (N as f64 - 1.0);
    // Entry (i, j) has standard error <= sqrt((S_ii S_jj + S_ij^2) / N) <= 2 max(S) / sqrt(N).
    let maxs = scalar(&cov.abs().max());
    assert_tensors("MVN sample covariance", &emp, &cov, 0.0, Z * 2.0 * maxs / (N as f64).sqrt());

    let w = t64(&[1.0, 0.5, -0.5, 1.0, 2.0, 0.0], &[3, 2]);
    let diag = v64(&[0.5, 1.0, 0.2]);
    let lr = LowRankMultivariateNormal::new(v64(&[0.0, 1.0, 2.0]), &w, &diag).unwrap();
    let cov = w.matmul(&w.tr()) + diag.diag_embed(0, -2, -1);
    let x = {
        let _g = seeded(6001);
        lr.sample(&[N]).unwrap()
    };
    let c = x - lr.mean().unwrap();
    let emp = c.tr().matmul(&c) / (N as f64 - 1.0);
    let maxs = scalar(&cov.abs().max());
    assert_tensors("LowRankMVN sample covariance", &emp, &cov, 0.0, Z * 2.0 * maxs / (N as f64).sqrt());
    // And the dense family with the same covariance has the same log density.
    let dense = MultivariateNormal::from_covariance(v64(&[0.0, 1.0, 2.0]), &cov).unwrap();
    let pts = t64(&[0.0, 0.0, 0.0, 1.0, -2.0, 3.0], &[2, 3]);
    assert_tensors("LowRankMVN log_prob vs dense", &lr.log_prob(&pts).unwrap(), &dense.log_prob(&pts).unwrap(), 1e-10, 1e-10);
    assert_tensors("LowRankMVN entropy vs dense", &lr.entropy().unwrap(), &dense.entropy().unwrap(), 1e-10, 1e-10);
}

#[test]
fn normal_kl_divergence_matches_a_monte_carlo_estimate_and_sums_over_events() {
    let _g = seeded(9100);
    let p = Normal::new(Tensor::from_slice(&[0.5, -1.0, 2.0]), Tensor::from_slice(&[1.5, 0.4, 1.0])).unwrap();
    let q = Normal::new(Tensor::from_slice(&[0.0, -0.5, 2.5]), Tensor::from_slice(&[1.0, 0.8, 2.0])).unwrap();
    let kl = kl_divergence(&p, &q).unwrap();
    assert_eq!(kl.size(), vec![3]);
    // E_p[log p(x) - log q(x)] from 200,000 draws, within 5 standard errors
    let x = p.sample(&[200_000]).unwrap();
    let diff = p.log_prob(&x).unwrap() - q.log_prob(&x).unwrap();
    let (mean, sd) = (diff.mean_dim(0, false, Kind::Double), diff.std_dim(0, true, false));
    for i in 0..3 {
        let (k, m, se) = (kl.double_value(&[i]), mean.double_value(&[i]), sd.double_value(&[i]) / (200_000f64).sqrt());
        assert!((k - m).abs() < 5.0 * se + 1e-9, "KL[{i}] {k} vs Monte Carlo {m} (se {se})");
    }
    // KL(p || p) = 0; Independent pairs sum over their event dims
    assert!(scalar(&kl_divergence(&p, &p).unwrap().abs().max()) < 1e-12);
    let (pi, qi) = (p.expand(&[2, 3]).unwrap().to_event(1).unwrap(), q.expand(&[3]).unwrap().to_event(1).unwrap());
    let kli = kl_divergence(&pi, &qi).unwrap();
    assert_eq!(kli.size(), vec![2]);
    assert!((kli.double_value(&[1]) - scalar(&kl.sum(Kind::Double))).abs() < 1e-12);
    // no closed form: a typed error
    let err = kl_divergence(&Cauchy::new(2.0, 1.0).unwrap(), &q).unwrap_err();
    assert!(matches!(err, DistError::Unsupported { .. }), "{err}");
}

#[test]
fn lkj_cholesky_matches_torch_and_its_correlations_have_the_lkj_marginal() {
    let _g = seeded(9200);
    // log densities from torch 2.13's LKJCholesky at its own draws (f64)
    let cases: [(i64, f64, Vec<f64>, f64); 3] = [
        // dim 2, concentration 1: uniform over r in (-1, 1), density 1/2
        (2, 1.0, vec![1.0, 0.0, -0.20728046931458396, 0.9782815581624371], -std::f64::consts::LN_2),
        (
            3,
            0.5,
            vec![1.0, 0.0, 0.0, -0.16398931571933514, 0.986462114999813, 0.0, 0.7836749897388058, -0.44696239097242385, 0.4313677451016669],
            -1.6902299311860445,
        ),
        (
            4,
            2.5,
            vec![
                1.0,
                0.0,
                0.0,
                0.0,
                0.30511380277405903,
                0.9523158968308534,
                0.0,
                0.0,
                0.5039831452877612,
                0.022204648765567415,
                0.8634280183310321,
                0.0,
                -0.04784240777948404,
                -0.09454465987041138,
                -0.5684398506544733,
                0.8158728745924636,
            ],
            -1.679876439592198,
        ),
    ];
    for (dim, conc, l, want) in cases {
        let d = LKJCholesky::new(dim, Tensor::from(conc)).unwrap();
        let got = d.log_prob(&Tensor::from_slice(&l).reshape([dim, dim])).unwrap();
        assert!((scalar(&got) - want).abs() < 1e-10, "dim {dim}, concentration {conc}: {} vs torch {want}", scalar(&got));
    }
    // Each off-diagonal correlation of LKJ(dim, eta) is 2 Beta(b, b) - 1 with b = eta - 1 + dim/2:
    // mean 0, variance 1 / (2 eta + dim - 1).
    let (dim, eta) = (4i64, 1.5f64);
    let l32 = LKJCholesky::new(dim, eta).unwrap().sample(&[N]).unwrap();
    let l = l32.to_kind(Kind::Double);
    let c = l.matmul(&l.transpose(-1, -2));
    assert!(scalar(&(c.diagonal(0, -2, -1) - 1.0).abs().max()) < 1e-5, "unit diagonal");
    let want_var = 1.0 / (2.0 * eta + dim as f64 - 1.0);
    for (i, j) in [(1, 0), (3, 1), (3, 2)] {
        let r = c.select(-2, i).select(-1, j);
        let (m, v) = (scalar(&r.mean(Kind::Double)), scalar(&r.var(true)));
        assert!(m.abs() < Z * (want_var / N as f64).sqrt(), "mean of r[{i},{j}] {m}");
        assert!((v / want_var - 1.0).abs() < 0.05, "variance of r[{i},{j}] {v} vs {want_var}");
    }
    // the draws lie in the support, and bad parameters are typed errors
    assert!(bool::try_from(Constraint::CorrCholesky.check(&l32).all()).unwrap());
    assert!(matches!(LKJCholesky::new(1, 1.0), Err(DistError::InvalidParameter { .. })));
    assert!(LKJCholesky::new(3, -1.0).is_err());
}

/// HalfStudentT: the density integrates to 1 and its first two moments equal `mean` and
/// `variance` by quadrature (df 3 and 5); draws match them (df 5 and 9, finite fourth moment).
#[test]
fn half_student_t_by_quadrature_and_draws() {
    for (df, scale) in [(3.0, 10.0), (5.0, 0.7)] {
        let d = HalfStudentT::new(df, scale).unwrap();
        // Trapezoids on a log-spaced grid from 1e-6 to 1e4 scales.
        let n = 400_000;
        let xs: Vec<f64> = (0..=n).map(|i| scale * (10f64.powf(-6.0 + 10.0 * i as f64 / n as f64))).collect();
        let x = Tensor::from_slice(&xs);
        let p: Vec<f64> = Vec::try_from(d.log_prob(&x).unwrap().exp()).unwrap();
        let (mut mass, mut first, mut second) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let h = xs[i + 1] - xs[i];
            let f = |k: i32| 0.5 * h * (p[i] * xs[i].powi(k) + p[i + 1] * xs[i + 1].powi(k));
            (mass, first, second) = (mass + f(0), first + f(1), second + f(2));
        }
        assert!((mass - 1.0).abs() < 2e-3, "df {df}: mass {mass}");
        let mean = d.mean().unwrap().double_value(&[]);
        assert!((first - mean).abs() / mean < 2e-2, "df {df}: mean {mean}, quadrature {first}");
        if df > 3.0 {
            let var = d.variance().unwrap().double_value(&[]);
            assert!((second - first * first - var).abs() / var < 2e-2, "df {df}: variance {var}");
        }
    }
    let d = HalfStudentT::new(v64(&[5.0, 9.0]), v64(&[1.5, 0.7])).unwrap();
    check_moments("HalfStudentT", &d, 17);
    assert!(HalfStudentT::new(-1.0, 1.0).is_err() && HalfStudentT::new(3.0, 0.0).is_err());
}
