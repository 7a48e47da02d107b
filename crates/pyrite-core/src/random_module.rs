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
///         Ok(Normal::new(w.zeros_like(), 1.0)?.to_event(w.dim())?.into_dist())
///     };
///     let sampled = random_module("bnn", &vs, prior)?;
///     let y = linear_from(&sampled, "fc", &x)?;
///     assert_eq!(y.size(), vec![4, 2]);
///     Ok(())
/// })?;
/// assert_eq!(tr.names(), vec!["bnn.fc.bias", "bnn.fc.weight"]);
/// # Ok::<(), PyriteError>(())
/// ```
pub fn random_module(
    name: &str,
    vs: &tch::nn::VarStore,
    prior: impl Fn(&str, &Tensor) -> Result<DistRef>,
) -> Result<IndexMap<String, Tensor>> {
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
    let w = params
        .get(&format!("{prefix}.weight"))
        .ok_or_else(|| PyriteError::UnknownSite(format!("{prefix}.weight")))?;
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
