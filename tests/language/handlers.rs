//! The effect handlers: replay, condition, substitute, block, scale, mask, seed, and their
//! nesting.

use pyrite::prelude::*;

use super::common::*;

const DATA: [f32; 3] = [0.5, -1.0, 2.0];

/// `a ~ N(0,1)`, `b ~ N(a,1)`, a param `w`, `obs[i] ~ N(b, 1)` in a plate of 3.
fn model() -> Result<()> {
    let a = sample("a", Normal::new(0.0, 1.0)?)?;
    let b = sample("b", Normal::new(&a, 1.0)?)?;
    let w = param("w", 0.5, Constraint::Real)?;
    plate("data", 3, |_| observe("obs", Normal::new(&b + &w * 0.0, 1.0)?, &t32(&DATA)))?;
    Ok(())
}

fn value(tr: &Trace, name: &str) -> f64 {
    scalar(&tr.site(name).unwrap().value)
}

/// The joint density of `model` by hand.
fn model_lp(a: f64, b: f64) -> f64 {
    normal_lp(a, 0.0, 1.0) + normal_lp(b, a, 1.0) + DATA.iter().map(|&x| normal_lp(x as f64, b, 1.0)).sum::<f64>()
}

#[test]
fn replay_reproduces_latent_values() {
    fresh(|| {
        let tr1 = get_trace(model).unwrap();
        let tr2 = get_trace(|| replay(&tr1, model)).unwrap();
        assert_eq!(tr2.names(), tr1.names());
        for name in ["a", "b"] {
            assert!(tr2.site(name).unwrap().value.equal(&tr1.site(name).unwrap().value), "site {name}");
            assert!(!tr2.site(name).unwrap().is_observed);
        }
        assert_close(lps(&tr2), lps(&tr1), 1e-6);
        // without replay a new run draws other values
        let tr3 = get_trace(model).unwrap();
        assert_ne!(value(&tr3, "a"), value(&tr1, "a"));
        // replaying a trace that only holds `a` fixes `a` and samples `b` afresh
        let only_a = get_trace(|| block(BlockSpec::expose(&["a"]), model)).unwrap();
        assert_eq!(only_a.names(), vec!["a"]);
        let tr4 = get_trace(|| replay(&only_a, model)).unwrap();
        assert_eq!(value(&tr4, "a"), value(&only_a, "a"));
        assert_ne!(value(&tr4, "b"), value(&tr1, "b"));
    });
}

#[test]
fn replay_leaves_observed_sites_alone_and_rejects_observed_sources() {
    fresh(|| {
        // a trace whose `b` has another value, and whose `obs` holds other data
        let other = get_trace(|| -> Result<()> {
            sample("a", Normal::new(0.0, 1.0)?)?;
            sample("obs", Normal::new(0.0, 1.0).unwrap().expand_to(&[3])?)?;
            Ok(())
        })
        .unwrap();
        let tr = get_trace(|| replay(&other, model)).unwrap();
        assert!(tr.site("obs").unwrap().value.equal(&t32(&DATA)), "observed data is not replayed");
        assert!(tr.site("a").unwrap().value.equal(&other.site("a").unwrap().value));

        // replaying a latent site from an observed one is an error
        let observed_b = get_trace(|| observe("b", Normal::new(0.0, 1.0)?, &Tensor::from(3.0f32))).unwrap();
        let err = get_trace(|| replay(&observed_b, model)).unwrap_err();
        assert!(matches!(err, PyriteError::GuideMismatch { ref site, .. } if site == "b"), "{err}");
    });
}

#[test]
fn condition_makes_a_site_observed_with_the_given_value() {
    fresh(|| {
        let b = Tensor::from(0.25f32);
        let tr = get_trace(|| condition(values(&[("b", &b)]), model)).unwrap();
        let sb = tr.site("b").unwrap();
        assert!(sb.is_observed);
        assert!(sb.value.equal(&b));
        assert!(!tr.site("a").unwrap().is_observed);
        assert_eq!(tr.latent_sites().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["a"]);
        assert_close(lps(&tr), model_lp(value(&tr, "a"), 0.25), 1e-5);
        // names that are not in the model are ignored; params are not conditioned
        let w = Tensor::from(9.0f32);
        let tr = get_trace(|| condition(values(&[("w", &w), ("nope", &w)]), model)).unwrap();
        assert_close(value(&tr, "w"), 0.5, 1e-6);
    });
}

#[test]
fn substitute_sets_values_but_keeps_sites_latent() {
    fresh(|| {
        let a = Tensor::from(-0.75f32);
        let w = Tensor::from(3.0f32);
        let store = new_param_store();
        let tr = with_param_store(&store, || get_trace(|| substitute(values(&[("a", &a), ("w", &w)]), model))).unwrap();
        let sa = tr.site("a").unwrap();
        assert!(sa.value.equal(&a));
        assert!(!sa.is_observed, "substitute keeps the site latent");
        assert_eq!(tr.latent_sites().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(tr.site("w").unwrap().value.equal(&w), "params are substituted too");
        assert!(lock_names(&store).is_empty(), "a substituted param is not created in the store");
        assert_close(lps(&tr), model_lp(-0.75, value(&tr, "b")), 1e-5);
    });
}

fn lock_names(store: &ParamStoreHandle) -> Vec<String> {
    store.lock().unwrap().names()
}

fn names_under(spec: BlockSpec) -> Vec<String> {
    fresh(|| {
        let ((out, inner), outer) = trace(|| block(spec, || trace(model)));
        out.unwrap();
        assert_eq!(inner.names(), vec!["a", "b", "w", "obs"], "handlers inside the block see everything");
        outer.names().into_iter().map(String::from).collect()
    })
}

#[test]
fn block_hides_and_exposes() {
    assert_eq!(names_under(BlockSpec::hide(&["a", "obs"])), vec!["b", "w"]);
    assert_eq!(names_under(BlockSpec::expose(&["a", "obs"])), vec!["a", "obs"]);
    assert_eq!(names_under(BlockSpec::HideKinds(vec![SiteKind::Param])), vec!["a", "b", "obs"]);
    assert_eq!(names_under(BlockSpec::ExposeKinds(vec![SiteKind::Param])), vec!["w"]);
    assert_eq!(names_under(BlockSpec::Predicate(Box::new(|m: &Message| m.is_observed))), vec!["a", "b", "w"]);
    assert_eq!(names_under(BlockSpec::All), Vec::<String>::new());
    // nothing blocked with an empty hide list
    assert_eq!(names_under(BlockSpec::hide(&[])), vec!["a", "b", "w", "obs"]);
}

#[test]
fn block_also_hides_from_condition_outside_it() {
    fresh(|| {
        let b = Tensor::from(0.25f32);
        let tr = get_trace(|| condition(values(&[("b", &b)]), || block(BlockSpec::hide(&["b"]), model))).unwrap();
        assert!(!tr.contains("b"));
        // the inner trace shows `b` sampled, not conditioned
        let (out, inner) = condition(values(&[("b", &b)]), || block(BlockSpec::hide(&["b"]), || trace(model)));
        out.unwrap();
        assert!(!inner.site("b").unwrap().is_observed);
    });
}

#[test]
fn scale_multiplies_the_log_density() {
    fresh(|| {
        let tr1 = get_trace(model).unwrap();
        let (out, tr2) = trace(|| replay(&tr1, || scale(2.5, model)));
        out.unwrap();
        assert_close(lps(&tr2), 2.5 * lps(&tr1), 1e-5);
        for s in tr2.sample_sites() {
            assert_eq!(s.scale, 2.5, "site {}", s.name);
        }
        // nested scales multiply
        let (out, tr3) = trace(|| replay(&tr1, || scale(2.0, || scale(3.0, model))));
        out.unwrap();
        assert_close(lps(&tr3), 6.0 * lps(&tr1), 1e-5);
        // a scale inside a plate only scales the sites within it
        let (out, tr4) = trace(|| {
            replay(&tr1, || -> Result<()> {
                let a = sample("a", Normal::new(0.0, 1.0)?)?;
                plate("data", 3, |_| scale(4.0, || observe("obs", Normal::new(&a, 1.0)?, &t32(&DATA))))?;
                Ok(())
            })
        });
        out.unwrap();
        assert_eq!(tr4.site("a").unwrap().scale, 1.0);
        assert_eq!(tr4.site("obs").unwrap().scale, 4.0);
        let a = value(&tr1, "a");
        let expected = normal_lp(a, 0.0, 1.0) + 4.0 * DATA.iter().map(|&x| normal_lp(x as f64, a, 1.0)).sum::<f64>();
        assert_close(lps(&tr4), expected, 1e-5);
        // the factor must be positive and finite
        assert!(matches!(scale(0.0, model), Err(PyriteError::InvalidInput { .. })));
        assert!(matches!(scale(f64::NAN, model), Err(PyriteError::InvalidInput { .. })));
    });
}

#[test]
fn mask_zeroes_the_masked_log_densities() {
    fresh(|| {
        let a = Tensor::from(0.3f32);
        let keep = Tensor::from_slice(&[true, false, true]);
        let masked = || -> Result<()> {
            let a = sample("a", Normal::new(0.0, 1.0)?)?;
            plate("data", 3, |_| mask(&keep, || observe("obs", Normal::new(&a, 1.0)?, &t32(&DATA))))?;
            Ok(())
        };
        let tr = get_trace(|| condition(values(&[("a", &a)]), masked)).unwrap();
        let a = 0.3f32 as f64;
        let expected = normal_lp(a, 0.0, 1.0) + normal_lp(DATA[0] as f64, a, 1.0) + normal_lp(DATA[2] as f64, a, 1.0);
        assert_close(lps(&tr), expected, 1e-5);
        let lp = tr.site("obs").unwrap().log_prob().unwrap();
        assert_eq!(lp.double_value(&[1]), 0.0);
        assert!(tr.site("obs").unwrap().mask.is_some());
        // a false scalar mask removes everything, nested masks combine with `and`
        let none = Tensor::from(false);
        let (out, tr) = trace(|| mask(&none, model));
        out.unwrap();
        assert_eq!(lps(&tr), 0.0);
        let (out, tr) = trace(|| {
            condition(values(&[("a", &Tensor::from(0.3f32))]), || {
                mask(&Tensor::from(true), || -> Result<()> {
                    let a = sample("a", Normal::new(0.0, 1.0)?)?;
                    plate("data", 3, |_| {
                        mask(&Tensor::from_slice(&[true, true, false]), || mask(&keep, || observe("obs", Normal::new(&a, 1.0)?, &t32(&DATA))))
                    })?;
                    Ok(())
                })
            })
        });
        out.unwrap();
        assert_close(lps(&tr), normal_lp(a, 0.0, 1.0) + normal_lp(DATA[0] as f64, a, 1.0), 1e-5);
    });
}

#[test]
fn mask_with_a_non_bool_tensor_is_an_error() {
    let err = mask(&Tensor::from_slice(&[1.0f32, 0.0, 1.0]), model).unwrap_err();
    // the error is raised by the first sample statement inside, and names it
    assert!(matches!(err, PyriteError::InvalidInput { ref what, .. } if what == "mask around site `a`"), "{err}");
    let err = mask(&Tensor::from_slice(&[1i64, 0]), model).unwrap_err();
    assert!(matches!(err, PyriteError::InvalidInput { .. }), "{err}");
}

#[test]
fn seed_makes_two_runs_equal() {
    fresh(|| {
        let tr1 = seed(7, || get_trace(model)).unwrap();
        let tr2 = seed(7, || get_trace(model)).unwrap();
        let tr3 = seed(8, || get_trace(model)).unwrap();
        for name in ["a", "b"] {
            assert!(tr1.site(name).unwrap().value.equal(&tr2.site(name).unwrap().value), "site {name}");
        }
        assert_ne!(value(&tr1, "a"), value(&tr3, "a"));
    });
}

#[test]
fn set_rng_seed_makes_two_runs_equal() {
    fresh(|| {
        // `seed` here only keeps other tests' draws out of this section (the generator is
        // process-wide); the runs are reseeded with `set_rng_seed`.
        seed(0, || {
            set_rng_seed(123);
            let tr1 = get_trace(model).unwrap();
            let between = get_trace(model).unwrap();
            set_rng_seed(123);
            let tr2 = get_trace(model).unwrap();
            for name in ["a", "b"] {
                assert!(tr1.site(name).unwrap().value.equal(&tr2.site(name).unwrap().value), "site {name}");
            }
            assert_ne!(value(&between, "a"), value(&tr1, "a"));
        });
    });
}

#[test]
fn handlers_nest_in_either_order_with_the_same_meaning() {
    fresh(|| {
        let b = Tensor::from(0.25f32);
        let base = get_trace(model).unwrap();
        let keep = Tensor::from(true);
        let run = |which: u8| -> Trace {
            let cond = || values(&[("b", &b)]);
            let (out, tr) = trace(|| {
                replay(&base, || match which {
                    0 => condition(cond(), || scale(3.0, model)),
                    1 => scale(3.0, || condition(cond(), model)),
                    2 => mask(&keep, || scale(3.0, || condition(cond(), model))),
                    3 => scale(3.0, || mask(&keep, || condition(cond(), model))),
                    4 => condition(cond(), || mask(&keep, || scale(3.0, model))),
                    _ => unreachable!(),
                })
            });
            out.unwrap();
            tr
        };
        let expected = 3.0 * model_lp(value(&base, "a"), 0.25);
        for which in 0..5 {
            let tr = run(which);
            assert!(tr.site("b").unwrap().is_observed, "order {which}");
            assert_eq!(tr.site("b").unwrap().scale, 3.0, "order {which}");
            assert_close(lps(&tr), expected, 1e-5);
        }
        // condition and replay: the conditioned value wins whichever is inside
        let t1 = get_trace(|| condition(values(&[("b", &b)]), || replay(&base, model))).unwrap();
        let t2 = get_trace(|| replay(&base, || condition(values(&[("b", &b)]), model))).unwrap();
        for tr in [&t1, &t2] {
            assert!(tr.site("b").unwrap().is_observed);
            assert!(tr.site("b").unwrap().value.equal(&b));
            assert!(tr.site("a").unwrap().value.equal(&base.site("a").unwrap().value));
        }
        assert_close(lps(&t1), lps(&t2), 1e-6);
        // seed outside or inside trace
        let s1 = seed(3, || get_trace(model)).unwrap();
        let s2 = get_trace(|| seed(3, model)).unwrap();
        assert!(s1.site("a").unwrap().value.equal(&s2.site("a").unwrap().value));
    });
}

#[test]
fn intervene_fixes_a_value_downstream_and_still_samples_the_site() {
    // z ~ N(0, 1); x ~ N(2 z, 0.01); y ~ N(x, 0.01)
    let model = || -> Result<(Tensor, Tensor)> {
        let z = sample("z", Normal::new(0.0, 1.0)?)?;
        let x = sample("x", Normal::new(&z * 2.0, 0.01)?)?;
        let y = sample("y", Normal::new(&x, 0.01)?)?;
        Ok((x, y))
    };
    let five = Tensor::from(5.0f32);
    let mut zs = Vec::new();
    for i in 0..400 {
        let (out, tr) = seed(i, || trace(|| intervene(values(&[("x", &five)]), model)));
        let (x, y) = out.unwrap();
        // what the program sees after the site is the intervention
        assert_eq!(x.double_value(&[]), 5.0);
        assert!((y.double_value(&[]) - 5.0).abs() < 0.1);
        // the site itself is a latent draw from its distribution given z, recorded under its name
        let xs = tr.site("x").unwrap();
        assert!(!xs.is_observed);
        let z = tr.site("z").unwrap().value.double_value(&[]);
        assert!((xs.value.double_value(&[]) - 2.0 * z).abs() < 0.1);
        // the counterfactual node is hidden from handlers outside `intervene`
        assert!(tr.site("x__CF").is_none());
        let names: Vec<&str> = tr.nodes.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["z", "x", "y"]);
        zs.push(z);
    }
    // upstream of the intervention nothing changes: z keeps its N(0, 1) prior
    let mean = zs.iter().sum::<f64>() / zs.len() as f64;
    assert!(mean.abs() < 0.2, "mean of z {mean}");
    // a trace inside the intervention also records the observed counterfactual node
    let (_, inner) = intervene(values(&[("x", &five)]), || trace(model));
    assert!(inner.site("x__CF").unwrap().is_observed);
    assert!(!inner.site("x").unwrap().is_observed);
}
