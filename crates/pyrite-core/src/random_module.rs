//! Random modules: priors on the parameters of a tch `nn` module (Pyro's `random_module` and
//! `PyroSample`).

use indexmap::IndexMap;
use pyrite_distributions::DistRef;
use tch::Tensor;

use crate::error::{PyriteError, Result};
use crate::primitives::sample;

/// Samples every variable of `vs` (in name order) as a site `"{name}.{variable}"` from
/// `prior(variable_name, current_value)`, and returns the sampled tensors by variable name, to
/// be used in the forward pass instead of the module's own weights (see [`linear_from`]). A
/// guide learns a loc and scale per weight, hand-written or with `AutoNormal`.
///
/// The prior should make the whole weight one event (`.to_event(w.dim())`), so that the sites
/// have no batch dimensions and broadcast under outer plates (`Predictive`).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use tch::{nn, Tensor};
/// let vs = nn::VarStore::new(tch::Device::Cpu);
/// let _fc = nn::linear(vs.root() / "fc", 3, 2, Default::default());
/// let x = Tensor::ones([4, 3], (tch::Kind::Float, tch::Device::Cpu));
/// let tr = get_trace(|| -> Result<()> {
///     let prior = |_: &str, w: &Tensor| -> Result<DistRef> {
///         Ok(Normal::new(0.0, 1.0)?.expand(&w.size())?.to_event(w.dim())?.into_dist())
///     };
///     let sampled = random_module("bnn", &vs, prior)?;
///     let y = linear_from(&sampled, "fc", &x)?;
///     assert_eq!(y.size(), vec![4, 2]);
///     Ok(())
/// })?;
/// assert_eq!(tr.names(), vec!["bnn.fc.bias", "bnn.fc.weight"]);
/// # Ok::<(), PyriteError>(())
/// ```
pub fn random_module(name: &str, vs: &tch::nn::VarStore, prior: impl Fn(&str, &Tensor) -> Result<DistRef>) -> Result<IndexMap<String, Tensor>> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = IndexMap::new();
    for (var, t) in vars {
        let d = prior(&var, &t)?;
        let v = sample(&format!("{name}.{var}"), d)?;
        out.insert(var, v);
    }
    Ok(out)
}

/// The weight and bias `"{prefix}.weight"` / `"{prefix}.bias"` of sampled module parameters.
pub fn linear_weights<'a>(params: &'a IndexMap<String, Tensor>, prefix: &str) -> Result<(&'a Tensor, Option<&'a Tensor>)> {
    let w = params.get(&format!("{prefix}.weight")).ok_or_else(|| PyriteError::UnknownSite(format!("{prefix}.weight")))?;
    Ok((w, params.get(&format!("{prefix}.bias"))))
}

/// A linear layer applied with sampled parameters: `x W^T + b`, where `W` may carry leading
/// sample dimensions (vectorised `Predictive`).
pub fn linear_from(params: &IndexMap<String, Tensor>, prefix: &str, x: &Tensor) -> Result<Tensor> {
    let (w, b) = linear_weights(params, prefix)?;
    let y = x.matmul(&w.transpose(-1, -2));
    Ok(match b {
        Some(b) => y + b.unsqueeze(-2),
        None => y,
    })
}

/// A prior by parameter shape, for [`ParamSpec::Sample`].
pub type PriorFn = Box<dyn Fn(&[i64]) -> Result<DistRef>>;
/// An initial value by parameter shape, for [`ParamSpec::Param`].
pub type InitFn = std::rc::Rc<dyn Fn(&[i64]) -> Tensor>;

/// How one parameter of a [`PyroLinear`] is treated: sampled from a prior (Pyro's
/// `PyroSample`), or learned as a point value (`PyroParam`).
pub enum ParamSpec {
    /// `PyroSample(prior)`: the closure gets the parameter's shape and returns its prior, which
    /// should make the whole tensor one event (`.to_event(shape.len())`).
    Sample(PriorFn),
    /// `PyroParam`: a learnable tensor, initialised by the closure the first time.
    Param(InitFn),
}

/// A linear layer in the `PyroModule` style: each of its parameters is declared as sampled
/// (with a prior) or learned, and every forward pass sends the sample statements
/// `"{name}.weight"` / `"{name}.bias"` (or the params of the same names) through the handler
/// stack, so the same layer serves as the model's network and, replayed, in `Predictive`.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_core::random_module::{ParamSpec, PyroLinear};
/// use pyrite_distributions::prelude::*;
/// let prior = || ParamSpec::Sample(Box::new(|shape: &[i64]| {
///     let zeros = tch::Tensor::zeros(shape, (tch::Kind::Float, tch::Device::Cpu));
///     Ok(Normal::new(zeros, 1.0)?.to_event(shape.len())?.into_dist())
/// }));
/// let layer = PyroLinear::new("fc1", 3, 2, prior(), Some(prior()));
/// let x = tch::Tensor::ones([5, 3], (tch::Kind::Float, tch::Device::Cpu));
/// let tr = get_trace(|| layer.forward(&x))?;
/// assert_eq!(tr.site("fc1.weight").unwrap().value.size(), vec![2, 3]);
/// assert_eq!(tr.site("fc1.bias").unwrap().value.size(), vec![2]);
/// # Ok::<(), PyriteError>(())
/// ```
pub struct PyroLinear {
    name: String,
    weight_shape: [i64; 2],
    weight: ParamSpec,
    bias: Option<ParamSpec>,
}

impl PyroLinear {
    /// A layer `in_features -> out_features` named `name`, with its weight spec and an optional
    /// bias spec.
    pub fn new(name: &str, in_features: i64, out_features: i64, weight: ParamSpec, bias: Option<ParamSpec>) -> Self {
        PyroLinear { name: name.to_string(), weight_shape: [out_features, in_features], weight, bias }
    }

    fn value(&self, suffix: &str, shape: &[i64], spec: &ParamSpec) -> Result<Tensor> {
        let site = format!("{}.{suffix}", self.name);
        match spec {
            ParamSpec::Sample(prior) => sample(&site, prior(shape)?),
            ParamSpec::Param(init) => {
                let (init, shape) = (init.clone(), shape.to_vec());
                crate::primitives::param(&site, crate::message::lazy(move || init(&shape)), pyrite_distributions::Constraint::Real)
            }
        }
    }

    /// `x W^T + b` with `W` and `b` drawn (or read) through the handler stack; `W` may carry
    /// leading sample dimensions under an outer plate.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.value("weight", &self.weight_shape, &self.weight)?;
        let y = x.matmul(&w.transpose(-1, -2));
        Ok(match &self.bias {
            Some(spec) => y + self.value("bias", &self.weight_shape[..1], spec)?.unsqueeze(-2),
            None => y,
        })
    }
}
