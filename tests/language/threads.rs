//! Models on several threads: handlers and default param stores are per thread; a shared store
//! is shared.

use std::sync::Barrier;

use pyrite::core::runtime::stack_depth;
use pyrite::prelude::*;

use super::common::*;

/// A model with a param (named per thread) and a few hundred draws.
fn model(tag: &str, init: f64) -> Result<Tensor> {
    let w = param(&format!("w_{tag}"), init, Constraint::Real)?;
    let c = sample("c", Normal::new(0.0, 1.0)?)?;
    let x = plate("data", 200, |_| sample("x", Normal::new(&w + &c, 1.0)?))?;
    let g = plate("g", 50, |_| sample("g", Gamma::new(2.0, 1.0)?))?;
    Ok(Tensor::cat(&[x.view([-1]), g.view([-1]), c.view([1])], 0))
}

/// Runs `model` `reps` times, each seeded with `seed_value`, in a trace, returning the draws of
/// the last run and its trace.
fn seeded_runs(tag: &str, init: f64, seed_value: u64, reps: usize) -> (Tensor, Trace) {
    let mut last = None;
    for _ in 0..reps {
        let (out, tr) = seed(seed_value, || trace(|| model(tag, init)));
        let v = out.unwrap();
        if let Some((prev, _)) = &last {
            assert!(v.equal(prev), "thread {tag}: a seeded run changed between repetitions");
        }
        last = Some((v, tr));
    }
    last.unwrap()
}

#[test]
fn threads_have_their_own_handlers_and_params_and_match_sequential_runs() {
    // sequential references, each in a fresh store (thread a runs conditioned on c = 5, so its
    // reference is conditioned the same way)
    let five = || Tensor::from(5.0f32);
    let seq_a = fresh(|| condition(values(&[("c", &five())]), || seeded_runs("a", 1.0, 11, 1).0));
    let seq_b = fresh(|| seeded_runs("b", -1.0, 22, 1).0);
    assert!(!seq_a.equal(&seq_b));

    let barrier = Barrier::new(2);
    let (par_a, par_b) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            let c = five();
            // thread a runs with a handler active while thread b runs
            let ((v, tr), cond_tr) = condition(values(&[("c", &c)]), || {
                assert_eq!(stack_depth(), 1);
                barrier.wait();
                let inner = seeded_runs("a", 1.0, 11, 20);
                let cond = get_trace(|| model("a", 1.0)).unwrap();
                (inner, cond)
            });
            assert!(cond_tr.site("c").unwrap().is_observed, "a's own condition applies in a");
            assert!(tr.site("c").unwrap().is_observed);
            let names = get_param_store().lock().unwrap().names();
            assert_eq!(names, vec!["w_a".to_string()], "a's default store holds only a's params");
            (v, names)
        });
        let b = s.spawn(|| {
            barrier.wait();
            // thread a is inside its condition handler now
            assert_eq!(stack_depth(), 0, "a's handlers are not on b's stack");
            let (v, tr) = seeded_runs("b", -1.0, 22, 20);
            assert!(!tr.site("c").unwrap().is_observed, "a's condition does not reach b");
            assert_ne!(scalar(&tr.site("c").unwrap().value), 5.0);
            let names = get_param_store().lock().unwrap().names();
            assert_eq!(names, vec!["w_b".to_string()], "b's default store holds only b's params");
            (v, names)
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(par_a.0.equal(&seq_a), "thread a's seeded draws equal the sequential ones");
    assert!(par_b.0.equal(&seq_b), "thread b's seeded draws equal the sequential ones");
    assert!(!get_param_store().lock().unwrap().names().iter().any(|n| n == "w_a" || n == "w_b"));
}

#[test]
fn a_shared_store_handle_is_seen_by_both_threads() {
    let store = new_param_store();
    with_param_store(&store, || param("common", 3.0, Constraint::Positive)).unwrap();
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        for tag in ["a", "b"] {
            let store = &store;
            let barrier = &barrier;
            s.spawn(move || {
                with_param_store(store, || {
                    // a param created before by the main thread
                    let c = param("common", 1.0, Constraint::Positive).unwrap();
                    assert_close(scalar(&c), 3.0, 1e-6);
                    param(&format!("own_{tag}"), 1.0, Constraint::Real).unwrap();
                    barrier.wait();
                    // after the barrier both threads' params exist
                    let other = if tag == "a" { "own_b" } else { "own_a" };
                    assert!(get_param_store().lock().unwrap().entry(other).is_some(), "{tag} sees {other}");
                });
                // outside with_param_store the thread's default store is empty
                assert!(get_param_store().lock().unwrap().is_empty());
            });
        }
    });
    let mut names = store.lock().unwrap().names();
    names.sort();
    assert_eq!(names, vec!["common", "own_a", "own_b"]);
    // an update through the handle is seen by every user of it
    store.lock().unwrap().set("common", &Tensor::from(7.0f32), Constraint::Positive).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let v = with_param_store(&store, || param("common", 1.0, Constraint::Positive)).unwrap();
            assert_close(scalar(&v), 7.0, 1e-6);
        });
    });
}
