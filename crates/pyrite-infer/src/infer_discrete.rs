//! `infer_discrete`: the posterior of a model's enumerated discrete sites.

use pyrite_core::prelude::*;
use tch::Tensor;

use crate::contract::{backtrack, contract, model_factors, Reduce};

/// Runs `model` with its enumerated discrete sites set from their exact posterior given
/// everything else: the joint MAP assignment at `temperature == 0` (max-product), a joint
/// posterior sample at `temperature == 1` (forward filtering, backward sampling). Returns the
/// trace of that run. Compose with `replay` to condition on a fitted guide, as the GMM tutorial
/// does: `infer_discrete(&|| replay(&guide_tr, || model(&data)), -2, 0.0)`.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::Tensor;
/// let data = Tensor::from_slice(&[-1.1f32, 0.9, 1.2]);
/// let locs = Tensor::from_slice(&[-1.0f32, 1.0]);
/// let model = || -> Result<()> {
///     plate("data", 3, |_| {
///         let z = SampleSite::new("z", Categorical::new(Tensor::from_slice(&[0.5f32, 0.5]))?).enumerate().run()?;
///         observe("x", Normal::new(locs.index(&[Some(&z)]), 0.5)?, &data)
///     })?;
///     Ok(())
/// };
/// // The MAP assignment; the plate uses dim -1, so enumeration starts at dim -2.
/// let tr = infer_discrete(&model, -2, 0.0)?;
/// let z = &tr.site("z").unwrap().value;
/// assert!(z.reshape([-1]).equal(&Tensor::from_slice(&[0i64, 1, 1])));
/// # Ok::<(), PyriteError>(())
/// ```
///
/// # Errors
///
/// [`PyriteError::InvalidInput`] for a temperature other than 0 or 1 or a `first_available_dim`
/// that is not negative;
/// [`PyriteError::Enumerate`] if a marked site cannot be enumerated (continuous, or its
/// dimension would collide with a plate's); the model's errors.
pub fn infer_discrete(model: &dyn Fn() -> Result<()>, first_available_dim: i64, temperature: f64) -> Result<Trace> {
    if !(temperature == 0.0 || temperature == 1.0) {
        return Err(PyriteError::InvalidInput { what: "temperature".into(), problem: format!("must be 0 or 1, got {temperature}") });
    }
    if first_available_dim >= 0 {
        return Err(PyriteError::InvalidInput {
            what: "first_available_dim".into(),
            problem: format!("must be negative (-1 minus the number of nested plates), got {first_available_dim}"),
        });
    }
    let values = tch::no_grad(|| -> Result<SiteValues> {
        let tr = get_trace(|| enumerate(first_available_dim, model))?;
        // Unscaled factors, as in Pyro: a subsample's scale does not temper the posterior; the
        // sites that depend on no enumerated variable are constants here.
        let m = model_factors(&tr, first_available_dim, &Default::default())?;
        let layout = m.layout;
        let mut tables = Vec::new();
        let reduce = if temperature == 0.0 { Reduce::Max } else { Reduce::Sum };
        let _ = contract(m.factors, &layout, reduce, Some(&mut tables))?;
        let chosen = backtrack(&tables, temperature, (-first_available_dim - 1).max(0) as usize);
        let mut values = SiteValues::new();
        for (var, name, _) in &layout.vars {
            // Cannot fail: the layout's variables are sites of this trace.
            let site = tr.site(name).expect("enumerated site in trace");
            let nesting = site.plates.iter().map(|f| -f.dim).max().unwrap_or(0) as usize;
            let idx = match chosen.iter().find(|(v, _)| v == var) {
                Some((_, idx)) => idx.shallow_clone(),
                // A variable no factor depended on: any value (the first) is a mode.
                None => Tensor::zeros([1], (tch::Kind::Int64, site.value.device())),
            };
            let size = idx.size();
            let mut shape: Vec<i64> = size[size.len().saturating_sub(nesting)..].to_vec();
            while shape.len() < nesting {
                shape.insert(0, 1);
            }
            let support = site.value.flatten(0, -1);
            let picked = support.index_select(0, &idx.reshape([-1])).reshape(shape.as_slice());
            values.insert(name.clone(), picked);
        }
        Ok(values)
    })?;
    get_trace(|| substitute(values, model))
}
