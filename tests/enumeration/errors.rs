//! Bad input to enumeration: typed errors that name the site, never a panic or a silently wrong
//! answer.

use pyrite::prelude::*;

use super::common::*;

fn no_guide() -> Result<()> {
    Ok(())
}

#[test]
fn enumerating_a_continuous_site_is_an_enumerate_error_naming_it() {
    let model = || -> Result<()> {
        let c = SampleSite::new("c", Normal::new(Tensor::from(0.0f64), Tensor::from(1.0f64))?).enumerate().run()?;
        observe("x", Normal::new(c, Tensor::from(1.0f64))?, &Tensor::from(0.5f64)).map(drop)
    };
    fresh(|| {
        let err = TraceEnumElbo::new().loss_and_params(&model, &no_guide).err().expect("an error");
        assert!(matches!(err, PyriteError::Enumerate { ref site, .. } if site == "c"), "{err}");
        let err = infer_discrete(&model, -1, 0.0).unwrap_err();
        assert!(matches!(err, PyriteError::Enumerate { ref site, .. } if site == "c"), "{err}");
    });
}

const K: i64 = 3;

/// A mixture whose enumerated site lies in the plate.
fn mixture_in_plate() -> Result<()> {
    let probs = f64t(&[0.2, 0.3, 0.5]);
    let locs = f64t(&[-1.0, 0.5, 2.0]);
    plate("data", K, |_| {
        let z = SampleSite::new("z", Categorical::new(&probs)?).enumerate().run()?;
        observe("x", Normal::new(locs.index(&[Some(&z)]), Tensor::from(1.0f64))?, &f64t(&[0.1, 1.0, 2.5]))
    })?;
    Ok(())
}

/// An enumerated site outside the plate, whose number of values equals the plate's size: with
/// too few plate dims its enumeration dim would coincide with the plate's.
fn global_site_and_plate() -> Result<()> {
    let probs = f64t(&[0.2, 0.3, 0.5]);
    let locs = f64t(&[-1.0, 0.5, 2.0]);
    let z = SampleSite::new("z", Categorical::new(&probs)?).enumerate().run()?;
    plate("data", K, |_| observe("x", Normal::new(locs.index(&[Some(&z)]), Tensor::from(1.0f64))?, &f64t(&[0.1, 1.0, 2.5])))?;
    Ok(())
}

/// Nested plates (dims -2 and -1) with the enumerated site in the outer one.
fn nested_plates() -> Result<()> {
    let probs = f64t(&[0.4, 0.6]);
    let locs = f64t(&[-1.0, 1.0]);
    Plate::new("groups", 2).dim(-2).run(|_| {
        let z = SampleSite::new("z", Categorical::new(&probs)?).enumerate().run()?;
        Plate::new("obs", 2).dim(-1).run(|_| observe("x", Normal::new(locs.index(&[Some(&z)]), Tensor::from(1.0f64))?, &f64m(&[&[0.1, 0.2], &[1.0, 1.3]])))
    })?;
    Ok(())
}

/// Minus the exact log-marginal of `global_site_and_plate`.
fn global_site_and_plate_loss() -> f64 {
    let probs = [0.2f64, 0.3, 0.5];
    let locs = [-1.0f64, 0.5, 2.0];
    let xs = [0.1f64, 1.0, 2.5];
    let terms: Vec<f64> =
        (0..3).map(|k| probs[k].ln() + xs.iter().map(|x| -0.5 * (x - locs[k]).powi(2) - 0.5 * (2.0 * std::f64::consts::PI).ln()).sum::<f64>()).collect();
    let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    -(m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln())
}

#[track_caller]
fn assert_too_few_dims(err: &PyriteError, site: &str) {
    match err {
        PyriteError::Enumerate { site: s, problem } => {
            assert_eq!(s, site, "{err}");
            assert!(problem.contains("max_plate_nesting"), "{err}");
        }
        _ => panic!("expected an enumeration error naming `{site}`, got {err}"),
    }
}

#[test]
fn too_few_plate_dims_is_an_error_not_a_wrong_answer() {
    fresh(|| {
        // the enumerated site in the plate
        let err = TraceEnumElbo::with_max_plate_nesting(0).loss_and_params(&mixture_in_plate, &no_guide).err().expect("an error");
        assert_too_few_dims(&err, "z");
        let err = infer_discrete(&mixture_in_plate, -1, 0.0).unwrap_err();
        assert_too_few_dims(&err, "z");

        // the enumerated site outside the plate: its dim would be the plate's
        let err = TraceEnumElbo::with_max_plate_nesting(0).loss_and_params(&global_site_and_plate, &no_guide).err().expect("an error");
        assert_too_few_dims(&err, "x");
        let err = infer_discrete(&global_site_and_plate, -1, 0.0).unwrap_err();
        assert_too_few_dims(&err, "x");
        // with enough dims, the right answer
        let lp = TraceEnumElbo::with_max_plate_nesting(1).loss_and_params(&global_site_and_plate, &no_guide).unwrap();
        assert_rel(lp.loss, global_site_and_plate_loss(), 1e-9, "loss");
        let lp = TraceEnumElbo::new().loss_and_params(&global_site_and_plate, &no_guide).unwrap();
        assert_rel(lp.loss, global_site_and_plate_loss(), 1e-9, "loss");

        // nested plates given one dim
        let err = TraceEnumElbo::with_max_plate_nesting(1).loss_and_params(&nested_plates, &no_guide).err().expect("an error");
        assert_too_few_dims(&err, "z");
        assert!(TraceEnumElbo::with_max_plate_nesting(2).loss_and_params(&nested_plates, &no_guide).is_ok());
    });
}

#[test]
fn a_discrete_latent_neither_enumerated_nor_in_the_guide_is_a_missing_guide_site() {
    let model = || -> Result<()> {
        let probs = f64t(&[0.2, 0.8]);
        let locs = f64t(&[-1.0, 1.0]);
        let a = SampleSite::new("a", Categorical::new(&probs)?).enumerate().run()?;
        let b = sample("b", Categorical::new(&probs)?)?;
        let loc = locs.index(&[Some(&a)]) + locs.index(&[Some(&b)]);
        observe("x", Normal::new(loc, Tensor::from(1.0f64))?, &Tensor::from(0.3f64)).map(drop)
    };
    fresh(|| {
        let err = TraceEnumElbo::new().loss_and_params(&model, &no_guide).err().expect("an error");
        assert!(matches!(err, PyriteError::MissingGuideSite { ref site } if site == "b"), "{err}");
        // marked for enumeration by config_enumerate, it is summed out
        let marked = || config_enumerate(model);
        let lp = TraceEnumElbo::new().loss_and_params(&marked, &no_guide).unwrap();
        assert!(lp.loss.is_finite());
    });
}

#[test]
fn enumerated_sites_of_different_scales_are_an_error() {
    // a global enumerated site (scale 1) feeding sites in a subsampled plate (scale 3 / 2):
    // Pyro's `TraceEnum_ELBO` rejects this too
    let model = || -> Result<()> {
        let probs = f64t(&[0.4, 0.6]);
        let locs = f64t(&[-1.0, 1.0]);
        let z = SampleSite::new("z", Categorical::new(&probs)?).enumerate().run()?;
        let data = f64t(&[0.1, 0.9, -0.3]);
        Plate::new("data", 3).subsample(&Tensor::from_slice(&[0i64, 2])).run(|p| {
            let w = SampleSite::new("w", Bernoulli::new(Tensor::from(0.3f64))?).enumerate().run()?;
            let loc = locs.index(&[Some(&z)]) + w;
            observe("x", Normal::new(loc, Tensor::from(1.0f64))?, &p.subsample(&data, 0)?)
        })?;
        Ok(())
    };
    fresh(|| {
        let err = TraceEnumElbo::new().loss_and_params(&model, &no_guide).err().expect("an error");
        assert!(matches!(err, PyriteError::Enumerate { ref site, ref problem } if site == "w" && problem.contains("scale")), "{err}");
    });
}
