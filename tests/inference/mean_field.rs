//! `TraceMeanFieldElbo`: closed-form KL terms where a pair has one, the sample's log-ratio
//! otherwise; exact where the model has no data, and fitting the same posteriors as `TraceElbo`.

use pyrite::prelude::*;

use super::common::*;
use super::posteriors::{coin_guide, coin_model, flips};

/// `mu ~ N(0, 2)`, `x_i ~ N(mu, 1)`.
fn nn_model(x: &Tensor) -> Result<()> {
    let mu = sample("mu", Normal::new(c64(0.0), c64(2.0))?)?;
    plate("data", x.size()[0], |_| observe("obs", Normal::new(&mu, c64(1.0))?, x))?;
    Ok(())
}

fn nn_guide(_: &Tensor) -> Result<()> {
    let loc = param("loc", c64(0.3), Constraint::Real)?;
    let scale = param("scale", c64(0.7), Constraint::Positive)?;
    sample("mu", Normal::new(loc, scale)?)?;
    Ok(())
}

#[test]
fn with_no_data_the_loss_is_the_closed_form_kl_and_its_gradient() {
    seeded(41, || {
        let no_data = Tensor::zeros([0], (Kind::Double, Device::Cpu));
        let elbo = TraceMeanFieldElbo::new();
        let a = elbo.loss_and_params(&|| nn_model(&no_data), &|| nn_guide(&no_data)).unwrap();
        let b = elbo.loss_and_params(&|| nn_model(&no_data), &|| nn_guide(&no_data)).unwrap();
        // KL(N(0.3, 0.7) || N(0, 2)) = log(2 / 0.7) + (0.49 + 0.09) / 8 - 1/2
        let want = (2.0f64 / 0.7).ln() + (0.49 + 0.09) / 8.0 - 0.5;
        assert_near("loss", a.loss, want, 1e-9);
        assert_eq!(a.loss, b.loss, "no sampling noise");
        // d KL / d loc = loc / 4; d KL / d log(scale) = -1 + scale^2 / 4
        a.surrogate.backward();
        let grad = |n: &str| to_vec(&a.params.iter().find(|(m, _)| m == n).unwrap().1.grad())[0];
        assert_near("d/dloc", grad("loc"), 0.3 / 4.0, 1e-9);
        assert_near("d/dlog scale", grad("scale"), -1.0 + 0.49 / 4.0, 1e-9);
        // Trace_ELBO's estimate of the same is noisy
        let t = TraceElbo::new();
        let (c, d) = (
            t.loss_and_params(&|| nn_model(&no_data), &|| nn_guide(&no_data)).unwrap(),
            t.loss_and_params(&|| nn_model(&no_data), &|| nn_guide(&no_data)).unwrap(),
        );
        assert_ne!(c.loss, d.loss);
    });
}

#[test]
fn mean_field_svi_recovers_the_conjugate_posterior() {
    seeded(42, || {
        let x = t64(&[0.8, 1.9, 1.2, 0.4, 1.5, 2.2, 0.9, 1.1]);
        let prec = 1.0 / 4.0 + 8.0;
        let (mean, sd) = (to_vec(&x).iter().sum::<f64>() / prec, prec.sqrt().recip());
        let gamma = 0.05f64.powf(1.0 / 800.0);
        let mut svi =
            Svi::new(nn_model, nn_guide, Optimizer::adam(0.05).with_schedule(LrSchedule::Exponential { gamma }), TraceMeanFieldElbo::with_particles(16, true));
        svi.progress = false;
        svi.run(800, &x).unwrap();
        assert_near("posterior mean", scalar(&param_value("loc")), mean, 0.1 * sd);
        assert_rel("posterior sd", scalar(&param_value("scale")), sd, 0.08);
    });
}

#[test]
fn a_beta_guide_of_a_beta_prior_fits_the_conjugate_posterior() {
    seeded(43, || {
        // Beta-Beta in closed form (Beta draws are reparameterised); the posterior is Beta(9, 5).
        let (flips, model, guide) = (flips(), coin_model, coin_guide);
        let gamma = 0.05f64.powf(1.0 / 800.0);
        let mut svi =
            Svi::new(model, guide, Optimizer::adam(0.05).with_schedule(LrSchedule::Exponential { gamma }), TraceMeanFieldElbo::with_particles(32, true));
        svi.progress = false;
        svi.run(800, &flips).unwrap();
        let (a, b) = (scalar(&param_value("alpha")), scalar(&param_value("beta")));
        assert_near("posterior mean", a / (a + b), 9.0 / 14.0, 0.02);
    });
}

/// Where the pair has no closed form (a Normal guide of a Cauchy prior), or the guide site is not
/// reparameterised (a Bernoulli guide of a Bernoulli prior), the estimate is `Trace_ELBO`'s, draw
/// for draw; with a closed form it is not.
#[test]
fn without_a_closed_form_or_a_reparameterised_guide_the_estimate_is_trace_elbos() {
    let cauchy_model = |_: &()| -> Result<()> { sample("z", Cauchy::new(c64(0.0), c64(1.0))?).map(drop) };
    let normal_model = |_: &()| -> Result<()> { sample("z", Normal::new(c64(0.0), c64(1.0))?).map(drop) };
    let normal_guide = |_: &()| -> Result<()> { sample("z", Normal::new(c64(0.5), c64(0.8))?).map(drop) };
    let coin_prior = |_: &()| -> Result<()> { sample("z", Bernoulli::new(c64(0.3))?).map(drop) };
    let coin_guide = |_: &()| -> Result<()> {
        let p = param("p", c64(0.6), Constraint::UnitInterval)?;
        sample("z", Bernoulli::new(p)?).map(drop)
    };
    let both = |model: &dyn Fn(&()) -> Result<()>, guide: &dyn Fn(&()) -> Result<()>| {
        let run = |elbo: &dyn Elbo| seeded(44, || elbo.loss_and_params(&|| model(&()), &|| guide(&())).unwrap().loss);
        (run(&TraceMeanFieldElbo::new()), run(&TraceElbo::new()))
    };
    let (mean_field, trace) = both(&cauchy_model, &normal_guide);
    assert_eq!(mean_field, trace, "Normal guide, Cauchy prior");
    let (mean_field, trace) = both(&coin_prior, &coin_guide);
    assert_eq!(mean_field, trace, "Bernoulli guide, Bernoulli prior");
    let (mean_field, trace) = both(&normal_model, &normal_guide);
    assert_ne!(mean_field, trace, "Normal guide, Normal prior: closed form");
}
