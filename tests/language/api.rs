//! API consistency: sample statements name the site of a distribution's constructor error,
//! every handler takes the same closure shapes, `Svi` and `Predictive` take the same kinds of
//! model, and the validation switch is in the prelude.

use pyrite::prelude::*;

#[test]
fn a_sample_statement_names_its_site_for_a_constructor_error() {
    // the fallible constructor passed as it is: the error names `sigma`
    let err = sample("sigma", Normal::new(0.0, -1.0)).unwrap_err();
    assert!(matches!(err, PyriteError::Distribution { ref site, .. } if site == "sigma"), "{err}");
    assert!(err.to_string().starts_with("site `sigma`"), "{err}");
    let err = observe("y", HalfNormal::new(-2.0), &Tensor::from(1.0f32)).unwrap_err();
    assert!(matches!(err, PyriteError::Distribution { ref site, .. } if site == "y"), "{err}");
    let err = SampleSite::new("z", Beta::new(1.0, 0.0)).run().unwrap_err();
    assert!(matches!(err, PyriteError::Distribution { ref site, .. } if site == "z"), "{err}");
    // the `?` form keeps working, and names no site (the error is raised before the statement)
    let with_question_mark = || -> Result<Tensor> { sample("sigma", Normal::new(0.0, -1.0)?) };
    let err = with_question_mark().unwrap_err();
    assert!(matches!(err, PyriteError::Distribution { ref site, .. } if site == "<distribution>"), "{err}");
    // valid constructors in both forms
    assert!(sample("a", Normal::new(0.0, 1.0)).is_ok());
    assert!(sample("b", Normal::new(0.0, 1.0).unwrap()).is_ok());
}

#[test]
fn scale_and_mask_take_the_same_closures_as_the_other_handlers() {
    let keep = Tensor::from_slice(&[true, false]);
    // closures returning plain values, as with `condition`, `block`, `replay` and `seed`
    let n: i32 = scale(2.0, || 3);
    let m: i32 = mask(&keep, || 4);
    let c: i32 = condition(SiteValues::new(), || 5);
    let s: i32 = seed(0, || 6);
    assert_eq!((n, m, c, s), (3, 4, 5, 6));
    // an invalid factor or mask is an error at each sample statement inside, naming it
    let err = scale(-1.0, || sample("x", Normal::new(0.0, 1.0))).unwrap_err();
    assert!(matches!(err, PyriteError::InvalidInput { ref what, .. } if what.contains("`x`")), "{err}");
    let err = mask(&Tensor::from_slice(&[1.0f32]), || sample("x", Normal::new(0.0, 1.0))).unwrap_err();
    assert!(matches!(err, PyriteError::InvalidInput { ref what, .. } if what.contains("`x`")), "{err}");
}

#[test]
fn svi_and_predictive_take_closures_and_trait_objects() {
    with_param_store(&new_param_store(), || {
        let data = Tensor::from_slice(&[1.0f32, 2.0]);
        let model = |x: &Tensor| -> Result<()> {
            let mu = sample("mu", Normal::new(0.0, 10.0))?;
            plate("data", 2, |_| observe("obs", Normal::new(&mu, 1.0), x)).map(drop)
        };
        let guide = |_: &Tensor| -> Result<()> {
            let loc = param("loc", 0.0, Constraint::Real)?;
            sample("mu", Normal::new(loc, 1.0)).map(drop)
        };
        let dyn_model: &dyn Fn(&Tensor) -> Result<()> = &model;
        let dyn_guide: &dyn Fn(&Tensor) -> Result<()> = &guide;
        // closures
        Svi::new(model, guide, Optimizer::adam(0.1), TraceElbo::new()).step(&data).unwrap();
        Predictive::new(&model, &guide, 3).call(&data).unwrap();
        // trait objects
        Svi::new(dyn_model, dyn_guide, Optimizer::adam(0.1), TraceElbo::new()).step(&data).unwrap();
        let p = Predictive::new(dyn_model, dyn_guide, 3).call(&data).unwrap();
        assert_eq!(p["obs"].size(), vec![3, 2]);
    });
}

#[test]
fn the_validation_switch_is_in_the_prelude() {
    assert!(validation_enabled());
    without_validation(|| assert!(!validation_enabled()));
    assert!(validation_enabled());
    let _: fn(bool) = set_validation;
}

#[test]
fn a_libtorch_failure_inside_a_model_is_one_readable_line() {
    with_param_store(&new_param_store(), || {
        let data = Tensor::from_slice(&[1.0f32, 2.0]);
        let model = |_: &Tensor| -> Result<()> {
            let mu = sample("mu", Normal::new(0.0, 1.0))?;
            // a shape mistake libtorch refuses (tch panics on it)
            let _ = Tensor::zeros([2], (Kind::Float, Device::Cpu)).matmul(&Tensor::zeros([3], (Kind::Float, Device::Cpu)));
            sample("x", Normal::new(mu, 1.0)).map(drop)
        };
        let guide = AutoNormal::new(&|_: &Tensor| -> Result<()> { sample("mu", Normal::new(0.0, 1.0)).map(drop) }, &data).unwrap();
        let err = Svi::new(model, &guide, Optimizer::adam(0.1), TraceElbo::new()).step(&data).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PyriteError::Model(_)), "{msg}");
        assert!(msg.contains("panic inside the model or guide") && !msg.contains("Exception raised") && !msg.contains("frame #"), "{msg}");
    });
}

#[test]
fn a_param_initialised_with_an_integer_tensor_is_a_typed_error() {
    with_param_store(&new_param_store(), || {
        let err = param("count", Tensor::from(3i64), Constraint::Real).unwrap_err();
        assert!(matches!(err, PyriteError::Param { ref name, .. } if name == "count"), "{err}");
        assert!(err.to_string().contains("floating-point"), "{err}");
        let err = param("flag", Tensor::from(true), Constraint::Real).unwrap_err();
        assert!(matches!(err, PyriteError::Param { .. }), "{err}");
    });
}
