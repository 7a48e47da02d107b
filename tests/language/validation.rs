//! Validation errors raised by the language, one test each.

use pyrite::prelude::*;

use super::common::*;

#[test]
fn duplicate_sample_site_names_are_an_error() {
    let err = get_trace(|| -> Result<()> {
        sample("x", Normal::new(0.0, 1.0)?)?;
        sample("y", Normal::new(0.0, 1.0)?)?;
        sample("x", Normal::new(0.0, 1.0)?)?;
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(err, PyriteError::DuplicateSite(ref n) if n == "x"), "{err}");
    assert!(err.to_string().contains("`x`"));
    // observed and latent sites share one namespace
    let err = get_trace(|| -> Result<()> {
        sample("x", Normal::new(0.0, 1.0)?)?;
        observe("x", Normal::new(0.0, 1.0)?, &Tensor::from(1.0f32))?;
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(err, PyriteError::DuplicateSite(_)), "{err}");
    // a param may be read twice
    fresh(|| {
        let tr = get_trace(|| -> Result<()> {
            param("p", 1.0, Constraint::Real)?;
            param("p", 1.0, Constraint::Real)?;
            Ok(())
        });
        assert_eq!(tr.unwrap().names(), vec!["p"]);
    });
    // but a sample site may not share its name with a param or a subsampled plate (either way
    // round), which would overwrite a recorded site
    fresh(|| {
        let err = get_trace(|| -> Result<()> {
            sample("w", Normal::new(0.0, 1.0)?)?;
            param("w", 1.0, Constraint::Real)?;
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, PyriteError::DuplicateSite(ref n) if n == "w"), "{err}");
        let err = get_trace(|| -> Result<()> {
            param("v", 1.0, Constraint::Real)?;
            sample("v", Normal::new(0.0, 1.0)?)?;
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, PyriteError::DuplicateSite(ref n) if n == "v"), "{err}");
    });
    let err = get_trace(|| -> Result<()> {
        sample("data", Normal::new(0.0, 1.0)?)?;
        Plate::new("data", 10).subsample_size(2).run(|_| Ok(()))?;
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(err, PyriteError::DuplicateSite(ref n) if n == "data"), "{err}");
    // the same subsampled plate entered twice: two subsample sites of one name (a plate that
    // must be entered again is built once and entered with `BuiltPlate::enter`)
    let err = get_trace(|| -> Result<()> {
        Plate::new("data", 10).subsample_size(2).run(|_| Ok(()))?;
        Plate::new("data", 10).subsample_size(2).run(|_| Ok(()))?;
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(err, PyriteError::DuplicateSite(ref n) if n == "data"), "{err}");
}

#[test]
fn an_observation_that_does_not_fit_its_distribution_is_a_shape_error() {
    // data with a batch dim that no plate declares
    let err = get_trace(|| observe("obs", Normal::new(0.0, 1.0)?, &t32(&[1.0, 2.0, 3.0]))).unwrap_err();
    assert!(matches!(err, PyriteError::Shape { ref site, .. } if site == "obs"), "{err}");
    // data that does not broadcast with the distribution
    let loc = Tensor::zeros([3], (Kind::Float, Device::Cpu));
    let err = get_trace(|| plate("data", 3, |_| observe("obs2", Normal::new(&loc, 1.0)?, &t32(&[1.0, 2.0, 3.0, 4.0])))).unwrap_err();
    assert!(matches!(err, PyriteError::Shape { ref site, .. } if site == "obs2"), "{err}");
    // the same data in a plate of its size is fine
    assert!(get_trace(|| plate("data", 3, |_| observe("obs", Normal::new(0.0, 1.0)?, &t32(&[1.0, 2.0, 3.0])))).is_ok());
    // without a trace handler the check is made too
    let err = observe("obs", Normal::new(0.0, 1.0).unwrap(), &t32(&[1.0, 2.0])).unwrap_err();
    assert!(matches!(err, PyriteError::Shape { .. }), "{err}");
}

#[test]
fn nan_in_observed_data_is_a_non_finite_error() {
    let err = get_trace(|| plate("data", 3, |_| observe("obs", Normal::new(0.0, 1.0)?, &t32(&[1.0, f32::NAN, 3.0])))).unwrap_err();
    assert!(matches!(err, PyriteError::NonFinite { ref site, .. } if site == "obs"), "{err}");
    let err = get_trace(|| observe("inf", Normal::new(0.0, 1.0)?, &Tensor::from(f32::INFINITY))).unwrap_err();
    assert!(matches!(err, PyriteError::NonFinite { ref site, .. } if site == "inf"), "{err}");
    // conditioning on NaN is caught the same way
    let nan = Tensor::from(f32::NAN);
    let err = get_trace(|| condition(values(&[("c", &nan)]), || sample("c", Normal::new(0.0, 1.0)?))).unwrap_err();
    assert!(matches!(err, PyriteError::NonFinite { ref site, .. } if site == "c"), "{err}");
}

#[test]
fn an_invalid_distribution_parameter_inside_a_model_names_the_family() {
    let err = get_trace(|| -> Result<()> {
        sample("ok", Normal::new(0.0, 1.0)?)?;
        sample("bad", Normal::new(0.0, -1.0)?)?;
        Ok(())
    })
    .unwrap_err();
    match &err {
        PyriteError::Distribution { source, .. } => {
            assert!(matches!(source, DistError::InvalidParameter { dist: "Normal", param: "scale", .. }), "{source}");
        }
        other => panic!("expected a distribution error, got {other:?}"),
    }
    assert!(err.to_string().contains("Normal"), "{err}");
    assert!(err.to_string().contains("scale"), "{err}");
    // a value outside the support is reported with the site when its density is computed
    let ten = Tensor::from(20.0f32);
    let tr = get_trace(|| condition(values(&[("sigma", &ten)]), || sample("sigma", Uniform::new(0.0, 10.0)?))).unwrap();
    let err = tr.log_prob_sum().unwrap_err();
    match &err {
        PyriteError::Distribution { site, source } => {
            assert_eq!(site, "sigma");
            assert!(matches!(source, DistError::InvalidValue { dist: "Uniform", .. }), "{source}");
        }
        other => panic!("expected a distribution error, got {other:?}"),
    }
}
