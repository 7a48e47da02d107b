//! Inference settings that cannot work (no particles, a low rank that is not positive), a guide
//! variable used outside its plate, a model that panics inside a step, and summaries of no
//! samples.

use pyrite::core::param_store::lock;
use pyrite::prelude::*;

use super::{documented, no_panic};

fn model(_: &()) -> Result<()> {
    sample("x", Normal::new(0.0, 1.0)).map(drop)
}

fn guide(_: &()) -> Result<()> {
    let loc = param("loc", 0.0, Constraint::Real)?;
    sample("x", Normal::new(loc, 1.0)).map(drop)
}

#[test]
fn zero_particles_is_invalid_input_and_changes_nothing() {
    with_param_store(&new_param_store(), || {
        let mut elbo = TraceElbo::new();
        elbo.num_particles = 0;
        let mut svi = Svi::new(model, guide, Optimizer::adam(0.1), elbo);
        svi.progress = false;
        let err = no_panic("step", || svi.step(&())).unwrap_err();
        assert!(matches!(err, PyriteError::InvalidInput { ref what, .. } if what == "num_particles"), "{err}");
        documented(&err, "invalid input `num_particles`: must be positive, got 0");
        assert!(lock(&get_param_store()).is_empty(), "a failed first step leaves no params");
        // The same straight from the estimator, outside `Svi::step`.
        let mut elbo = TraceElbo::new();
        elbo.num_particles = 0;
        let err = no_panic("loss", || elbo.loss_and_params(&|| model(&()), &|| guide(&()))).err().expect("an error");
        assert!(matches!(err, PyriteError::InvalidInput { .. }), "{err}");
    });
}

#[test]
fn a_low_rank_guide_of_rank_zero_is_invalid_input() {
    for rank in [0, -1] {
        let err = no_panic("rank", || AutoLowRankMultivariateNormal::new(&model, &(), rank)).err().expect("an error");
        assert!(matches!(err, PyriteError::InvalidInput { ref what, .. } if what == "rank"), "{err}");
    }
    documented(&AutoLowRankMultivariateNormal::new(&model, &(), 0).err().expect("an error"), "invalid input `rank`: must be positive, got 0");
    assert!(AutoLowRankMultivariateNormal::new(&model, &(), 1).is_ok());
}

#[test]
fn a_panic_inside_a_step_is_a_model_error_and_changes_nothing() {
    with_param_store(&new_param_store(), || {
        // Tensors of shapes [2] and [3] added inside the model: libtorch refuses, tch panics.
        let bad = |_: &()| -> Result<()> {
            let x = sample("x", Normal::new(0.0, 1.0))?;
            let _ = Tensor::zeros([2], (Kind::Float, Device::Cpu)) + Tensor::zeros([3], (Kind::Float, Device::Cpu)) + x;
            Ok(())
        };
        let mut svi = Svi::new(bad, guide, Optimizer::adam(0.1), TraceElbo::new());
        svi.progress = false;
        let err = svi.step(&()).unwrap_err();
        let PyriteError::Model(msg) = &err else { panic!("expected a model error, got {err:?}") };
        assert!(msg.starts_with("panic inside the model or guide: "), "{msg}");
        assert!(msg.contains("The size of tensor a (2) must match the size of tensor b (3)"), "{msg}");
        assert!(lock(&get_param_store()).is_empty(), "a failed first step leaves no params");
    });
}

#[test]
fn a_summary_of_no_samples_is_nan_not_a_panic() {
    let samples: Samples = [("x".to_string(), Tensor::zeros([0, 2], (Kind::Float, Device::Cpu)))].into_iter().collect();
    let s = no_panic("summary", || summary(&samples));
    for t in [&s["x"].mean, &s["x"].q05, &s["x"].q95] {
        assert_eq!(t.size(), vec![2]);
        assert!(bool::try_from(t.isnan().all()).unwrap());
    }
}

/// A guide that enumerates `z` inside a plate, and a model that uses `z` at a site outside it:
/// the guide gives no probability of `z` that the site could be averaged with.
#[test]
fn a_guide_variable_used_outside_its_plate_is_an_enumerate_error() {
    let model = || -> Result<()> {
        let z = plate("d", 3, |_| sample("z", Bernoulli::new(0.3)))?;
        observe("w", Normal::new(z.to_kind(Kind::Double), 1.0), &Tensor::from(0.5f64)).map(drop)
    };
    let guide = || plate("d", 3, |_| SampleSite::new("z", Bernoulli::new(0.3)).enumerate().run()).map(drop);
    let err = no_panic("TraceEnumElbo", || TraceEnumElbo::new().loss_and_params(&model, &guide)).err().expect("an error");
    assert!(matches!(err, PyriteError::Enumerate { ref site, .. } if site == "z"), "{err}");
    documented(&err, "site `z`: cannot enumerate: a site outside the guide's plates of this variable depends on it; use its value only inside those plates");
}
