//! `deterministic`, `factor` and `module` sites.

use pyrite::core::param_store::lock;
use pyrite::prelude::*;
use tch::nn;

use super::common::*;

#[test]
fn deterministic_sites_are_recorded_and_add_nothing_to_the_log_density() {
    let a = Tensor::from(0.7f32);
    let run = |with_det: bool| -> Trace {
        get_trace(|| {
            condition(values(&[("a", &a)]), || -> Result<()> {
                let a = sample("a", Normal::new(0.0, 1.0)?)?;
                let b = plate("data", 3, |_| {
                    let b = sample("b", Normal::new(&a, 1.0)?)?;
                    if with_det {
                        let d = deterministic("twice_b", &(&b * 2.0), 0)?;
                        assert!(d.equal(&(&b * 2.0)), "deterministic returns its value");
                    }
                    Ok(b)
                })?;
                if with_det {
                    deterministic("sum_b", &b.sum(Kind::Float), 0)?;
                    deterministic("vec_b", &b, 1)?;
                }
                Ok(())
            })
        })
        .unwrap()
    };
    let tr = run(true);
    assert_eq!(tr.names(), vec!["a", "b", "twice_b", "sum_b", "vec_b"]);
    let b = &tr.site("b").unwrap().value;
    let d = tr.site("twice_b").unwrap();
    assert!(d.value.equal(&(b * 2.0)));
    assert!(d.infer.deterministic);
    assert!(d.is_observed);
    assert!(!d.is_scored());
    assert_eq!(d.plates.len(), 1, "recorded inside its plate");
    assert_eq!(d.value.size(), vec![3]);
    assert_eq!(tr.site("vec_b").unwrap().dist.as_ref().unwrap().event_shape(), &[3]);
    // not a latent nor an observed site for inference
    assert_eq!(tr.latent_sites().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["b"]);
    assert_eq!(tr.sample_sites().count(), 2);
    // its own log-density is zero, and the joint is that of the model without it
    assert_eq!(to_vec(&d.log_prob().unwrap()), vec![0.0; 3]);
    let without = run(false);
    let (av, bv) = (0.7f32 as f64, to_vec(b));
    let expected = normal_lp(av, 0.0, 1.0) + bv.iter().map(|&x| normal_lp(x, av, 1.0)).sum::<f64>();
    assert_close(lps(&tr), expected, 1e-5);
    let bw = to_vec(&without.site("b").unwrap().value);
    assert_close(lps(&without), normal_lp(av, 0.0, 1.0) + bw.iter().map(|&x| normal_lp(x, av, 1.0)).sum::<f64>(), 1e-5);
}

#[test]
fn factor_adds_its_value_to_the_log_density() {
    let a = Tensor::from(0.2f32);
    let tr = get_trace(|| {
        condition(values(&[("a", &a)]), || -> Result<()> {
            sample("a", Normal::new(0.0, 1.0)?)?;
            factor("f", &Tensor::from(-1.25f32))?;
            plate("data", 3, |_| factor("g", &Tensor::from_slice(&[0.5f32, 1.0, 2.0])))?;
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(tr.names(), vec!["a", "f", "g"]);
    let f = tr.site("f").unwrap();
    assert!(f.infer.factor);
    assert!(f.is_scored());
    assert!(!f.is_latent(), "a factor is not a latent variable");
    assert_close(scalar(&f.log_prob().unwrap()), -1.25, 1e-7);
    assert_eq!(tr.site("g").unwrap().log_prob().unwrap().size(), vec![3]);
    assert_close(lps(&tr), normal_lp(0.2f32 as f64, 0.0, 1.0) - 1.25 + 3.5, 1e-6);
    // scaled like any site
    let (out, tr2) = trace(|| scale(2.0, || factor("f", &Tensor::from(-1.25f32))));
    out.unwrap();
    assert_close(lps(&tr2), -2.5, 1e-7);
    // a factor keeps the gradient of its argument
    let x = Tensor::from(3.0f32).set_requires_grad(true);
    let tr3 = get_trace(|| factor("h", &(&x * &x))).unwrap();
    tr3.log_prob_sum().unwrap().backward();
    assert_close(scalar(&x.grad()), 6.0, 1e-6);
}

#[test]
fn module_registers_a_var_store_sharing_its_storage() {
    fresh(|| {
        // the initialiser draws random numbers: hold the generator (see `seed`) while it runs
        let (vs, lin) = seed(0, || {
            let vs = nn::VarStore::new(Device::Cpu);
            let lin = nn::linear(&vs.root() / "fc", 3, 2, Default::default());
            (vs, lin)
        });
        let (out, tr) = trace(|| module("net", &vs));
        out.unwrap();
        let mut names: Vec<&str> = tr.param_sites().map(|s| s.name.as_str()).collect();
        names.sort();
        assert_eq!(names, vec!["net$$$fc.bias", "net$$$fc.weight"]);
        let store = get_param_store();
        {
            let s = lock(&store);
            let w = s.entry("net$$$fc.weight").unwrap();
            assert_eq!(w.unconstrained.data_ptr(), lin.ws.data_ptr(), "same storage as the module's weight");
            assert_eq!(s.entry("net$$$fc.bias").unwrap().unconstrained.data_ptr(), lin.bs.as_ref().unwrap().data_ptr());
            assert_eq!(w.constraint, Constraint::Real);
            assert_eq!(w.unconstrained.size(), vec![2, 3]);
        }
        // a change to the module shows in the store and in `param`, and the other way round
        tch::no_grad(|| {
            let _ = lin.ws.shallow_clone().fill_(0.5);
        });
        assert_eq!(to_vec(&lock(&store).get("net$$$fc.weight").unwrap()), vec![0.5; 6]);
        let p = param("net$$$fc.weight", Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)), Constraint::Real).unwrap();
        assert_eq!(to_vec(&p), vec![0.5; 6]);
        tch::no_grad(|| {
            let _ = lock(&store).entry("net$$$fc.bias").unwrap().unconstrained.shallow_clone().fill_(-1.0);
        });
        assert_eq!(to_vec(lin.bs.as_ref().unwrap()), vec![-1.0; 2]);
        // registering again keeps the sharing
        module("net", &vs).unwrap();
        assert_eq!(lock(&store).entry("net$$$fc.weight").unwrap().unconstrained.data_ptr(), lin.ws.data_ptr());
        // the module's forward pass and a gradient through the store's tensor agree
        let x = Tensor::ones([1, 3], (Kind::Float, Device::Cpu));
        let y = x.apply(&lin).sum(Kind::Float);
        assert_close(scalar(&y), 2.0 * (1.5 - 1.0), 1e-6);
    });
}

#[test]
fn module_copies_loaded_values_into_the_module() {
    let dir = TempDir::new("module-load");
    let path = dir.join("net.json");
    fresh(|| {
        let vs = seed(1, || {
            let vs = nn::VarStore::new(Device::Cpu);
            let _ = nn::linear(&vs.root() / "fc", 2, 1, Default::default());
            vs
        });
        module("net", &vs).unwrap();
        let store = get_param_store();
        tch::no_grad(|| {
            for (_, t) in vs.variables() {
                let _ = t.shallow_clone().fill_(0.25);
            }
        });
        lock(&store).save(&path).unwrap();
        // a new module (other values), then the saved store is loaded and the module registered
        let vs2 = seed(2, || {
            let vs = nn::VarStore::new(Device::Cpu);
            let _ = nn::linear(&vs.root() / "fc", 2, 1, Default::default());
            vs
        });
        let store2 = new_param_store();
        lock(&store2).load(&path).unwrap();
        with_param_store(&store2, || module("net", &vs2)).unwrap();
        for (name, t) in vs2.variables() {
            assert!(to_vec(&t).iter().all(|&x| x == 0.25), "{name} took the saved value");
            assert_eq!(lock(&store2).entry(&format!("net$$${name}")).unwrap().unconstrained.data_ptr(), t.data_ptr());
        }
    });
}
