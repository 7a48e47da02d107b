//! Compiled minibatch SVI (`Svi::compiled_data`): the batch's tensors are inputs of the compiled
//! step, so a compiled run over changing minibatches takes the eager run's steps; a short last
//! batch runs eagerly; a tensor that changes without being named is seen (the step is captured
//! again), never a wrong step.

use pyrite::prelude::*;

use super::common::*;

/// A minibatch of the hierarchical regression: rows `idx` of 40, with their groups.
struct Batch {
    x: Tensor,
    y: Tensor,
    group: Tensor,
    idx: Tensor,
    zero: Tensor,
    one: Tensor,
}

const ROWS: i64 = 40;

/// The whole data set: x, y and the group of each of the 40 rows (5 groups).
fn full_data() -> (Tensor, Tensor, Tensor) {
    let x = Tensor::linspace(-1.0, 1.0, ROWS, (Kind::Double, Device::Cpu));
    let group = Tensor::arange(ROWS, (Kind::Int64, Device::Cpu)).remainder(5);
    let effect = t64(&[0.3, -0.2, 0.5, 0.1, -0.4]);
    let y = &x * 0.7 + effect.index_select(0, &group) + (&x * 13.0).sin() * 0.1 + 1.0;
    (x, y, group)
}

/// The batch of step `k`: 8 rows in a fixed order, and 5 rows at step 6 (a short batch).
fn batch(k: i64) -> Batch {
    let (x, y, group) = full_data();
    let len = if k == 6 { 5 } else { 8 };
    let idx = (Tensor::arange(len, (Kind::Int64, Device::Cpu)) * 3 + k * 7).remainder(ROWS);
    Batch {
        x: x.index_select(0, &idx),
        y: y.index_select(0, &idx),
        group: group.index_select(0, &idx),
        idx,
        zero: Tensor::from(0.0f64),
        one: Tensor::from(1.0f64),
    }
}

fn model(b: &Batch) -> Result<()> {
    let scale = sample("scale", HalfNormal::new(&b.one))?;
    let slope = sample("slope", Normal::new(&b.zero, &b.one))?;
    let sigma = sample("sigma", HalfNormal::new(&b.one))?;
    let effect = plate("groups", 5, |_| sample("effect", Normal::new(&b.zero, &scale)))?;
    let mean = slope * &b.x + effect.index_select(0, &b.group);
    Plate::new("data", ROWS).subsample(&b.idx).run(|_| observe("obs", Normal::new(&mean, &sigma)?, &b.y).map(drop))
}

/// How a run is compiled.
enum Mode {
    Eager,
    /// Compiled, naming no data.
    Compiled,
    /// Compiled, naming these tensors as data.
    CompiledWith(fn(&Batch) -> Vec<Tensor>),
}

/// `steps` minibatch steps: the losses, the params, and whether the last step ran compiled.
fn fit(mode: Mode, steps: i64) -> Result<Run> {
    seeded(21, || {
        let guide = AutoNormal::new(&model, &batch(0))?;
        let mut svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new());
        svi.progress = false;
        svi.compiled = !matches!(mode, Mode::Eager);
        if let Mode::CompiledWith(data) = mode {
            svi.compiled_data(data);
        }
        let mut losses = Vec::new();
        for k in 0..steps {
            losses.push(svi.step(&batch(k))?);
        }
        Ok((losses, snapshot(), svi.runs_compiled()))
    })
}

fn all_tensors(b: &Batch) -> Vec<Tensor> {
    vec![b.x.shallow_clone(), b.y.shallow_clone(), b.group.shallow_clone(), b.idx.shallow_clone()]
}

#[test]
fn compiled_minibatch_steps_take_the_eager_steps() {
    let eager = fit(Mode::Eager, 12).unwrap();
    let compiled = fit(Mode::CompiledWith(all_tensors), 12).unwrap();
    assert!(!eager.2);
    assert!(compiled.2, "the minibatch step compiles");
    assert_same_steps("named data", &eager, &compiled, 1e-9);
}

#[test]
fn batches_made_anew_without_naming_them_are_captured_again_then_run_eagerly() {
    // Each batch is a new value, quite possibly at the address of the last: the step sees that
    // the tensors it holds as constants are gone, and captures the step again; after a few
    // such captures it runs eagerly. Every step is the eager one.
    let eager = fit(Mode::Eager, 12).unwrap();
    let unnamed = fit(Mode::Compiled, 12).unwrap();
    assert!(!unnamed.2);
    assert_same_steps("no data named", &eager, &unnamed, 1e-9);
}

#[test]
fn a_changing_tensor_not_named_as_data_is_seen() {
    // The groups change from batch to batch but are not named: held as constants, they would
    // give wrong steps; the step sees them change and is captured again.
    let eager = fit(Mode::Eager, 5).unwrap();
    let partly = fit(Mode::CompiledWith(|b: &Batch| vec![b.x.shallow_clone(), b.y.shallow_clone()]), 5).unwrap();
    assert!(partly.2);
    assert_same_steps("groups not named", &eager, &partly, 1e-9);
}
