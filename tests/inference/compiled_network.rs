//! A compiled minibatch step of a Bayesian network (the BNN's shape, small): linear layers
//! `x W^T + b` (a large product through libtorch's BLAS, a small one as loops, both reading `W`
//! through its transpose), a ReLU, a categorical likelihood on the logits in a subsampled plate,
//! the minibatches as the step's inputs (`Svi::compiled_data`). With the same seed, the compiled
//! run takes the eager run's steps, in float64 and in float32 (with over 2^16 param values, its
//! kernel then stores float32).

use pyrite::prelude::*;

use super::common::*;

const ROWS: i64 = 200;
const BATCH: i64 = 40;
const INPUT: i64 = 128;
const HIDDEN: i64 = 256;
const CLASSES: i64 = 3;

struct Batch {
    x: Tensor,
    y: Tensor,
    idx: Tensor,
    zero: Tensor,
    one: Tensor,
}

/// The batch of step `k` from the whole data set `(x, y)`.
fn batch(x: &Tensor, y: &Tensor, k: i64) -> Batch {
    let kind = x.kind();
    let idx = (Tensor::arange(BATCH, (Kind::Int64, Device::Cpu)) * 7 + k * 11).remainder(ROWS);
    Batch { x: x.index_select(0, &idx), y: y.index_select(0, &idx), idx, zero: Tensor::from(0.0f64).to_kind(kind), one: Tensor::from(1.0f64).to_kind(kind) }
}

/// `x W^T + b` with the weight and bias sampled from Normal(0, 1) priors.
fn layer(name: &str, x: &Tensor, inputs: i64, outputs: i64, b: &Batch) -> Result<Tensor> {
    let prior = |shape: &[i64]| -> Result<DistRef> { Ok(Normal::new(&b.zero, &b.one)?.expand(shape)?.to_event(shape.len())?.into_dist()) };
    let w = sample(&format!("{name}.weight"), prior(&[outputs, inputs])?)?;
    let bias = sample(&format!("{name}.bias"), prior(&[outputs])?)?;
    Ok(x.matmul(&w.transpose(-1, -2)) + bias.unsqueeze(-2))
}

fn model(b: &Batch) -> Result<()> {
    let hidden = layer("fc1", &b.x, INPUT, HIDDEN, b)?.relu();
    let logits = layer("out", &hidden, HIDDEN, CLASSES, b)?;
    Plate::new("data", ROWS).subsample(&b.idx).run(|_| observe("obs", Categorical::from_logits(&logits)?, &b.y).map(drop))
}

/// Ten minibatch steps in `kind`, compiled or not: the losses, the params, and whether the last
/// step ran compiled.
fn fit(kind: Kind, compiled: bool) -> Run {
    seeded(31, || {
        let x = Tensor::randn([ROWS, INPUT], (kind, Device::Cpu));
        let y = x.matmul(&Tensor::randn([INPUT, CLASSES], (kind, Device::Cpu))).argmax(-1, false);
        let guide = AutoNormal::with_init(&model, &batch(&x, &y, 0), InitStrategy::Median, 0.05).unwrap();
        let mut svi = Svi::new(model, &guide, Optimizer::adam(0.01), TraceElbo::new());
        svi.progress = false;
        svi.compiled = compiled;
        svi.compiled_data(|b: &Batch| vec![b.x.shallow_clone(), b.y.shallow_clone(), b.idx.shallow_clone()]);
        let losses = (0..10).map(|k| svi.step(&batch(&x, &y, k)).unwrap()).collect();
        (losses, snapshot(), svi.runs_compiled())
    })
}

#[test]
fn a_compiled_network_takes_the_eager_steps() {
    for (kind, tol) in [(Kind::Double, 1e-9), (Kind::Float, 2e-4)] {
        let (eager, compiled) = (fit(kind, false), fit(kind, true));
        assert!(compiled.2, "{kind:?}: the network compiles");
        assert_same_steps(&format!("{kind:?}"), &eager, &compiled, tol);
    }
}
