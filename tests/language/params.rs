//! `param` and the param store: constraints, lazy init, re-declarations, save and load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pyrite::core::param_store::lock;
use pyrite::distributions::constraints::{interval, Bound};
use pyrite::prelude::*;

use super::common::*;

#[test]
fn a_positive_param_is_positive_and_stored_as_its_log() {
    fresh(|| {
        let v = param("scale", Tensor::from_slice(&[0.5f32, 2.0, 4.0]), Constraint::Positive).unwrap();
        assert_eq!(to_vec(&v), vec![0.5, 2.0, 4.0]);
        let store = get_param_store();
        let s = lock(&store);
        let e = s.entry("scale").unwrap();
        assert_eq!(e.constraint, Constraint::Positive);
        let u = to_vec(&e.unconstrained);
        for (u, x) in u.iter().zip([0.5f64, 2.0, 4.0]) {
            assert_close(*u, x.ln(), 1e-6);
        }
        assert!(e.unconstrained.requires_grad(), "the stored tensor is a trainable leaf");
        assert!(e.unconstrained.is_leaf());
        // moving the unconstrained value anywhere keeps the constrained one positive
        tch::no_grad(|| e.unconstrained.shallow_clone().fill_(-30.0));
        drop(s);
        let v = param("scale", Tensor::from_slice(&[0.5f32, 2.0, 4.0]), Constraint::Positive).unwrap();
        assert!(to_vec(&v).iter().all(|&x| x > 0.0));
        // the value is differentiable with respect to the stored leaf
        assert!(v.requires_grad());
        // an initial value outside the constraint is refused
        let err = param("neg", -1.0, Constraint::Positive).unwrap_err();
        assert!(matches!(err, PyriteError::Param { ref name, .. } if name == "neg"), "{err}");
        assert!(lock(&get_param_store()).entry("neg").is_none());
    });
}

#[test]
fn the_stored_value_is_returned_on_later_calls_and_lazy_init_runs_once() {
    fresh(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        for i in 0..3 {
            let c = calls.clone();
            let v = param(
                "w",
                lazy(move || {
                    c.fetch_add(1, Ordering::SeqCst);
                    Tensor::from_slice(&[1.0f32, 2.0])
                }),
                Constraint::Real,
            )
            .unwrap();
            assert_eq!(to_vec(&v), vec![1.0, 2.0], "call {i}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // a value init given later is ignored: the store wins
        let v = param("w", Tensor::from_slice(&[9.0f32, 9.0]), Constraint::Real).unwrap();
        assert_eq!(to_vec(&v), vec![1.0, 2.0]);
        // a lazy init of an existing param is not run
        let c = calls.clone();
        param(
            "w",
            lazy(move || {
                c.fetch_add(1, Ordering::SeqCst);
                Tensor::zeros([2], (Kind::Float, Device::Cpu))
            }),
            Constraint::Real,
        )
        .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn redeclaring_a_param_with_another_constraint_or_shape_is_an_error() {
    fresh(|| {
        param("p", Tensor::from_slice(&[1.0f32, 2.0]), Constraint::Positive).unwrap();
        let err = param("p", Tensor::from_slice(&[1.0f32, 2.0]), Constraint::Real).unwrap_err();
        assert!(matches!(err, PyriteError::Param { ref name, .. } if name == "p"), "{err}");
        let err = param("p", Tensor::from_slice(&[1.0f32, 2.0, 3.0]), Constraint::Positive).unwrap_err();
        assert!(matches!(err, PyriteError::Param { ref name, .. } if name == "p"), "{err}");
        let err = param("p", 1.0, Constraint::Positive).unwrap_err();
        assert!(matches!(err, PyriteError::Param { .. }), "{err}");
        // interval bounds are part of the constraint
        param("r", 0.5, interval(0.0, 1.0)).unwrap();
        assert!(matches!(param("r", 0.5, interval(0.0, 2.0)), Err(PyriteError::Param { .. })));
        // a simplex param of 3 entries is stored with 2 unconstrained ones and re-declares fine
        let probs = Tensor::from_slice(&[0.2f32, 0.3, 0.5]);
        let v = param("probs", &probs, Constraint::Simplex).unwrap();
        assert_eq!(v.size(), vec![3]);
        assert!(param("probs", &probs, Constraint::Simplex).is_ok());
        assert!(matches!(param("probs", Tensor::from_slice(&[0.5f32, 0.5]), Constraint::Simplex), Err(PyriteError::Param { .. })));
    });
}

#[test]
fn param_store_save_and_load_round_trip_exactly() {
    let dir = TempDir::new("save-load");
    let path = dir.join("params.json");
    let store = new_param_store();
    with_param_store(&store, || -> Result<()> {
        param("f32", Tensor::from_slice(&[0.1f32, -1.0 / 3.0, 1e-8, 12345.679]).view([2, 2]), Constraint::Real)?;
        param("f64", Tensor::from_slice(&[std::f64::consts::PI, 1.0 / 3.0, -2.5e-300]), Constraint::Real)?;
        param("pos", Tensor::from_slice(&[0.3f32, 7.0]), Constraint::Positive)?;
        param("unit", 0.123, interval(-1.0, 2.5))?;
        param("scalar", 4.0, Constraint::GreaterThan(Bound::Scalar(1.5)))?;
        param("simplex", Tensor::from_slice(&[0.2f64, 0.3, 0.5]), Constraint::Simplex)?;
        let lo = Tensor::from_slice(&[0.0f32, -1.0]);
        let hi = Tensor::from_slice(&[1.0f32, 1.0]);
        param("tbounds", Tensor::from_slice(&[0.5f32, 0.0]), Constraint::Interval(Bound::Tensor(lo), Bound::Tensor(hi)))?;
        Ok(())
    })
    .unwrap();
    let original = lock(&store);
    original.save(&path).unwrap();

    let mut loaded = ParamStore::default();
    loaded.load(&path).unwrap();
    assert_eq!(loaded.names(), original.names(), "names and order");
    for (name, e) in original.iter() {
        let l = loaded.entry(name).unwrap();
        assert_eq!(l.constraint, e.constraint, "{name}");
        assert_eq!(l.unconstrained.kind(), e.unconstrained.kind(), "{name}");
        assert_eq!(l.unconstrained.size(), e.unconstrained.size(), "{name}");
        assert!(l.unconstrained.equal(&e.unconstrained.detach()), "{name}: values are exact");
        assert!(l.unconstrained.requires_grad(), "{name}");
        assert!(loaded.get(name).unwrap().equal(&original.get(name).unwrap()), "{name}");
    }
    assert_eq!(loaded.entry("f64").unwrap().unconstrained.kind(), Kind::Double);
    assert_eq!(loaded.entry("f32").unwrap().unconstrained.kind(), Kind::Float);
    assert_eq!(loaded.entry("unit").unwrap().constraint, interval(-1.0, 2.5));
    // saving the loaded store gives the same file
    let path2 = dir.join("params2.json");
    loaded.save(&path2).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), std::fs::read_to_string(&path2).unwrap());
    // loaded params are used by `param`
    let shared = new_param_store();
    lock(&shared).load(&path).unwrap();
    let v = with_param_store(&shared, || param("pos", Tensor::from_slice(&[1.0f32, 1.0]), Constraint::Positive)).unwrap();
    assert_close(v.double_value(&[1]), 7.0, 1e-6);
    drop(original);
}

#[test]
fn save_replaces_the_file_atomically_and_a_bad_file_leaves_the_store_unchanged() {
    let dir = TempDir::new("atomic");
    let path = dir.join("store.json");
    let mut a = ParamStore::default();
    a.set("x", &Tensor::from_slice(&[1.0f32, 2.0]), Constraint::Real).unwrap();
    a.save(&path).unwrap();
    let mut b = ParamStore::default();
    b.set("y", &Tensor::from_slice(&[3.0f64]), Constraint::Positive).unwrap();
    b.save(&path).unwrap();
    // only the target file is in the directory: no temporary file is left
    let files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(files, vec!["store.json".to_string()]);
    let mut c = ParamStore::default();
    c.load(&path).unwrap();
    assert_eq!(c.names(), vec!["y"], "the second save replaced the first");

    // concurrent savers and readers: a reader always sees one complete file
    std::thread::scope(|s| {
        for t in 0..2 {
            let path = &path;
            s.spawn(move || {
                let mut st = ParamStore::default();
                st.set(&format!("writer{t}"), &Tensor::ones([50], (Kind::Float, Device::Cpu)), Constraint::Real).unwrap();
                for _ in 0..50 {
                    st.save(path).unwrap();
                }
            });
        }
        s.spawn(|| {
            for _ in 0..100 {
                let mut r = ParamStore::default();
                r.load(&path).unwrap();
                assert_eq!(r.len(), 1);
            }
        });
    });
    let files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(files, vec!["store.json".to_string()], "no temporary file is left");

    // a corrupted file: load errors and the store keeps its content
    let good = c.get("y").unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = c.load(&path).unwrap_err();
    assert!(matches!(err, PyriteError::Io { .. }), "{err}");
    assert_eq!(c.names(), vec!["y"]);
    assert!(c.get("y").unwrap().equal(&good));
    // valid JSON with one bad param: nothing is loaded
    let bad = serde_json::json!({"format": "pyrite-param-store", "version": 1, "params": {
        "ok": {"shape": [1], "dtype": "float32", "values": [1.0], "constraint": {"type": "real"}},
        "bad": {"shape": [2], "dtype": "float32", "values": [1.0], "constraint": {"type": "real"}}
    }});
    std::fs::write(&path, bad.to_string()).unwrap();
    assert!(c.load(&path).is_err());
    assert_eq!(c.names(), vec!["y"]);
    let unknown = serde_json::json!({"params": {"z": {"shape": [], "dtype": "float32", "values": [1.0], "constraint": {"type": "wobbly"}}}});
    std::fs::write(&path, unknown.to_string()).unwrap();
    assert!(c.load(&path).is_err());
    assert_eq!(c.names(), vec!["y"]);
    // a missing file
    assert!(matches!(c.load(dir.join("missing.json")), Err(PyriteError::Io { .. })));
}

#[test]
fn a_positive_definite_param_keeps_its_value_and_learns_a_covariance() {
    with_param_store(&new_param_store(), || {
        tch::manual_seed(3);
        let init = Tensor::from_slice(&[2.0f64, 0.5, 0.5, 1.0]).view([2, 2]);
        let cov = param("cov", &init, Constraint::PositiveDefinite).unwrap();
        assert!(cov.allclose(&init, 1e-10, 1e-10, false), "the constrained value is the init");
        // maximum likelihood of a covariance: the sample second moment of zero-mean data
        let x = Tensor::randn([300, 2], (Kind::Double, Device::Cpu)).matmul(&Tensor::from_slice(&[1.0f64, 0.0, 0.8, 0.6]).view([2, 2]).tr());
        let model = |x: &Tensor| -> Result<()> {
            let cov = param("cov", &init, Constraint::PositiveDefinite)?;
            let mvn = MultivariateNormal::from_covariance(Tensor::zeros([2], (Kind::Double, Device::Cpu)), &cov)?;
            plate("data", x.size()[0], |_| observe("obs", mvn, x)).map(drop)
        };
        let guide = |_: &Tensor| -> Result<()> { Ok(()) };
        let mut svi = Svi::new(model, guide, Optimizer::adam(0.02), TraceElbo::new());
        svi.progress = false;
        svi.run(1500, &x).unwrap();
        let got = pyrite::core::param_store::lock(&get_param_store()).get("cov").unwrap();
        let want = x.tr().matmul(&x) / 300.0;
        assert!(got.allclose(&want, 1e-3, 1e-3, false), "learned {got} vs the sample second moment {want}");
    });
}
