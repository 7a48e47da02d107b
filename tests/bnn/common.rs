//! Helpers shared by the BNN tests: devices, seeding, and a small Bayesian network with its
//! mean-field guide (the `bnn` example's model at a smaller size).

use pyrite::prelude::*;
use tch::nn;

pub use crate::devices::devices;

/// Runs `f` with a fresh param store and libtorch's generator seeded (held for the whole run).
pub fn seeded<R>(s: u64, f: impl FnOnce() -> R) -> R {
    tch::set_num_threads(1);
    seed(s, || with_param_store(&new_param_store(), f))
}

/// The elements of a tensor, flattened, as `f64`.
pub fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_device(Device::Cpu).to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

/// A one-hidden-layer ReLU network whose weights get Normal(0, 1) priors.
pub struct Net {
    pub vs: nn::VarStore,
    pub input: i64,
}

impl Net {
    pub fn new(input: i64, hidden: i64, classes: i64, device: Device) -> Net {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let _ = nn::linear(&root / "fc1", input, hidden, Default::default());
        let _ = nn::linear(&root / "out", hidden, classes, Default::default());
        Net { vs, input }
    }
}

/// Images, labels (none when predicting), the minibatch's row indices and the full data size.
pub struct Data {
    pub x: Tensor,
    pub y: Option<Tensor>,
    pub indices: Option<Tensor>,
    pub size: i64,
}

/// Images must be `[n, input]`: anything else is `InvalidInput` rather than a libtorch shape
/// panic in the first layer.
pub fn check_images(x: &Tensor, width: i64) -> Result<()> {
    let s = x.size();
    if s.len() != 2 || s[1] != width {
        return Err(PyriteError::InvalidInput { what: "images".into(), problem: format!("shape {s:?}, expected [n, {width}]") });
    }
    Ok(())
}

/// Normal(0, 1) on every weight (`random_module`); `obs ~ Categorical(logits)` in the data plate,
/// subsampled to the minibatch's indices; class probabilities as `probs` when predicting.
pub fn bnn_model(net: &Net, d: &Data) -> Result<Tensor> {
    check_images(&d.x, net.input)?;
    let p = random_module("module", &net.vs, |_, w| Ok(Normal::new(0.0, 1.0)?.expand(&w.size())?.to_event(w.dim())?.into_dist()))?;
    let logits = linear_from(&p, "out", &linear_from(&p, "fc1", &d.x)?.relu())?;
    let mut plate = Plate::new("data", d.size);
    if let Some(i) = &d.indices {
        plate = plate.subsample(i);
    }
    plate.run(|_| {
        sample_obs("obs", Categorical::from_logits(&logits)?, d.y.as_ref())?;
        if d.y.is_none() {
            deterministic("probs", &logits.softmax(-1, Kind::Float), 1)?;
        }
        Ok(())
    })?;
    Ok(logits)
}

/// Mean-field Normal guide: loc from the module's initial weights, scale `init_scale`.
pub fn bnn_guide(net: &Net, init_scale: f64) -> Result<()> {
    let mut vars: Vec<(String, Tensor)> = net.vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, w) in vars {
        let init = w.detach();
        let loc = param(&format!("{name}.loc"), lazy(move || init.copy()), Constraint::Real)?;
        let (shape, device) = (w.size(), w.device());
        let scale = param(&format!("{name}.scale"), lazy(move || Tensor::full(shape.as_slice(), init_scale, (Kind::Float, device))), Constraint::Positive)?;
        sample(&format!("module.{name}"), Normal::new(loc, scale)?.to_event(w.dim())?)?;
    }
    Ok(())
}

/// Class probabilities averaged over `samples` networks drawn from the guide.
pub fn predict(net: &Net, init_scale: f64, x: &Tensor, samples: i64) -> Result<Tensor> {
    let m = |d: &Data| bnn_model(net, d);
    let g = |_: &Data| bnn_guide(net, init_scale);
    let d = Data { x: x.shallow_clone(), y: None, indices: None, size: x.size()[0] };
    let out = Predictive::new(&m, &g, samples).sequential().return_sites(&["probs"]).call(&d)?;
    Ok(out["probs"].mean_dim(0, false, Kind::Float))
}
