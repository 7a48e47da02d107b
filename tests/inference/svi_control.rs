//! The training loop: an `Svi` that owns its model and guide (kept in a struct, returned from a
//! function, moved to a thread), `run_with` and its early stop, and the choice between failing
//! and skipping a step whose loss or gradient is not finite.

use std::cell::Cell;
use std::ops::ControlFlow;
use std::rc::Rc;

use pyrite::prelude::*;

use super::common::*;

/// mu ~ Normal(0, 10), x_i ~ Normal(mu, 1): the posterior of mu is Normal(sum(x) / (n + 0.01),
/// 1 / sqrt(n + 0.01)).
fn model(x: &Tensor) -> Result<()> {
    let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
    plate("data", x.size()[0], |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
    Ok(())
}

fn data() -> Tensor {
    t64(&[1.2, 2.1, 2.9, 1.7, 2.4, 1.9])
}

fn posterior_mean(x: &Tensor) -> f64 {
    scalar(&x.sum(Kind::Double)) / (x.size()[0] as f64 + 0.01)
}

/// A fitter as a user would keep one: an owned `Svi` beside a handle on its guide.
struct Fitter {
    svi: Svi<'static, Tensor>,
    guide: Rc<AutoNormal>,
}

fn fitter(x: &Tensor) -> Fitter {
    let guide = Rc::new(AutoNormal::new(&model, x).unwrap());
    let mut svi = Svi::new(model, guide.clone(), Optimizer::adam(0.05), TraceElbo::new());
    svi.progress = false;
    Fitter { svi, guide }
}

#[test]
fn an_owned_svi_in_a_struct_steps_exactly_as_a_borrowing_one() {
    let x = data();
    let owned = seeded(5, || {
        let mut f = fitter(&x);
        let losses = f.svi.run(200, &x).unwrap();
        (losses, scalar(&f.guide.median().unwrap()["mu"]))
    });
    let borrowed = seeded(5, || {
        let guide = AutoNormal::new(&model, &x).unwrap();
        let mut svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new());
        svi.progress = false;
        let losses = svi.run(200, &x).unwrap();
        (losses, scalar(&guide.median().unwrap()["mu"]))
    });
    assert_eq!(owned, borrowed);
    assert_near("mu after 200 steps", owned.1, posterior_mean(&x), 0.15);
}

#[test]
fn a_send_svi_trains_on_another_thread() {
    let x = data();
    let store = new_param_store();
    let svi = with_param_store(&store, || {
        let guide = AutoNormal::new(&model, &x).unwrap();
        let mut svi = Svi::new_send(model, guide, Optimizer::adam(0.05), TraceElbo::with_particles(8, true));
        svi.progress = false;
        svi
    });
    let (thread_store, thread_x) = (store.clone(), x.shallow_clone());
    let losses = std::thread::spawn(move || {
        tch::set_num_threads(1);
        let mut svi = svi;
        with_param_store(&thread_store, || svi.run(400, &thread_x))
    })
    .join()
    .unwrap()
    .unwrap();
    assert_eq!(losses.len(), 400);
    let loc = with_param_store(&store, || param_value("AutoNormal.locs.mu"));
    assert_near("mu's loc", scalar(&loc), posterior_mean(&x), 0.1);
}

#[test]
fn run_with_stops_when_the_callback_says_so_and_sees_every_step() {
    let x = data();
    seeded(1, || {
        let mut f = fitter(&x);
        let mut seen = Vec::new();
        let losses = f
            .svi
            .run_with(100, &x, |step, loss| {
                seen.push((step, loss));
                if step == 9 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(losses.len(), 10);
        assert_eq!(f.svi.optim.steps(), 10);
        assert_eq!(seen, losses.iter().copied().enumerate().collect::<Vec<_>>());
    });
}

/// A model whose data is infinite on one step (the 4th, counted from 1): its loss is not finite.
fn flaky_model<'c>(calls: &'c Cell<usize>) -> impl Fn(&Tensor) -> Result<()> + 'c {
    move |x: &Tensor| {
        calls.set(calls.get() + 1);
        let factor = if calls.get() == 4 { f64::INFINITY } else { 1.0 };
        let mu = param("mu", 0.0, Constraint::Real)?;
        plate("data", x.size()[0], |_| observe("obs", Normal::new(&mu, 1.0)?, &(x * factor)))?;
        Ok(())
    }
}

fn no_guide(_: &Tensor) -> Result<()> {
    Ok(())
}

#[test]
fn a_non_finite_step_fails_by_default_and_leaves_the_params() {
    let x = data();
    seeded(2, || {
        let calls = Cell::new(0);
        let model = flaky_model(&calls);
        let mut svi = Svi::new(&model, no_guide, Optimizer::adam(0.1), TraceElbo::new());
        svi.progress = false;
        // The model counts its calls: eager steps, one call each (a compiled step's capture
        // calls it too).
        svi.compiled = false;
        let err = svi.run(10, &x).unwrap_err();
        assert!(matches!(err, PyriteError::NonFinite { .. }), "{err}");
        assert_eq!(svi.optim.steps(), 3);
        assert_eq!(svi.skipped_steps(), 0);
    });
}

#[test]
fn skipping_a_non_finite_step_leaves_the_params_counts_it_and_goes_on() {
    let x = data();
    // The same run without the bad step: the skipped run must match it step for step.
    let reference = seeded(3, || {
        let calls = Cell::new(10);
        let model = flaky_model(&calls);
        let mut svi = Svi::new(&model, no_guide, Optimizer::adam(0.1), TraceElbo::new());
        svi.progress = false;
        // The model counts its calls: eager steps, one call each (a compiled step's capture
        // calls it too).
        svi.compiled = false;
        svi.run(9, &x).unwrap();
        snapshot()
    });
    seeded(3, || {
        let calls = Cell::new(0);
        let model = flaky_model(&calls);
        let mut svi = Svi::new(&model, no_guide, Optimizer::adam(0.1), TraceElbo::new());
        svi.progress = false;
        // The model counts its calls: eager steps, one call each (a compiled step's capture
        // calls it too).
        svi.compiled = false;
        svi.on_non_finite = OnNonFinite::Skip;
        let mut before_bad_step = Vec::new();
        let losses = svi
            .run_with(10, &x, |step, _| {
                if step == 2 {
                    before_bad_step = snapshot();
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(losses.len(), 10);
        assert!(losses[3].is_nan(), "the skipped step's loss is NaN, got {}", losses[3]);
        assert!(losses.iter().enumerate().all(|(i, l)| i == 3 || l.is_finite()));
        assert_eq!(svi.skipped_steps(), 1);
        assert_eq!(svi.optim.steps(), 9);
        assert_eq!(snapshot(), reference);
        assert_ne!(before_bad_step, reference);
    });
}
