//! Trace_ELBO against closed forms: the estimate and its gradient for a Gaussian model and guide,
//! and the score-function path for a guide without `rsample`.

use pyrite::infer::elbo::Elbo;
use pyrite::prelude::*;

use super::common::*;

const X: f64 = 0.5;

/// `z ~ N(0, 1)`, `x ~ N(z, 1)` with `x = 0.5` observed.
fn gauss_model() -> Result<()> {
    let z = sample("z", Normal::new(c64(0.0), c64(1.0))?)?;
    observe("x", Normal::new(z, c64(1.0))?, &c64(X))?;
    Ok(())
}

/// `q(z) = N(m, s)`.
fn gauss_guide() -> Result<()> {
    let m = param("m", c64(0.3), Constraint::Real)?;
    let s = param("s", c64(0.8), Constraint::Positive)?;
    sample("z", Normal::new(m, s)?)?;
    Ok(())
}

/// The closed-form ELBO of `gauss_model` / `gauss_guide`, and its gradient with respect to `m`
/// and to the unconstrained `log s`:
/// `E_q[log N(z; 0, 1) + log N(x; z, 1) - log q(z)]`
/// `= -log(2 pi) / 2 - (m^2 + s^2) / 2 - ((x - m)^2 + s^2) / 2 + 1 / 2 + log s`.
fn gauss_elbo(m: f64, s: f64) -> (f64, f64, f64) {
    let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
    let elbo = -half_ln_2pi - 0.5 * (m * m + s * s) - 0.5 * ((X - m).powi(2) + s * s) + 0.5 + s.ln();
    let d_m = X - 2.0 * m;
    let d_log_s = s * (-2.0 * s + 1.0 / s);
    (elbo, d_m, d_log_s)
}

/// The loss and the gradients of its surrogate with respect to the named unconstrained params.
fn loss_and_grads(elbo: &TraceElbo, model: &dyn Fn() -> Result<()>, guide: &dyn Fn() -> Result<()>, names: &[&str]) -> (f64, Vec<f64>) {
    let lp = elbo.loss_and_params(model, guide).unwrap();
    for (_, p) in &lp.params {
        let mut g = p.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
    lp.surrogate.backward();
    let grads = names
        .iter()
        .map(|n| {
            let (_, p) = lp.params.iter().find(|(k, _)| k == n).unwrap_or_else(|| panic!("no param {n}"));
            scalar(&p.grad())
        })
        .collect();
    (lp.loss, grads)
}

#[test]
fn the_trace_elbo_estimate_and_its_gradient_match_the_closed_form() {
    seeded(11, || {
        let (elbo, d_m, d_log_s) = gauss_elbo(0.3, 0.8);
        // 20000 vectorised particles: the per-particle ELBO has sd about 1.2 and the gradients
        // about 1.6, so the standard errors are about 0.01; tolerance 0.04.
        let vec = TraceElbo::with_particles(20000, true);
        let (loss, g) = loss_and_grads(&vec, &gauss_model, &gauss_guide, &["m", "s"]);
        assert_near("ELBO (vectorised)", -loss, elbo, 0.04);
        // the surrogate is the loss: its gradient is minus the ELBO's
        assert_near("d loss / d m (vectorised)", g[0], -d_m, 0.04);
        assert_near("d loss / d log s (vectorised)", g[1], -d_log_s, 0.04);
        // 400 sequential particles: standard errors about 0.08; tolerance 0.3.
        let seq = TraceElbo::with_particles(400, false);
        let (loss, g) = loss_and_grads(&seq, &gauss_model, &gauss_guide, &["m", "s"]);
        assert_near("ELBO (sequential)", -loss, elbo, 0.3);
        assert_near("d loss / d m (sequential)", g[0], -d_m, 0.3);
        assert_near("d loss / d log s (sequential)", g[1], -d_log_s, 0.3);
        // one particle: the estimate at the guide's draw, exactly log p(x, z) - log q(z)
        let one = TraceElbo::new();
        let (loss1, _) = loss_and_grads(&one, &gauss_model, &gauss_guide, &["m"]);
        assert!(loss1.is_finite());
        // the average of many one-particle losses is the same expectation (sd 1.2 / sqrt(300))
        let mean1: f64 = (0..300).map(|_| loss_and_grads(&one, &gauss_model, &gauss_guide, &["m"]).0).sum::<f64>() / 300.0;
        assert_near("ELBO (average of single particles)", -mean1, elbo, 0.25);
    });
}

#[test]
fn the_elbo_of_a_subsampled_plate_is_scaled_to_the_full_data() {
    seeded(12, || {
        // Data in a plate of 40 seen 10 at a time: each site's log-density is scaled by 4, so
        // the estimate is unbiased for the full-data ELBO (here with a point-mass guide, whose
        // ELBO is exactly log p(x, m)).
        let data = Tensor::linspace(-1.0, 2.0, 40, (Kind::Double, Device::Cpu));
        let full = |sub: Option<i64>| {
            let data = data.shallow_clone();
            move || -> Result<()> {
                let mu = sample("mu", Normal::new(c64(0.0), c64(1.0))?)?;
                let mut p = Plate::new("data", 40);
                if let Some(n) = sub {
                    p = p.subsample_size(n);
                }
                p.run(|p| observe("obs", Normal::new(&mu, c64(1.0))?, &p.subsample(&data, 0)?))?;
                Ok(())
            }
        };
        let guide = || -> Result<()> {
            let m = param("m", c64(0.4), Constraint::Real)?;
            sample("mu", Delta::new(m, 0)?)?;
            Ok(())
        };
        let elbo = TraceElbo::new();
        let (exact, _) = loss_and_grads(&elbo, &full(None), &guide, &["m"]);
        let sub = full(Some(10));
        let n = 400;
        let mean: f64 = (0..n).map(|_| loss_and_grads(&elbo, &sub, &guide, &["m"]).0).sum::<f64>() / n as f64;
        // The subsample's loss has sd about 7 here: the mean of 400 is within 1.5 of the exact.
        assert_near("subsampled loss, averaged", mean, exact, 1.5);
        // and one subsampled trace carries the scale 40 / 10
        let tr = get_trace(&sub).unwrap();
        assert_eq!(tr.site("obs").unwrap().scale, 4.0);
        assert_eq!(tr.site("obs").unwrap().value.size(), vec![10]);
    });
}

const PRIOR: f64 = 0.3;
const OBS: f64 = 1.5;

/// `z ~ Bernoulli(0.3)`, `x ~ N(2 z - 1, 1)` with `x = 1.5` observed.
fn bernoulli_model() -> Result<()> {
    let z = sample("z", Bernoulli::new(c64(PRIOR))?)?;
    observe("x", Normal::new(z * 2.0 - 1.0, c64(1.0))?, &c64(OBS))?;
    Ok(())
}

/// `q(z) = Bernoulli(p)`: no `rsample`, so Trace_ELBO needs the score function.
fn bernoulli_guide() -> Result<()> {
    let p = param("p", c64(0.5), Constraint::UnitInterval)?;
    sample("z", Bernoulli::new(p)?)?;
    Ok(())
}

/// The exact posterior `P(z = 1 | x)`.
fn bernoulli_posterior() -> f64 {
    let l1 = PRIOR * (-0.5 * (OBS - 1.0).powi(2)).exp();
    let l0 = (1.0 - PRIOR) * (-0.5 * (OBS + 1.0).powi(2)).exp();
    l1 / (l1 + l0)
}

/// `d ELBO / d logit(p)` for `bernoulli_guide`: `p (1 - p) (logit(post) - logit(p))`, since
/// `d ELBO / d p = logit(prior) + log N(x; 1, 1) - log N(x; -1, 1) - logit(p)` and the first three
/// terms add up to the posterior's logit.
fn bernoulli_elbo_grad(p: f64) -> f64 {
    let logit = |q: f64| (q / (1.0 - q)).ln();
    p * (1.0 - p) * (logit(bernoulli_posterior()) - logit(p))
}

#[test]
fn the_score_function_gradient_matches_the_analytic_gradient() {
    seeded(13, || {
        let want = -bernoulli_elbo_grad(0.5);
        // 20000 vectorised particles. Each particle's score term (z - p) * (its own log r) has sd
        // about 1.5, so the standard error is about 0.01; tolerance 0.05. (A score term paired
        // with the sum over all particles would have sd about 3 per particle times sqrt(20000).)
        let vec = TraceElbo::with_particles(20000, true);
        let (_, g) = loss_and_grads(&vec, &bernoulli_model, &bernoulli_guide, &["p"]);
        assert_near("d loss / d logit p (vectorised)", g[0], want, 0.05);
        // sequential particles: standard error about 0.1; tolerance 0.35
        let seq = TraceElbo::with_particles(200, false);
        let (_, g) = loss_and_grads(&seq, &bernoulli_model, &bernoulli_guide, &["p"]);
        assert_near("d loss / d logit p (sequential)", g[0], want, 0.35);
    });
}

#[test]
fn the_score_function_is_paired_with_each_plate_elements_own_cost() {
    seeded(14, || {
        // 50 independent Bernoulli latents in a plate, one observation each: the gradient of each
        // element's logit depends only on its own datum. Paired with its own cost (Pyro's
        // plate-wise Rao-Blackwellisation) each element's score term has sd at most 1.8 per
        // particle, so 4000 particles give standard errors below 0.03; tolerance 0.15 (over 5
        // standard errors, for 50 elements). Paired with the whole ELBO, the noise grows with the
        // plate's size and the errors are in the hundreds.
        let n = 50;
        let xs = Tensor::linspace(-2.0, 2.0, n, (Kind::Double, Device::Cpu));
        let model = || -> Result<()> {
            plate("data", n, |_| {
                let z = sample("z", Bernoulli::new(Tensor::full([n], PRIOR, (Kind::Double, Device::Cpu)))?)?;
                observe("x", Normal::new(z * 2.0 - 1.0, c64(1.0))?, &xs)
            })?;
            Ok(())
        };
        let guide = || -> Result<()> {
            let p = param("p", Tensor::full([n], 0.5, (Kind::Double, Device::Cpu)), Constraint::UnitInterval)?;
            plate("data", n, |_| sample("z", Bernoulli::new(&p)?))?;
            Ok(())
        };
        let elbo = TraceElbo::with_particles(4000, true);
        let lp = elbo.loss_and_params(&model, &guide).unwrap();
        lp.surrogate.backward();
        let g = to_vec(&lp.params.iter().find(|(k, _)| k == "p").unwrap().1.grad());
        let logit = |q: f64| (q / (1.0 - q)).ln();
        for (i, x) in to_vec(&xs).into_iter().enumerate() {
            let post_logit = logit(PRIOR) - 0.5 * (x - 1.0).powi(2) + 0.5 * (x + 1.0).powi(2);
            let want = -0.25 * (post_logit - 0.0);
            assert_near(&format!("gradient of element {i}"), g[i], want, 0.15);
        }
    });
}

#[test]
fn svi_with_a_score_function_guide_moves_towards_the_posterior() {
    seeded(15, || {
        let post = bernoulli_posterior();
        assert!(post > 0.85, "the test needs a posterior far from the initial 0.5 ({post})");
        let model = |_: &()| bernoulli_model();
        let guide = |_: &()| bernoulli_guide();
        let mut svi = Svi::new(model, guide, Optimizer::adam(0.05), TraceElbo::with_particles(16, true));
        svi.progress = false;
        svi.run(300, &()).unwrap();
        // Loose: within 0.06 of the exact posterior probability (it starts 0.39 away).
        assert_near("q(z = 1)", scalar(&param_value("p")), post, 0.06);
    });
}
