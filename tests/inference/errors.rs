//! Bad input to SVI: each a typed error naming the site, and a failed step changes nothing.

use pyrite::core::param_store::lock;
use pyrite::prelude::*;

use super::common::*;

fn data() -> Tensor {
    t64(&[0.8, 1.9, 1.2, 0.4])
}

/// `mu ~ N(0, 2)`, `sigma ~ Gamma(2, 2)`, `obs_i ~ N(mu, sigma)`.
fn model(x: &Tensor) -> Result<()> {
    let mu = sample("mu", Normal::new(c64(0.0), c64(2.0))?)?;
    let sigma = sample("sigma", Gamma::new(c64(2.0), c64(2.0))?)?;
    plate("data", x.size()[0], |_| observe("obs", Normal::new(&mu, &sigma)?, x))?;
    Ok(())
}

/// A guide for `mu` and `sigma` with params.
fn guide(_: &Tensor) -> Result<()> {
    let loc = param("loc", c64(0.0), Constraint::Real)?;
    sample("mu", Normal::new(loc, c64(0.5))?)?;
    let a = param("a", c64(2.0), Constraint::Positive)?;
    sample("sigma", Gamma::new(a, c64(2.0))?)?;
    Ok(())
}

fn svi_step(model: &impl Fn(&Tensor) -> Result<()>, guide: &impl Fn(&Tensor) -> Result<()>, x: &Tensor) -> Result<f64> {
    let mut svi = Svi::new(model, guide, Optimizer::adam(0.01), TraceElbo::new());
    svi.step(x)
}

#[test]
fn a_guide_without_a_latent_site_of_the_model_is_missing_guide_site() {
    seeded(51, || {
        let partial = |_: &Tensor| -> Result<()> {
            let loc = param("loc", c64(0.0), Constraint::Real)?;
            sample("mu", Normal::new(loc, c64(0.5))?)?;
            Ok(())
        };
        let err = svi_step(&model, &partial, &data()).unwrap_err();
        assert!(matches!(err, PyriteError::MissingGuideSite { ref site } if site == "sigma"), "{err}");
        assert!(err.to_string().contains("sigma"));
        // the failed first step leaves no params behind
        assert!(lock(&get_param_store()).is_empty(), "{:?}", lock(&get_param_store()).names());
    });
}

#[test]
fn a_guide_site_whose_support_or_shape_disagrees_is_guide_mismatch() {
    seeded(52, || {
        // a discrete guide for a continuous site
        let discrete = |_: &Tensor| -> Result<()> {
            sample("mu", Bernoulli::new(c64(0.5))?)?;
            sample("sigma", Gamma::new(c64(2.0), c64(2.0))?)?;
            Ok(())
        };
        let err = svi_step(&model, &discrete, &data()).unwrap_err();
        assert!(matches!(err, PyriteError::GuideMismatch { ref site, .. } if site == "mu"), "{err}");
        // a guide value of another shape
        let wide = |_: &Tensor| -> Result<()> {
            sample("mu", Normal::new(c64(0.0), c64(1.0))?)?;
            sample("sigma", Gamma::new(Tensor::full([3], 2.0, (Kind::Double, Device::Cpu)), c64(2.0))?.to_event(1)?)?;
            Ok(())
        };
        let err = svi_step(&model, &wide, &data()).unwrap_err();
        assert!(matches!(err, PyriteError::GuideMismatch { ref site, .. } if site == "sigma"), "{err}");
        // a batch of univariate guide sites for a multivariate model site of the same shape
        let mvn_model = |_: &Tensor| -> Result<()> {
            let cov = Tensor::eye(2, (Kind::Double, Device::Cpu));
            sample("w", MultivariateNormal::from_covariance(Tensor::zeros([2], (Kind::Double, Device::Cpu)), cov)?)?;
            Ok(())
        };
        let batched = |_: &Tensor| -> Result<()> {
            plate("two", 2, |_| sample("w", Normal::new(c64(0.0), c64(1.0))?))?;
            Ok(())
        };
        let err = svi_step(&mvn_model, &batched, &data()).unwrap_err();
        assert!(matches!(err, PyriteError::GuideMismatch { ref site, .. } if site == "w"), "{err}");
        assert!(lock(&get_param_store()).is_empty());
    });
}

#[test]
fn nan_in_the_observed_data_is_non_finite() {
    seeded(53, || {
        let bad = t64(&[0.8, f64::NAN, 1.2, 0.4]);
        let mut svi = Svi::new(model, guide, Optimizer::adam(0.01), TraceElbo::new());
        svi.progress = false;
        // on the first (validated) step
        let err = svi.step(&bad).unwrap_err();
        assert!(matches!(err, PyriteError::NonFinite { ref site, .. } if site == "obs"), "{err}");
        assert!(lock(&get_param_store()).is_empty());
        // and on a later step, once SVI has stopped validating
        svi.run(3, &data()).unwrap();
        let before = snapshot();
        let err = svi.step(&bad).unwrap_err();
        assert!(matches!(err, PyriteError::NonFinite { ref site, .. } if site == "obs"), "{err}");
        assert_eq!(snapshot(), before);
    });
}

#[test]
fn a_step_whose_loss_is_not_finite_changes_nothing() {
    seeded(54, || {
        // finite data whose log-density overflows: (1e300 - mu)^2 is infinite in f64
        let huge = t64(&[0.8, 1e300, 1.2, 0.4]);
        let mut svi = Svi::new(model, guide, Optimizer::adam(0.05), TraceElbo::new());
        svi.progress = false;
        svi.run(5, &data()).unwrap();
        let before = snapshot();
        assert_eq!(before.len(), 2);
        let steps = svi.optim.steps();
        let err = svi.step(&huge).unwrap_err();
        assert!(matches!(err, PyriteError::NonFinite { ref site, .. } if site == "obs"), "{err}");
        assert_eq!(snapshot(), before, "params exactly as before the failed step");
        assert_eq!(svi.optim.steps(), steps);
        // the next good step moves them as usual
        svi.step(&data()).unwrap();
        assert_ne!(snapshot(), before);
        // a first step that fails this way leaves no params
        with_param_store(&new_param_store(), || {
            let mut svi = Svi::new(model, guide, Optimizer::adam(0.05), TraceElbo::new());
            let err = svi.step(&huge).unwrap_err();
            assert!(matches!(err, PyriteError::NonFinite { ref site, .. } if site == "obs"), "{err}");
            assert!(lock(&get_param_store()).is_empty(), "{:?}", lock(&get_param_store()).names());
        });
    });
}

#[test]
fn a_non_finite_gradient_names_the_param_and_changes_nothing() {
    seeded(55, || {
        // loss sqrt(|m|) at m = 0: finite, with a non-finite gradient
        let model = |_: &Tensor| -> Result<()> {
            let m = param("m", c64(0.0), Constraint::Real)?;
            factor("f", &m.abs().sqrt())?;
            Ok(())
        };
        let guide = |_: &Tensor| -> Result<()> { Ok(()) };
        let mut svi = Svi::new(model, guide, Optimizer::adam(0.05), TraceElbo::new());
        let err = svi.step(&data()).unwrap_err();
        assert!(matches!(err, PyriteError::NonFinite { ref site, ref what } if site == "m" && what.contains("gradient")), "{err}");
        assert!(lock(&get_param_store()).is_empty());
    });
}

#[test]
fn a_model_that_does_not_broadcast_over_vectorised_particles_is_a_shape_error() {
    seeded(56, || {
        // `x.matmul(w)` puts the particles' dim on the wrong side: every particle's mean would be
        // scored against every other particle's weights
        let x = Tensor::randn([6, 2], (Kind::Double, Device::Cpu));
        let y = Tensor::randn([6], (Kind::Double, Device::Cpu));
        let model = |y: &Tensor| -> Result<()> {
            let w = sample("w", Normal::new(Tensor::zeros([2], (Kind::Double, Device::Cpu)), c64(1.0))?.to_event(1)?)?;
            let mean = x.matmul(&w.unsqueeze(-1)).squeeze_dim(-1);
            plate("data", 6, |_| observe("obs", Normal::new(&mean, c64(1.0))?, y))?;
            Ok(())
        };
        let guide = AutoNormal::new(&model, &y).unwrap();
        // fine with one particle
        let mut svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new());
        svi.step(&y).unwrap();
        let before = snapshot();
        let mut svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::with_particles(8, true));
        let err = svi.step(&y).unwrap_err();
        assert!(matches!(err, PyriteError::Shape { ref site, .. } if site == "obs"), "{err}");
        assert_eq!(snapshot(), before);
    });
}

/// A guide whose support is not inside the model's proposes values the model cannot score: a
/// typed error on the first step naming the site and both supports, before any draw leaves the
/// support (a Normal guide for a Gamma scale ran silently until one did).
#[test]
fn a_guide_support_outside_the_model_support_is_guide_mismatch() {
    seeded(57, || {
        let normal_for_gamma = |_: &Tensor| -> Result<()> {
            sample("mu", Normal::new(c64(1.0), c64(0.5))?)?;
            // loc 5, scale 0.1: every draw is positive, and still the guide is wrong
            sample("sigma", Normal::new(c64(5.0), c64(0.1))?)?;
            Ok(())
        };
        let err = svi_step(&model, &normal_for_gamma, &data()).unwrap_err();
        assert!(matches!(err, PyriteError::GuideMismatch { ref site, .. } if site == "sigma"), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("nonnegative") && msg.contains("Gamma") && msg.contains("real") && msg.contains("Normal"), "{msg}");

        let half_normal_model = |_: &Tensor| -> Result<()> { sample("s", HalfNormal::new(c64(1.0))?).map(drop) };
        let normal_guide = |_: &Tensor| -> Result<()> { sample("s", Normal::new(c64(2.0), c64(0.1))?).map(drop) };
        let err = svi_step(&half_normal_model, &normal_guide, &data()).unwrap_err();
        assert!(matches!(err, PyriteError::GuideMismatch { ref site, .. } if site == "s"), "{err}");

        let unit_model = |_: &Tensor| -> Result<()> { sample("p", Uniform::new(c64(0.0), c64(1.0))?).map(drop) };
        let wide_guide = |_: &Tensor| -> Result<()> { sample("p", Uniform::new(c64(0.0), c64(2.0))?).map(drop) };
        assert!(matches!(svi_step(&unit_model, &wide_guide, &data()), Err(PyriteError::GuideMismatch { .. })));
        let delta_outside = |_: &Tensor| -> Result<()> { sample("s", Delta::new(c64(-1.0), 0)?).map(drop) };
        assert!(matches!(svi_step(&half_normal_model, &delta_outside, &data()), Err(PyriteError::GuideMismatch { .. })));
    });
}

/// Guides whose support lies inside the model's are accepted: LogNormal and Delta on a positive
/// site, Beta on Uniform(0, 1), Exponential on a HalfNormal, a Normal on a real site, and the
/// autoguides on constrained sites.
#[test]
fn a_guide_support_inside_the_model_support_is_accepted() {
    seeded(58, || {
        let x = data();
        let lognormal = |_: &Tensor| -> Result<()> {
            sample("mu", Normal::new(c64(1.0), c64(0.5))?)?;
            sample("sigma", LogNormal::new(c64(0.0), c64(0.3))?)?;
            Ok(())
        };
        svi_step(&model, &lognormal, &x).unwrap();
        let delta = |_: &Tensor| -> Result<()> {
            sample("mu", Delta::new(c64(1.0), 0)?)?;
            sample("sigma", Delta::new(c64(0.7), 0)?)?;
            Ok(())
        };
        svi_step(&model, &delta, &x).unwrap();
        let unit_model = |_: &Tensor| -> Result<()> { sample("p", Uniform::new(c64(0.0), c64(1.0))?).map(drop) };
        let beta = |_: &Tensor| -> Result<()> { sample("p", Beta::new(c64(2.0), c64(3.0))?).map(drop) };
        svi_step(&unit_model, &beta, &x).unwrap();
        let half_normal_model = |_: &Tensor| -> Result<()> { sample("s", HalfNormal::new(c64(1.0))?).map(drop) };
        let exponential = |_: &Tensor| -> Result<()> { sample("s", Exponential::new(c64(1.0))?).map(drop) };
        svi_step(&half_normal_model, &exponential, &x).unwrap();
        let auto = AutoNormal::new(&model, &x).unwrap();
        Svi::new(model, &auto, Optimizer::adam(0.01), TraceElbo::new()).step(&x).unwrap();
        let mvn = AutoMultivariateNormal::new(&model, &x).unwrap();
        Svi::new(model, &mvn, Optimizer::adam(0.01), TraceElbo::new()).step(&x).unwrap();
        let map = AutoDelta::new(&model, &x).unwrap();
        Svi::new(model, &map, Optimizer::adam(0.01), TraceElbo::new()).step(&x).unwrap();
    });
}
