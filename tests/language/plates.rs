//! `plate`: dims, batch shapes, plate records, conflicts and subsampling.

use pyrite::prelude::*;

use super::common::*;

fn frames(tr: &Trace, site: &str) -> Vec<(String, i64, i64, i64)> {
    tr.site(site).unwrap().plates.iter().map(|f| (f.name.to_string(), f.dim, f.size, f.subsample_size)).collect()
}

fn f(name: &str, dim: i64, size: i64, sub: i64) -> (String, i64, i64, i64) {
    (name.to_string(), dim, size, sub)
}

#[test]
fn nested_plates_give_batch_shapes_and_plate_records() {
    let tr = get_trace(|| -> Result<()> {
        plate("outer", 2, |_| {
            sample("x", Normal::new(0.0, 1.0)?)?;
            plate("inner", 3, |_| {
                sample("y", Normal::new(0.0, 1.0)?)?;
                // an explicit dim, left of the two automatic ones
                Plate::new("third", 4).dim(-4).run(|_| sample("z", Normal::new(0.0, 1.0)?))
            })
        })?;
        sample("w", Normal::new(0.0, 1.0)?)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(tr.names(), vec!["x", "y", "z", "w"]);
    assert_eq!(tr.site("x").unwrap().value.size(), vec![2]);
    assert_eq!(tr.site("y").unwrap().value.size(), vec![3, 2]);
    assert_eq!(tr.site("z").unwrap().value.size(), vec![4, 1, 3, 2]);
    assert_eq!(tr.site("w").unwrap().value.size(), Vec::<i64>::new());
    assert_eq!(frames(&tr, "x"), vec![f("outer", -1, 2, 2)]);
    // innermost first
    assert_eq!(frames(&tr, "y"), vec![f("inner", -2, 3, 3), f("outer", -1, 2, 2)]);
    assert_eq!(frames(&tr, "z"), vec![f("third", -4, 4, 4), f("inner", -2, 3, 3), f("outer", -1, 2, 2)]);
    assert!(frames(&tr, "w").is_empty());
    assert_eq!(tr.site("z").unwrap().dist.as_ref().unwrap().batch_shape(), &[4, 1, 3, 2]);
    assert_eq!(tr.site("z").unwrap().log_prob().unwrap().size(), vec![4, 1, 3, 2]);
}

#[test]
fn explicit_dims_and_sibling_plates() {
    let tr = get_trace(|| -> Result<()> {
        Plate::new("rows", 3).dim(-2).run(|_| {
            // the next free dim is -1
            plate("cols", 5, |_| sample("m", Normal::new(0.0, 1.0)?))
        })?;
        // plates are freed on exit: a sibling takes -1 again
        plate("again", 4, |_| sample("s", Normal::new(0.0, 1.0)?))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(tr.site("m").unwrap().value.size(), vec![3, 5]);
    assert_eq!(frames(&tr, "m"), vec![f("cols", -1, 5, 5), f("rows", -2, 3, 3)]);
    assert_eq!(frames(&tr, "s"), vec![f("again", -1, 4, 4)]);
}

#[test]
fn a_distribution_that_already_has_the_plate_shape_is_kept() {
    let loc = Tensor::zeros([3], (Kind::Float, Device::Cpu));
    let tr = get_trace(|| {
        plate("p", 3, |_| {
            // batch [3] matches the plate; batch [1] and [] broadcast
            sample("a", Normal::new(&loc, 1.0)?)?;
            sample("b", Normal::new(loc.narrow(0, 0, 1), 1.0)?)?;
            sample("c", Normal::new(0.0, 1.0)?)
        })
    })
    .unwrap();
    for s in ["a", "b", "c"] {
        assert_eq!(tr.site(s).unwrap().value.size(), vec![3], "site {s}");
    }
}

#[test]
fn a_batch_shape_that_does_not_fit_the_plate_is_a_shape_error_naming_the_site() {
    let loc = Tensor::zeros([4], (Kind::Float, Device::Cpu));
    let err = get_trace(|| plate("data", 3, |_| sample("bad_site", Normal::new(&loc, 1.0)?))).unwrap_err();
    match &err {
        PyriteError::Shape { site, detail } => {
            assert_eq!(site, "bad_site");
            assert!(detail.contains("data"), "{detail}");
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    assert!(err.to_string().contains("bad_site"));
    // the same under nested plates: batch [3, 2] against plates of 2 (dim -1) and 4 (dim -2)
    let loc = Tensor::zeros([3, 2], (Kind::Float, Device::Cpu));
    let err = get_trace(|| plate("a", 2, |_| plate("b", 4, |_| sample("nested", Normal::new(&loc, 1.0)?)))).unwrap_err();
    assert!(matches!(err, PyriteError::Shape { ref site, .. } if site == "nested"), "{err}");
}

#[test]
fn plate_dim_conflicts_are_errors() {
    let err = plate("a", 2, |_| Plate::new("b", 3).dim(-1).run(|_| sample("x", Normal::new(0.0, 1.0)?))).unwrap_err();
    assert!(matches!(err, PyriteError::Plate { ref plate, .. } if plate == "b"), "{err}");
    let err = Plate::new("pos", 3).dim(1).run(|_| Ok(())).unwrap_err();
    assert!(matches!(err, PyriteError::Plate { .. }), "{err}");
    let err = Plate::new("neg", -1).run(|_| Ok(())).unwrap_err();
    assert!(matches!(err, PyriteError::Plate { .. }), "{err}");
    // the failed plate left no dim behind
    let tr = get_trace(|| plate("fine", 2, |_| sample("x", Normal::new(0.0, 1.0)?))).unwrap();
    assert_eq!(frames(&tr, "x"), vec![f("fine", -1, 2, 2)]);
}

#[test]
fn subsampling_scales_the_log_density() {
    let data = Tensor::arange(100, (Kind::Float, Device::Cpu)) / 10.0;
    let mut seen = Vec::new();
    let (out, tr) = trace(|| {
        Plate::new("data", 100).subsample_size(10).run(|p| {
            assert_eq!(p.size(), 100);
            assert_eq!(p.subsample_size(), 10);
            let idx = p.indices();
            seen.push(idx.shallow_clone());
            let batch = p.subsample(&data, 0)?;
            assert!(batch.equal(&data.index_select(0, &idx)));
            observe("obs", Normal::new(0.0, 1.0)?, &batch)?;
            sample("z", Normal::new(0.0, 1.0)?)
        })
    });
    let z = out.unwrap();
    assert_eq!(z.size(), vec![10]);
    let idx = &seen[0];
    assert_eq!(idx.size(), vec![10]);
    assert_eq!(idx.kind(), Kind::Int64);
    let ix: Vec<i64> = Vec::try_from(idx).unwrap();
    let mut sorted = ix.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 10, "distinct indices");
    assert!(ix.iter().all(|&i| (0..100).contains(&i)));
    // the plate's subsample is itself a site
    assert_eq!(tr.names(), vec!["data", "obs", "z"]);
    let sub = tr.site("data").unwrap();
    assert_eq!(sub.kind, SiteKind::Subsample);
    assert!(sub.value.equal(idx));
    for s in ["obs", "z"] {
        let site = tr.site(s).unwrap();
        assert_eq!(site.scale, 10.0, "site {s}");
        assert_eq!(site.value.size(), vec![10]);
        assert_eq!(frames(&tr, s), vec![f("data", -1, 100, 10)]);
    }
    let values = to_vec(&data);
    let zs = to_vec(&z);
    let expected: f64 =
        10.0 * ix.iter().map(|&i| normal_lp(values[i as usize], 0.0, 1.0)).sum::<f64>() + 10.0 * zs.iter().map(|&x| normal_lp(x, 0.0, 1.0)).sum::<f64>();
    assert_close(lps(&tr), expected, 1e-5);
}

#[test]
fn subsample_indices_are_replayed_into_a_second_run() {
    let run = || -> (Tensor, Trace) {
        let (out, tr) = trace(|| Plate::new("data", 1000).subsample_size(5).run(|p| Ok(p.indices())));
        (out.unwrap(), tr)
    };
    let (idx1, tr1) = run();
    let (idx2, _) = run();
    assert!(!idx1.equal(&idx2), "two runs draw different subsamples");
    let (out, tr2) = trace(|| replay(&tr1, || Plate::new("data", 1000).subsample_size(5).run(|p| Ok(p.indices()))));
    let idx3 = out.unwrap();
    assert!(idx3.equal(&idx1), "replay gives the first run's indices");
    assert!(tr2.site("data").unwrap().value.equal(&idx1));
}

#[test]
fn explicit_subsample_and_full_size_subsample() {
    let idx = Tensor::from_slice(&[3i64, 1, 4]);
    let tr = get_trace(|| {
        Plate::new("data", 10).subsample(&idx).run(|p| {
            assert!(p.indices().equal(&idx));
            sample("x", Normal::new(0.0, 1.0)?)
        })
    })
    .unwrap();
    assert_eq!(tr.site("x").unwrap().value.size(), vec![3]);
    assert_close(tr.site("x").unwrap().scale, 10.0 / 3.0, 1e-12);
    // a subsample as large as the plate is no subsample
    let tr = get_trace(|| Plate::new("data", 4).subsample_size(4).run(|_| sample("x", Normal::new(0.0, 1.0)?))).unwrap();
    assert_eq!(tr.names(), vec!["x"]);
    assert_eq!(tr.site("x").unwrap().scale, 1.0);
    let err = Plate::new("data", 4).subsample_size(0).run(|_| Ok(())).unwrap_err();
    assert!(matches!(err, PyriteError::Plate { .. }), "{err}");
}
