//! The discrete sites that MCMC summed out, drawn back: `infer_discrete` given each posterior
//! draw of the continuous sites (Pyro's and NumPyro's recipe after NUTS on an enumerated model).

use pyrite_core::prelude::*;
use pyrite_infer::prelude::{infer_discrete, Samples};
use tch::Tensor;

/// For each draw `i` of `samples` (each site `[n, ...]`, as [`Mcmc::get_samples`] returns
/// them), runs the model with the continuous sites set to draw `i` and its enumerated sites
/// drawn from their exact conditional posterior (`temperature == 1`) or set to their joint MAP
/// (`temperature == 0`); returns those discrete sites, each `[n, ...]`. `first_available_dim`
/// is the first dim left of the model's plates (`-2` with one plate).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_mcmc::discrete::infer_discrete_samples;
/// use tch::Tensor;
/// let data = Tensor::from_slice(&[-2.0f32, 2.1, 1.9]);
/// let model = |x: &Tensor| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 5.0))?;
///     let locs = Tensor::stack(&[-&mu, mu.shallow_clone()], 0);
///     plate("data", 3, |_| {
///         let z = SampleSite::new("z", Categorical::new(Tensor::from_slice(&[0.5f32, 0.5]))).enumerate().run()?;
///         observe("x", Normal::new(locs.index_select(0, &z.reshape([-1])).reshape(z.size().as_slice()), 0.5), x)
///     })
///     .map(drop)
/// };
/// // two posterior draws of mu
/// let samples: pyrite_infer::prelude::Samples = [("mu".to_string(), Tensor::from_slice(&[2.0f32, 1.9]))].into_iter().collect();
/// let z = &infer_discrete_samples(&model, &data, &samples, -2, 0.0)?["z"];
/// assert_eq!(z.size(), vec![2, 3]);
/// assert!(z.get(0).equal(&Tensor::from_slice(&[0i64, 1, 1])));
/// # Ok::<(), PyriteError>(())
/// ```
///
/// [`Mcmc::get_samples`]: crate::mcmc::Mcmc::get_samples
///
/// # Errors
/// [`PyriteError::InvalidInput`] for draws of different lengths or a temperature other than 0
/// or 1; the errors of [`infer_discrete`].
pub fn infer_discrete_samples<A: ?Sized, R>(
    model: &impl Fn(&A) -> Result<R>,
    args: &A,
    samples: &Samples,
    first_available_dim: i64,
    temperature: f64,
) -> Result<Samples> {
    let n = samples.values().next().map(|t| t.size().first().copied().unwrap_or(0)).unwrap_or(0);
    if let Some((name, t)) = samples.iter().find(|(_, t)| t.size().first().copied() != Some(n)) {
        return Err(PyriteError::InvalidInput {
            what: format!("samples of `{name}`"),
            problem: format!("has shape {:?}, but the draws of the other sites number {n}", t.size()),
        });
    }
    let mut draws: Vec<(String, Vec<Tensor>)> = Vec::new();
    for i in 0..n {
        let values: SiteValues = samples.iter().map(|(k, v)| (k.clone(), v.get(i))).collect();
        let program = || substitute(values.clone_shallow(), || model(args).map(drop));
        let tr = infer_discrete(&program, first_available_dim, temperature)?;
        for s in tr.sample_sites().filter(|s| s.infer.enumerate.is_some() && !s.is_observed) {
            match draws.iter_mut().find(|(k, _)| *k == s.name) {
                Some((_, v)) => v.push(s.value.shallow_clone()),
                None => draws.push((s.name.clone(), vec![s.value.shallow_clone()])),
            }
        }
    }
    Ok(draws.into_iter().map(|(k, v)| (k, Tensor::stack(&v, 0))).collect())
}

/// A shallow copy of site values (tensors share storage).
trait CloneShallow {
    fn clone_shallow(&self) -> Self;
}

impl CloneShallow for SiteValues {
    fn clone_shallow(&self) -> Self {
        self.iter().map(|(k, v)| (k.clone(), v.shallow_clone())).collect()
    }
}
