//! `enumerate` and `config_enumerate`: parallel enumeration of discrete sites.

use pyrite::prelude::*;

use super::common::*;

/// A Categorical over 3 values in a plate of 2 (dim -1), and a Bernoulli in plates of 2 (dim -1)
/// and 4 (dim -2), plus an observation depending on both.
fn model() -> Result<()> {
    let probs = Tensor::from_slice(&[0.2f32, 0.3, 0.5]);
    plate("a", 2, |_| {
        let x = sample("x", Categorical::new(&probs)?)?;
        plate("b", 4, |_| {
            let y = sample("y", Bernoulli::new(0.3)?)?;
            let loc = x.to_kind(Kind::Float) + y;
            observe("obs", Normal::new(&loc, 1.0)?, &Tensor::zeros([4, 2], (Kind::Float, Device::Cpu)))
        })
    })?;
    Ok(())
}

#[test]
fn enumerated_sites_take_all_values_in_their_own_dims() {
    let tr = get_trace(|| enumerate(-3, || config_enumerate(model))).unwrap();
    let x = tr.site("x").unwrap();
    assert_eq!(x.value.size(), vec![3, 1, 1]);
    assert_eq!(x.value.kind(), Kind::Int64);
    assert_eq!(Vec::<i64>::try_from(x.value.flatten(0, -1)).unwrap(), vec![0, 1, 2]);
    assert_eq!(x.infer.enumerate, Some(Enumerate::Parallel));
    assert_eq!(x.infer.enumerate_dim, Some(-3));
    assert!(!x.is_observed);
    assert_eq!(x.log_prob().unwrap().size(), vec![3, 1, 2]);
    let lp = x.log_prob().unwrap();
    for (k, p) in [0.2f64, 0.3, 0.5].iter().enumerate() {
        assert_close(lp.double_value(&[k as i64, 0, 1]), p.ln(), 1e-6);
    }

    let y = tr.site("y").unwrap();
    assert_eq!(y.value.size(), vec![2, 1, 1, 1]);
    assert_eq!(to_vec(&y.value), vec![0.0, 1.0]);
    assert_eq!(y.infer.enumerate_dim, Some(-4));
    assert_eq!(y.log_prob().unwrap().size(), vec![2, 1, 4, 2]);

    // the observation depends on both: its density has both enumeration dims
    let obs = tr.site("obs").unwrap();
    assert_eq!(obs.log_prob().unwrap().size(), vec![2, 3, 4, 2]);
    assert_eq!(obs.infer.enumerate, None, "observed sites are not enumerated");
}

#[test]
fn without_config_enumerate_or_outside_enumerate_sites_are_sampled() {
    // config_enumerate alone only marks sites
    let tr = get_trace(|| config_enumerate(model)).unwrap();
    assert_eq!(tr.site("x").unwrap().value.size(), vec![2]);
    assert_eq!(tr.site("x").unwrap().infer.enumerate, Some(Enumerate::Parallel));
    assert_eq!(tr.site("y").unwrap().value.size(), vec![4, 2]);
    // enumerate alone enumerates nothing that is not marked
    let tr = get_trace(|| enumerate(-3, model)).unwrap();
    assert_eq!(tr.site("x").unwrap().value.size(), vec![2]);
    // a site marked by hand is enumerated
    let tr = get_trace(|| enumerate(-1, || SampleSite::new("z", Categorical::new(Tensor::from_slice(&[0.5f32, 0.25, 0.25]))?).enumerate().run())).unwrap();
    assert_eq!(tr.site("z").unwrap().value.size(), vec![3]);
    // a conditioned site is not enumerated
    let x = Tensor::from_slice(&[1i64, 2]);
    let tr = get_trace(|| enumerate(-3, || config_enumerate(|| condition(values(&[("x", &x)]), model)))).unwrap();
    assert!(tr.site("x").unwrap().value.equal(&x));
    assert_eq!(tr.site("y").unwrap().value.size(), vec![2, 1, 1], "y takes the first free dim");
}

#[test]
fn enumerating_a_continuous_site_is_an_error() {
    let err = get_trace(|| enumerate(-1, || SampleSite::new("c", Normal::new(0.0, 1.0)?).enumerate().run())).unwrap_err();
    assert!(matches!(err, PyriteError::Enumerate { ref site, .. } if site == "c"), "{err}");
    // config_enumerate leaves continuous sites alone
    let tr = get_trace(|| enumerate(-1, || config_enumerate(|| sample("c", Normal::new(0.0, 1.0)?)))).unwrap();
    assert_eq!(tr.site("c").unwrap().value.size(), Vec::<i64>::new());
    assert_eq!(tr.site("c").unwrap().infer.enumerate, None);
}

#[test]
fn a_plate_at_or_left_of_the_first_available_dim_is_an_error() {
    // the model uses dims -1 and -2, so enumeration may not start at -2
    let err = get_trace(|| enumerate(-2, || config_enumerate(model))).unwrap_err();
    assert!(matches!(err, PyriteError::Enumerate { ref site, .. } if site == "y"), "{err}");
    let err =
        get_trace(|| enumerate(-1, || config_enumerate(|| plate("d", 3, |_| sample("z", Categorical::new(Tensor::from_slice(&[0.5f32, 0.5]))?))))).unwrap_err();
    match err {
        PyriteError::Enumerate { site, problem } => {
            assert_eq!(site, "z");
            assert!(problem.contains('d'), "{problem}");
        }
        other => panic!("expected an enumerate error, got {other:?}"),
    }
}
