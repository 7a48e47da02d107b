//! The handler stack is left clean by panics and errors.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyrite::core::runtime::stack_depth;
use pyrite::prelude::*;

use super::common::*;

fn normal_model() -> Result<Tensor> {
    let mu = sample("mu", Normal::new(0.0, 1.0)?)?;
    plate("data", 3, |_| observe("obs", Normal::new(&mu, 1.0)?, &t32(&[1.0, 2.0, 3.0])))?;
    Ok(mu)
}

/// A model runs normally afterwards: only its own sites, the first plate at dim -1, no
/// leftover condition or scale.
#[track_caller]
fn check_clean() {
    assert_eq!(stack_depth(), 0);
    let tr = get_trace(normal_model).unwrap();
    assert_eq!(tr.names(), vec!["mu", "obs"]);
    assert!(!tr.site("mu").unwrap().is_observed);
    assert_eq!(tr.site("obs").unwrap().scale, 1.0);
    assert_eq!(tr.site("obs").unwrap().plates[0].dim, -1);
    assert_eq!(stack_depth(), 0);
}

#[test]
fn the_stack_is_clean_after_a_panicking_model() {
    assert_eq!(stack_depth(), 0);
    let r = catch_unwind(|| {
        trace(|| -> Result<()> {
            assert_eq!(stack_depth(), 1);
            panic!("model panics");
        })
    });
    assert!(r.is_err());
    check_clean();

    // deep inside handlers and plates
    let mu = Tensor::from(0.5f32);
    let r = catch_unwind(AssertUnwindSafe(|| {
        trace(|| {
            condition(values(&[("mu", &mu)]), || {
                scale(2.0, || {
                    plate("outer", 2, |_| {
                        Plate::new("data", 10).subsample_size(3).run(|_| -> Result<()> {
                            sample("x", Normal::new(0.0, 1.0)?)?;
                            assert!(stack_depth() >= 5);
                            panic!("deep panic")
                        })
                    })
                })
            })
        })
    }));
    assert!(r.is_err());
    check_clean();

    // a panic inside the stack itself (a param's lazy initialiser), with a store lock held;
    // the thread's own store is current again afterwards
    let default_store = get_param_store();
    let store = new_param_store();
    let r = catch_unwind(AssertUnwindSafe(|| with_param_store(&store, || trace(|| param("p", lazy(|| panic!("init panics")), Constraint::Real)))));
    assert!(r.is_err());
    check_clean();
    assert!(std::sync::Arc::ptr_eq(&get_param_store(), &default_store));
    with_param_store(&store, || {
        let v = param("p", 2.0, Constraint::Real).unwrap();
        assert_eq!(scalar(&v), 2.0, "the store still works after the panic");
    });
}

#[test]
fn the_stack_is_clean_after_a_model_error() {
    let mu = Tensor::from(0.5f32);
    let (out, tr) = trace(|| {
        condition(values(&[("mu", &mu)]), || {
            plate("outer", 2, |_| -> Result<()> {
                sample("x", Normal::new(0.0, 1.0)?)?;
                Err(PyriteError::Model("stopped mid-way".into()))
            })
        })
    });
    assert!(matches!(out, Err(PyriteError::Model(_))));
    assert_eq!(tr.names(), vec!["x"]);
    check_clean();

    // an error raised by the stack itself (a duplicate site) inside nested handlers
    let r = get_trace(|| {
        scale(2.0, || {
            plate("p", 2, |_| -> Result<()> {
                sample("d", Normal::new(0.0, 1.0)?)?;
                sample("d", Normal::new(0.0, 1.0)?)?;
                Ok(())
            })
        })
    });
    assert!(matches!(r, Err(PyriteError::DuplicateSite(_))));
    check_clean();
}
