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
        let (c, d) = (t.loss_and_params(&|| nn_model(&no_data), &|| nn_guide(&no_data)).unwrap(), t.loss_and_params(&|| nn_model(&no_data), &|| nn_guide(&no_data)).unwrap());
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
        let mut svi = Svi::new(&nn_model, &nn_guide, Optimizer::adam(0.05).with_schedule(LrSchedule::Exponential { gamma }), TraceMeanFieldElbo::with_particles(16, true));
        svi.progress = false;
        svi.run(800, &x).unwrap();
        assert_near("posterior mean", scalar(&param_value("loc")), mean, 0.1 * sd);
        assert_rel("posterior sd", scalar(&param_value("scale")), sd, 0.08);
    });
}

#[test]
fn a_pair_without_a_closed_form_falls_back_to_the_sample() {
    seeded(43, || {
        // Beta-Beta has no closed form here: the site is scored at the sample (score-function
        // gradients); the posterior is Beta(9, 5).
        let (flips, model, guide) = (flips(), coin_model, coin_guide);
        let gamma = 0.05f64.powf(1.0 / 800.0);
        let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.05).with_schedule(LrSchedule::Exponential { gamma }), TraceMeanFieldElbo::with_particles(32, true));
        svi.progress = false;
        svi.run(800, &flips).unwrap();
        let (a, b) = (scalar(&param_value("alpha")), scalar(&param_value("beta")));
        assert_near("posterior mean", a / (a + b), 9.0 / 14.0, 0.02);
    });
}
