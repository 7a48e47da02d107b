//! The log-likelihood of each observation under each posterior draw, as NumPyro's
//! `numpyro.infer.log_likelihood`: the input of [`waic`](crate::compare::waic) and
//! [`loo`](crate::compare::loo).

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use tch::Tensor;

use crate::elbo::max_plate_nesting;

/// For each observed site of `model`, the log-density of the observed value under each draw of
/// `samples`: site name → tensor `[draws, ...site batch shape]` (one entry per observation, not
/// summed; zero where the site is masked; scales are not applied).
///
/// The model runs with its latent sites substituted by the draws (each tensor of `samples` is
/// `[draws, ...site shape]`, as `Mcmc::get_samples`, `Predictive` and autoguides'
/// `sample_posterior` give them), all draws at once in an outer plate, so the model must
/// broadcast over a leading batch dimension as for a vectorised `Predictive`; else use
/// [`log_likelihood_sequential`]. Factor statements count as observed sites, as in NumPyro.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::Tensor;
/// let model = |y: &Tensor| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
///     plate("data", 3, |_| observe("obs", Normal::new(&mu, 1.0)?, y))?;
///     Ok(())
/// };
/// let y = Tensor::from_slice(&[1.0f64, 2.0, 3.0]);
/// // Two draws of `mu`: 0 and 2.
/// let samples: Samples = [("mu".to_string(), Tensor::from_slice(&[0.0f64, 2.0]))].into_iter().collect();
/// let ll = log_likelihood(&model, &samples, &y)?;
/// assert_eq!(ll["obs"].size(), vec![2, 3]);
/// // Under mu = 2 the third observation is 1 away: log N(1; 0, 1).
/// let expected = -0.5 - 0.5 * (2.0 * std::f64::consts::PI).ln();
/// assert!((ll["obs"].double_value(&[1, 2]) - expected).abs() < 1e-12);
/// # Ok::<(), PyriteError>(())
/// ```
///
/// # Errors
///
/// [`PyriteError::InvalidInput`] when `samples` is empty or its tensors disagree on the number
/// of draws, when the model samples a latent site that `samples` has no draws of, or when the
/// model has no observed site; the model's own errors, a panic inside it as
/// [`PyriteError::Model`].
pub fn log_likelihood<A, R, M>(model: &M, samples: &IndexMap<String, Tensor>, args: &A) -> Result<IndexMap<String, Tensor>>
where
    A: ?Sized,
    M: Fn(&A) -> Result<R> + ?Sized,
{
    pyrite_core::runtime::catch_panics(|| tch::no_grad(|| vectorized(model, samples, args)))
}

/// [`log_likelihood`] one draw at a time: for models that do not broadcast over a leading batch
/// dimension. Same result, slower.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::Tensor;
/// // `mu.double_value` reads one number: this model cannot run on a batch of draws.
/// let model = |y: &Tensor| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
///     let shifted = y - mu.double_value(&[]);
///     plate("data", 3, |_| observe("obs", Normal::new(0.0, 1.0)?, &shifted))?;
///     Ok(())
/// };
/// let y = Tensor::from_slice(&[1.0f64, 2.0, 3.0]);
/// let samples: Samples = [("mu".to_string(), Tensor::from_slice(&[0.0f64, 2.0]))].into_iter().collect();
/// let ll = log_likelihood_sequential(&model, &samples, &y)?;
/// assert_eq!(ll["obs"].size(), vec![2, 3]);
/// # Ok::<(), PyriteError>(())
/// ```
///
/// # Errors
///
/// As [`log_likelihood`].
pub fn log_likelihood_sequential<A, R, M>(model: &M, samples: &IndexMap<String, Tensor>, args: &A) -> Result<IndexMap<String, Tensor>>
where
    A: ?Sized,
    M: Fn(&A) -> Result<R> + ?Sized,
{
    pyrite_core::runtime::catch_panics(|| {
        tch::no_grad(|| {
            let n = num_draws(samples)?;
            let mut acc: IndexMap<String, Vec<Tensor>> = IndexMap::new();
            for i in 0..n {
                let tr = run(model, args, samples.iter().map(|(k, v)| (k.clone(), v.get(i))).collect(), None)?;
                if i == 0 {
                    check_trace(&tr, samples)?;
                }
                for s in observed(&tr) {
                    acc.entry(s.name.clone()).or_default().push(s.log_prob()?.detach());
                }
            }
            Ok(acc.into_iter().map(|(k, v)| (k, Tensor::stack(&v, 0))).collect())
        })
    })
}

fn vectorized<A, R, M>(model: &M, samples: &IndexMap<String, Tensor>, args: &A) -> Result<IndexMap<String, Tensor>>
where
    A: ?Sized,
    M: Fn(&A) -> Result<R> + ?Sized,
{
    let n = num_draws(samples)?;
    let probe = run(model, args, samples.iter().map(|(k, v)| (k.clone(), v.get(0))).collect(), None)?;
    check_trace(&probe, samples)?;
    let nesting = max_plate_nesting(&probe);
    // Draws `[n, site shape]` become `[n, 1.., site shape]`, so that the draw dimension lands on
    // the outer plate's dimension, left of every plate of the model.
    let mut values = SiteValues::new();
    for (name, v) in samples {
        let aligned = match probe.site(name).and_then(|s| s.dist.as_ref().map(|d| (s, d))) {
            Some((s, d)) => {
                let shape = s.value.size();
                let batch_rank = shape.len().saturating_sub(d.event_shape().len());
                let mut target = vec![n];
                target.extend(std::iter::repeat_n(1, nesting.saturating_sub(batch_rank)));
                target.extend_from_slice(&shape);
                v.reshape(target.as_slice())
            }
            None => v.shallow_clone(),
        };
        values.insert(name.clone(), aligned);
    }
    let tr = run(model, args, values, Some((n, -(nesting as i64) - 1)))?;
    let mut out = IndexMap::new();
    for s in observed(&tr) {
        // Back to `[n, batch shape]`; a log-density that does not depend on the draws is
        // repeated.
        let mut shape = vec![n];
        if let Some(p) = probe.site(&s.name) {
            shape.extend(p.log_prob()?.size());
        }
        let lp = s.log_prob()?.detach();
        let lp =
            if lp.numel() as i64 == shape.iter().product::<i64>() { lp.reshape(shape.as_slice()) } else { lp.expand(shape.as_slice(), false).contiguous() };
        out.insert(s.name.clone(), lp);
    }
    Ok(out)
}

/// One run of the model with `values` substituted, inside an outer plate of `n` draws at `dim`
/// when given, hidden from enclosing handlers.
fn run<A, R, M>(model: &M, args: &A, values: SiteValues, draws_plate: Option<(i64, i64)>) -> Result<Trace>
where
    A: ?Sized,
    M: Fn(&A) -> Result<R> + ?Sized,
{
    let body = || model(args).map(drop);
    block(BlockSpec::All, || {
        get_trace(|| {
            substitute(values, || match draws_plate {
                Some((n, dim)) => Plate::new("_num_log_likelihood_draws", n).dim(dim).run(|_| body()),
                None => body(),
            })
        })
    })
}

/// The number of draws: the common leading dimension of the tensors of `samples`.
fn num_draws(samples: &IndexMap<String, Tensor>) -> Result<i64> {
    let invalid = |problem: String| PyriteError::InvalidInput { what: "samples".into(), problem };
    let mut n = None;
    for (name, v) in samples {
        let Some(&d) = v.size().first() else {
            return Err(invalid(format!("site `{name}` is a scalar tensor; draws have a leading draw dimension")));
        };
        match n {
            None if d == 0 => return Err(invalid(format!("site `{name}` has no draws"))),
            None => n = Some((name, d)),
            Some((first, m)) if m != d => return Err(invalid(format!("site `{name}` has {d} draws, site `{first}` {m}"))),
            Some(_) => {}
        }
    }
    n.map(|(_, d)| d).ok_or_else(|| invalid("no draws: the samples are empty".into()))
}

/// The observed sample sites of a trace (factor statements included).
fn observed(tr: &Trace) -> impl Iterator<Item = &Site> {
    tr.nodes.values().filter(|s| s.kind == SiteKind::Sample && s.is_observed)
}

/// Every latent site of the model has draws, and the model observes something.
fn check_trace(tr: &Trace, samples: &IndexMap<String, Tensor>) -> Result<()> {
    let invalid = |problem: String| PyriteError::InvalidInput { what: "samples".into(), problem };
    if let Some(s) = tr.latent_sites().find(|s| s.is_scored() && !samples.contains_key(&s.name)) {
        return Err(invalid(format!("no draws of the latent site `{}`, which the model samples", s.name)));
    }
    if observed(tr).next().is_none() {
        return Err(invalid("the model has no observed site".into()));
    }
    Ok(())
}
