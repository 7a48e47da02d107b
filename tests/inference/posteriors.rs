//! SVI against closed-form posteriors: conjugate pairs with AutoNormal and hand-written guides,
//! Bayesian linear regression and a correlated Gaussian with AutoMultivariateNormal, MAP
//! estimates with AutoDelta.

use pyrite::prelude::*;

use super::common::*;

const PRIOR_SD: f64 = 2.0;

fn nn_data() -> Tensor {
    t64(&[0.8, 1.9, 1.2, 0.4, 1.5, 2.2, 0.9, 1.1])
}

/// `mu ~ N(0, 2)`, `x_i ~ N(mu, 1)`.
fn nn_model(x: &Tensor) -> Result<()> {
    let mu = sample("mu", Normal::new(c64(0.0), c64(PRIOR_SD))?)?;
    plate("data", x.size()[0], |_| observe("obs", Normal::new(&mu, c64(1.0))?, x))?;
    Ok(())
}

/// The exact posterior of `nn_model`: (mean, sd).
fn nn_posterior(x: &Tensor) -> (f64, f64) {
    let xs = to_vec(x);
    let prec = 1.0 / (PRIOR_SD * PRIOR_SD) + xs.len() as f64;
    (xs.iter().sum::<f64>() / prec, prec.sqrt().recip())
}

#[test]
fn normal_normal_with_autonormal_recovers_the_posterior() {
    seeded(1, || {
        let x = nn_data();
        let (mean, sd) = nn_posterior(&x);
        let guide = AutoNormal::new(&nn_model, &x).unwrap();
        let losses = fit(&nn_model, &guide, &x, 600, 0.05, 0.05, 32);
        assert!(losses[599] < losses[0]);
        // The guide family contains the posterior: mean within 0.1 posterior sd, sd within 8%.
        let loc = scalar(&guide.median().unwrap()["mu"]);
        let scale = scalar(&param_value("AutoNormal.scales.mu"));
        assert_near("posterior mean", loc, mean, 0.1 * sd);
        assert_rel("posterior sd", scale, sd, 0.08);
    });
}

#[test]
fn normal_normal_with_a_hand_written_guide_recovers_the_posterior() {
    seeded(2, || {
        let x = nn_data();
        let (mean, sd) = nn_posterior(&x);
        let guide = |_: &Tensor| -> Result<()> {
            let loc = param("loc", c64(0.0), Constraint::Real)?;
            let scale = param("scale", c64(1.0), Constraint::Positive)?;
            sample("mu", Normal::new(loc, scale)?)?;
            Ok(())
        };
        fit(&nn_model, &guide, &x, 600, 0.05, 0.05, 32);
        // Same tolerances as with AutoNormal: mean within 0.1 sd, sd within 8%.
        assert_near("posterior mean", scalar(&param_value("loc")), mean, 0.1 * sd);
        assert_rel("posterior sd", scalar(&param_value("scale")), sd, 0.08);
        assert_eq!(param_value("loc").kind(), Kind::Double, "an f64 init gives an f64 param");
    });
}

/// Ten coin flips, seven heads: under the Beta(2, 2) prior of `coin_model` the posterior is
/// Beta(9, 5).
pub fn flips() -> Tensor {
    t64(&[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
}

/// `p ~ Beta(2, 2)`, `x_i ~ Bernoulli(p)`.
pub fn coin_model(x: &Tensor) -> Result<()> {
    let p = sample("p", Beta::new(c64(2.0), c64(2.0))?)?;
    plate("flips", x.size()[0], |_| observe("obs", Bernoulli::new(&p)?, x))?;
    Ok(())
}

/// `p ~ Beta(alpha, beta)` with both learned.
pub fn coin_guide(_: &Tensor) -> Result<()> {
    let a = param("alpha", c64(1.0), Constraint::Positive)?;
    let b = param("beta", c64(1.0), Constraint::Positive)?;
    sample("p", Beta::new(a, b)?)?;
    Ok(())
}

#[test]
fn beta_bernoulli_with_a_beta_guide_recovers_the_posterior() {
    seeded(3, || {
        let (flips, model, guide) = (flips(), coin_model, coin_guide);
        fit(&model, &guide, &flips, 800, 0.05, 0.05, 32);
        let (a, b) = (scalar(&param_value("alpha")), scalar(&param_value("beta")));
        let mean = a / (a + b);
        let sd = (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
        let (pa, pb) = (9.0f64, 5.0f64);
        let want_sd = (pa * pb / ((pa + pb) * (pa + pb) * (pa + pb + 1.0))).sqrt();
        // mean within 0.2 posterior sd, sd within 12% (a, b themselves are loosely determined).
        assert_near("posterior mean", mean, pa / (pa + pb), 0.2 * want_sd);
        assert_rel("posterior sd", sd, want_sd, 0.12);
    });
}

#[test]
fn gamma_poisson_with_a_gamma_guide_recovers_the_posterior() {
    seeded(4, || {
        // Gamma(2, 1) prior on the rate, counts summing to 20 over 5: the posterior is Gamma(22, 6).
        let counts = t64(&[3.0, 5.0, 4.0, 6.0, 2.0]);
        let model = |x: &Tensor| -> Result<()> {
            let rate = sample("rate", Gamma::new(c64(2.0), c64(1.0))?)?;
            plate("data", x.size()[0], |_| observe("obs", Poisson::new(&rate)?, x))?;
            Ok(())
        };
        let guide = |_: &Tensor| -> Result<()> {
            let a = param("a", c64(1.0), Constraint::Positive)?;
            let b = param("b", c64(1.0), Constraint::Positive)?;
            sample("rate", Gamma::new(a, b)?)?;
            Ok(())
        };
        fit(&model, &guide, &counts, 1500, 0.1, 0.02, 32);
        let (a, b) = (scalar(&param_value("a")), scalar(&param_value("b")));
        let want_sd = 22f64.sqrt() / 6.0;
        // mean within 0.15 posterior sd, sd within 12%.
        assert_near("posterior mean", a / b, 22.0 / 6.0, 0.15 * want_sd);
        assert_rel("posterior sd", a.sqrt() / b, want_sd, 0.12);
    });
}

/// Bayesian linear regression with known noise and correlated predictors.
pub struct Regression {
    x: Tensor,
    y: Tensor,
}

const NOISE: f64 = 0.5;

pub fn regression_data() -> Regression {
    // Two predictors with correlation about 0.9, so that the weights' posterior is strongly
    // (negatively) correlated.
    let x1 = t64(&[-1.2, -0.7, -0.3, 0.1, 0.4, 0.9, 1.3, -0.2, 0.6, -0.9, 1.1, 0.0]);
    let noise = t64(&[0.3, -0.2, 0.25, -0.3, 0.1, -0.15, 0.2, 0.35, -0.25, 0.05, -0.1, 0.3]);
    let x2 = &x1 + noise;
    let x = Tensor::stack(&[x1, x2], 1);
    let w = t64(&[1.0, -0.5]);
    let eps = t64(&[0.1, -0.4, 0.3, 0.2, -0.1, 0.5, -0.3, 0.0, 0.2, -0.2, 0.1, -0.5]);
    let y = x.matmul(&w) + eps * NOISE;
    Regression { x, y }
}

pub fn regression_model(d: &Regression) -> Result<()> {
    let w = sample("w", Normal::new(Tensor::zeros([2], (Kind::Double, Device::Cpu)), c64(1.0))?.to_event(1)?)?;
    // `(x * w).sum(-1)` broadcasts over the vectorised particles' dim, `x.matmul(w)` would not.
    let mean = (&d.x * &w).sum_dim_intlist(-1, false, Kind::Double);
    plate("data", d.y.size()[0], |_| observe("obs", Normal::new(&mean, c64(NOISE))?, &d.y))?;
    Ok(())
}

/// The exact posterior of `regression_model`: mean and covariance.
pub fn regression_posterior(d: &Regression) -> (Tensor, Tensor) {
    let prec = d.x.transpose(0, 1).matmul(&d.x) / (NOISE * NOISE) + Tensor::eye(2, (Kind::Double, Device::Cpu));
    let cov = prec.inverse();
    let mean = cov.matmul(&d.x.transpose(0, 1).matmul(&d.y.unsqueeze(-1))).squeeze_dim(-1) / (NOISE * NOISE);
    (mean, cov)
}

fn corr(cov: &Tensor) -> f64 {
    scalar(&cov.get(0).get(1)) / (scalar(&cov.get(0).get(0)) * scalar(&cov.get(1).get(1))).sqrt()
}

#[test]
fn linear_regression_with_automultivariatenormal_recovers_the_gaussian_posterior() {
    seeded(5, || {
        let d = regression_data();
        let (mean, cov) = regression_posterior(&d);
        let want_corr = corr(&cov);
        assert!(want_corr < -0.6, "the test needs a strongly correlated posterior ({want_corr})");
        let guide = AutoMultivariateNormal::new(&regression_model, &d).unwrap();
        fit(&regression_model, &guide, &d, 800, 0.05, 0.05, 32);
        let got_mean = guide.median().unwrap()["w"].shallow_clone();
        let got_cov = guide.covariance().unwrap().to_kind(Kind::Double);
        for i in 0..2 {
            let sd = scalar(&cov.get(i).get(i)).sqrt();
            // each weight's mean within 0.1 posterior sd, variance within 12%
            assert_near(&format!("mean of w[{i}]"), scalar(&got_mean.get(i)), scalar(&mean.get(i)), 0.1 * sd);
            assert_rel(&format!("variance of w[{i}]"), scalar(&got_cov.get(i).get(i)), scalar(&cov.get(i).get(i)), 0.12);
        }
        // correlation within 0.05
        assert_near("posterior correlation", corr(&got_cov), want_corr, 0.05);
        // the guide keeps the model's dtype
        assert_eq!(got_mean.kind(), Kind::Double);
    });
}

#[test]
fn automultivariatenormal_recovers_a_correlated_gaussian_over_two_sites() {
    seeded(6, || {
        // z1 ~ N(0, 1), z2 ~ N(0.8 z1, 0.6): jointly Gaussian with unit variances and correlation
        // 0.8. No data: the posterior is the prior.
        let model = |_: &()| -> Result<()> {
            let z1 = sample("z1", Normal::new(c64(0.0), c64(1.0))?)?;
            sample("z2", Normal::new(z1 * 0.8, c64(0.6))?)?;
            Ok(())
        };
        let guide = AutoMultivariateNormal::new(&model, &()).unwrap();
        fit(&model, &guide, &(), 800, 0.05, 0.05, 32);
        let cov = guide.covariance().unwrap().to_kind(Kind::Double);
        let m = guide.median().unwrap();
        assert_near("mean of z1", scalar(&m["z1"]), 0.0, 0.1);
        assert_near("mean of z2", scalar(&m["z2"]), 0.0, 0.1);
        assert_rel("variance of z1", scalar(&cov.get(0).get(0)), 1.0, 0.12);
        assert_rel("variance of z2", scalar(&cov.get(1).get(1)), 1.0, 0.12);
        // correlation within 0.05
        assert_near("correlation", corr(&cov), 0.8, 0.05);
        // the joint draws agree
        let s = guide.sample_posterior(4000).unwrap();
        let st = Tensor::stack(&[s["z1"].to_kind(Kind::Double), s["z2"].to_kind(Kind::Double)], 0);
        assert_near("sample correlation", st.corrcoef().double_value(&[0, 1]), 0.8, 0.05);
    });
}

#[test]
fn autodelta_finds_the_map() {
    seeded(7, || {
        // Normal-Normal: the MAP is the posterior mean. AutoDelta's loss is deterministic, so the
        // optimum is reached to 1e-3.
        let x = nn_data();
        let (mean, _) = nn_posterior(&x);
        let guide = AutoDelta::new(&nn_model, &x).unwrap();
        fit(&nn_model, &guide, &x, 400, 0.1, 0.01, 1);
        assert_near("Normal-Normal MAP", scalar(&guide.median().unwrap()["mu"]), mean, 1e-3);
    });
    seeded(8, || {
        // Gamma(3, 2) prior on a Poisson rate, counts summing to 20 over 5: the MAP in the
        // constrained space is (3 + 20 - 1) / (2 + 5) = 22 / 7 (no Jacobian: a point estimate).
        let counts = t64(&[3.0, 5.0, 4.0, 6.0, 2.0]);
        let model = |x: &Tensor| -> Result<()> {
            let rate = sample("rate", Gamma::new(c64(3.0), c64(2.0))?)?;
            plate("data", x.size()[0], |_| observe("obs", Poisson::new(&rate)?, x))?;
            Ok(())
        };
        let guide = AutoDelta::new(&model, &counts).unwrap();
        fit(&model, &guide, &counts, 400, 0.1, 0.01, 1);
        assert_near("Gamma-Poisson MAP", scalar(&guide.median().unwrap()["rate"]), 22.0 / 7.0, 1e-3);
    });
}

#[test]
fn autodelta_with_an_lkj_prior_finds_the_maximum_likelihood_correlation() {
    seeded(9, || {
        // x ~ N(0, [[1, r], [r, 1]]) with r = 0.6; under LKJCholesky(2, 1) the density of L is
        // flat, so the MAP of L (no Jacobian: a point estimate) is the likelihood's maximum,
        // found here by a grid over r.
        let z = Tensor::randn([400, 2], (Kind::Double, Device::Cpu));
        let r_true = 0.6f64;
        let x1 = z.select(1, 0);
        let x2 = &x1 * r_true + z.select(1, 1) * (1.0 - r_true * r_true).sqrt();
        let x = Tensor::stack(&[x1, x2], 1);
        let model = |x: &Tensor| -> Result<()> {
            let l = sample("L", LKJCholesky::new(2, c64(1.0))?)?;
            let mvn = MultivariateNormal::from_scale_tril(Tensor::zeros([2], (Kind::Double, Device::Cpu)), &l)?;
            plate("data", x.size()[0], |_| observe("obs", mvn, x))?;
            Ok(())
        };
        let guide = AutoDelta::new(&model, &x).unwrap();
        fit(&model, &guide, &x, 500, 0.05, 0.02, 1);
        let l = guide.median().unwrap()["L"].shallow_clone();
        let c = l.matmul(&l.tr());
        let r = scalar(&c.get(0).get(1));
        let v = to_vec(&x);
        let (s11, s12, s22) =
            (0..400).fold((0.0, 0.0, 0.0), |(a, b, c), i| (a + v[2 * i] * v[2 * i], b + v[2 * i] * v[2 * i + 1], c + v[2 * i + 1] * v[2 * i + 1]));
        let loglik = |r: f64| -200.0 * (1.0 - r * r).ln() - (s11 - 2.0 * r * s12 + s22) / (2.0 * (1.0 - r * r));
        let mle = (-999..=999).map(|i| i as f64 / 1000.0).max_by(|a, b| loglik(*a).total_cmp(&loglik(*b))).unwrap();
        assert_near("MAP correlation", r, mle, 2e-3);
        assert_near("unit diagonal", scalar(&c.get(1).get(1)), 1.0, 1e-9);
    });
}

/// Pyro's `NonreparameterizedNormal`: a Normal whose draws carry no gradient, so that SVI
/// learns its params by the score-function estimator alone.
#[derive(Debug)]
struct NonReparameterized(DistRef);

impl Distribution for NonReparameterized {
    fn name(&self) -> &'static str {
        "NonReparameterized"
    }
    fn batch_shape(&self) -> &[i64] {
        self.0.batch_shape()
    }
    fn support(&self) -> Constraint {
        self.0.support()
    }
    fn options(&self) -> (Kind, Device) {
        self.0.options()
    }
    fn sample(&self, sample_shape: &[i64]) -> std::result::Result<Tensor, DistError> {
        self.0.sample(sample_shape)
    }
    fn log_prob(&self, value: &Tensor) -> std::result::Result<Tensor, DistError> {
        self.0.log_prob(value)
    }
    fn expand(&self, batch_shape: &[i64]) -> std::result::Result<DistRef, DistError> {
        Ok(std::rc::Rc::new(NonReparameterized(self.0.expand(batch_shape)?)))
    }
}

/// The score-function estimator needs `log q` to carry the gradients of the guide's params at
/// a draw made without gradient; a Normal that scored its own draw from the draw's noise gave
/// none to `loc`, so the guide never moved.
#[test]
fn normal_normal_with_a_non_reparameterised_guide_recovers_the_posterior() {
    seeded(3, || {
        let x = nn_data();
        let (mean, sd) = nn_posterior(&x);
        let guide = |_: &Tensor| -> Result<()> {
            let loc = param("loc", c64(0.0), Constraint::Real)?;
            let scale = param("scale", c64(1.0), Constraint::Positive)?;
            sample("mu", NonReparameterized(Normal::new(loc, scale)?.into_dist()))?;
            Ok(())
        };
        fit(&nn_model, &guide, &x, 800, 0.05, 0.05, 256);
        // The score-function gradient is noisier than the pathwise one: mean within 0.25 sd,
        // sd within 20%.
        assert_near("posterior mean", scalar(&param_value("loc")), mean, 0.25 * sd);
        assert_rel("posterior sd", scalar(&param_value("scale")), sd, 0.2);
    });
}
