//! `trace`: what a run records, in which order, and its log-density.

use pyrite::prelude::*;

use super::common::*;

/// `mu ~ N(0, 2)`, `s` a positive param, `obs[i] ~ N(mu, s)` in a plate of 3.
fn model(data: &Tensor) -> Result<Tensor> {
    let mu = sample("mu", Normal::new(0.0, 2.0)?)?;
    let s = param("s", 1.5, Constraint::Positive)?;
    plate("data", data.size()[0], |_| observe("obs", Normal::new(&mu, &s)?, data))?;
    Ok(mu)
}

#[test]
fn trace_records_sites_in_order_with_kinds_values_and_plates() {
    fresh(|| {
        let data = t32(&[0.5, -1.0, 2.0]);
        let (out, tr) = trace(|| model(&data));
        let mu = out.unwrap();
        assert_eq!(tr.names(), vec!["mu", "s", "obs"]);

        let smu = tr.site("mu").unwrap();
        assert_eq!(smu.kind, SiteKind::Sample);
        assert!(!smu.is_observed);
        assert!(smu.is_latent());
        assert!(smu.value.equal(&mu), "the trace holds the value the model got");
        assert_eq!(smu.scale, 1.0);
        assert!(smu.plates.is_empty());
        assert_eq!(smu.dist.as_ref().unwrap().name(), "Normal");

        let ss = tr.site("s").unwrap();
        assert_eq!(ss.kind, SiteKind::Param);
        assert_close(scalar(&ss.value), 1.5, 1e-6);
        assert_close(scalar(ss.unconstrained.as_ref().unwrap()), 1.5f64.ln(), 1e-6);

        let so = tr.site("obs").unwrap();
        assert_eq!(so.kind, SiteKind::Sample);
        assert!(so.is_observed);
        assert!(!so.is_latent());
        assert!(so.value.equal(&data));
        assert_eq!(so.scale, 1.0);
        assert_eq!(so.plates.len(), 1);
        let f = &so.plates[0];
        assert_eq!((&*f.name, f.dim, f.size, f.subsample_size), ("data", -1, 3, 3));
        assert_eq!(so.dist.as_ref().unwrap().batch_shape(), &[3], "broadcast to the plate");

        assert_eq!(tr.latent_sites().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["mu"]);
        assert_eq!(tr.observed_sites().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["obs"]);
        assert_eq!(tr.param_sites().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["s"]);
        assert_eq!(tr.sample_sites().count(), 2);
    });
}

#[test]
fn log_prob_sum_is_the_hand_computed_joint_density() {
    fresh(|| {
        let data = [0.5f32, -1.0, 2.0];
        let tr = get_trace(|| model(&t32(&data))).unwrap();
        let mu = scalar(&tr.site("mu").unwrap().value);
        let expected = normal_lp(mu, 0.0, 2.0) + data.iter().map(|&x| normal_lp(x as f64, mu, 1.5)).sum::<f64>();
        assert_close(lps(&tr), expected, 1e-5);
        // per-site densities: the plate's site has one entry per element
        let lp = tr.site("obs").unwrap().log_prob().unwrap();
        assert_eq!(lp.size(), vec![3]);
        for (i, &x) in data.iter().enumerate() {
            assert_close(lp.double_value(&[i as i64]), normal_lp(x as f64, mu, 1.5), 1e-5);
        }
        // no sample site: zero
        let empty = get_trace(|| param("only_param", 1.0, Constraint::Real)).unwrap();
        assert_eq!(lps(&empty), 0.0);
    });
}

#[test]
fn trace_returns_the_model_error_and_get_trace_propagates_it() {
    let (out, tr) = trace(|| -> Result<()> {
        sample("a", Normal::new(0.0, 1.0)?)?;
        Err(PyriteError::Model("stop here".into()))
    });
    assert!(matches!(out, Err(PyriteError::Model(ref m)) if m == "stop here"));
    assert_eq!(tr.names(), vec!["a"], "sites before the error are recorded");
    assert!(matches!(get_trace(|| -> Result<()> { Err(PyriteError::Model("x".into())) }), Err(PyriteError::Model(_))));
}

#[test]
fn nested_traces_both_record() {
    let ((inner_out, inner), outer) = trace(|| trace(|| sample("x", Normal::new(0.0, 1.0)?)));
    let x = inner_out.unwrap();
    assert_eq!(inner.names(), vec!["x"]);
    assert_eq!(outer.names(), vec!["x"]);
    assert!(inner.site("x").unwrap().value.equal(&x));
    assert!(outer.site("x").unwrap().value.equal(&x));
}
