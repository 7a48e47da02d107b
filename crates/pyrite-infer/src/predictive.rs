//! `Predictive`: samples from the posterior predictive distribution.

use indexmap::IndexMap;
use pyrite_core::prelude::*;
use tch::{Kind, Tensor};

use crate::elbo::max_plate_nesting;
use crate::svi::{BoxedModel, Guide};

/// Samples by site name, each with a leading sample dimension.
pub type Samples = IndexMap<String, Tensor>;

/// Where posterior values come from.
pub enum Posterior<'a, A: ?Sized> {
    /// A fitted guide (closure, `&dyn Fn` or autoguide), run once per sample.
    Guide(BoxedModel<'a, A>),
    /// Posterior samples by site name, each with a leading dimension of `num_samples`.
    Samples(&'a IndexMap<String, Tensor>),
}

/// Pyro's `Predictive`: runs the model with latent sites taken from the posterior and returns
/// every requested site with a leading sample dimension.
pub struct Predictive<'a, A: ?Sized, R> {
    model: BoxedModel<'a, A, R>,
    posterior: Posterior<'a, A>,
    /// Number of posterior samples drawn (the size of the leading dimension).
    pub num_samples: i64,
    /// Sites to return (default: every sample site, latent and observed, and deterministic ones).
    pub return_sites: Option<Vec<String>>,
    /// Vectorise over samples in an outer plate (the model must broadcast), or loop.
    pub parallel: bool,
}

impl<'a, A: ?Sized, R> Predictive<'a, A, R> {
    /// From a model and a fitted guide. Model and guide may be closures, functions or `&dyn Fn`
    /// trait objects, as for [`Svi::new`](crate::svi::Svi::new); the guide may be an autoguide.
    pub fn new<M, G>(model: &'a M, guide: &'a G, num_samples: i64) -> Self
    where
        M: Fn(&A) -> Result<R> + ?Sized + 'a,
        G: Guide<A> + ?Sized + 'a,
    {
        let guide = Box::new(move |a: &A| guide.call(a));
        Predictive { model: Box::new(model), posterior: Posterior::Guide(guide), num_samples, return_sites: None, parallel: true }
    }
    /// From a model and posterior samples.
    pub fn from_samples<M>(model: &'a M, samples: &'a IndexMap<String, Tensor>) -> Self
    where
        M: Fn(&A) -> Result<R> + ?Sized + 'a,
    {
        let n = samples.values().next().map(|t| t.size()[0]).unwrap_or(1);
        Predictive { model: Box::new(model), posterior: Posterior::Samples(samples), num_samples: n, return_sites: None, parallel: true }
    }
    /// Restricts the returned sites.
    pub fn return_sites(mut self, sites: &[&str]) -> Self {
        self.return_sites = Some(sites.iter().map(|s| s.to_string()).collect());
        self
    }
    /// Loops over samples instead of vectorising.
    pub fn sequential(mut self) -> Self {
        self.parallel = false;
        self
    }

    fn wanted(&self, s: &Site) -> bool {
        match &self.return_sites {
            Some(names) => names.contains(&s.name),
            None => s.kind == SiteKind::Sample,
        }
    }

    /// One joint run (of `n` vectorised samples when `n > 0`).
    fn run_once(&self, args: &A, plate_dim: Option<(i64, i64)>, sample_index: Option<i64>, aligned: Option<&IndexMap<String, Vec<i64>>>) -> Result<Trace> {
        let wrap = |f: &dyn Fn() -> Result<()>| -> Result<()> {
            match plate_dim {
                Some((n, dim)) => Plate::new("_num_predictive_samples", n).dim(dim).run(|_| f()),
                None => f(),
            }
        };
        let model = || (self.model)(args).map(|_| ());
        block(BlockSpec::All, || match &self.posterior {
            Posterior::Guide(g) => {
                let guide_tr = get_trace(|| wrap(&|| g(args)))?;
                get_trace(|| replay(&guide_tr, || wrap(&model)))
            }
            Posterior::Samples(samples) => {
                let vals: SiteValues = samples
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            match (sample_index, aligned.and_then(|a| a.get(k))) {
                                (Some(i), _) => v.get(i),
                                (None, Some(shape)) => v.reshape(shape.as_slice()),
                                (None, None) => v.shallow_clone(),
                            },
                        )
                    })
                    .collect();
                get_trace(|| substitute(vals, || wrap(&model)))
            }
        })
    }

    /// Draws the samples: site name → tensor of shape `[num_samples, ...]`.
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// use pyrite_distributions::prelude::*;
    /// use pyrite_infer::prelude::*;
    /// use tch::Tensor;
    /// // `obs` is observed when data is given, sampled when not.
    /// let model = |y: &Option<Tensor>| -> Result<()> {
    ///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
    ///     plate("data", 3, |_| sample_obs("obs", Normal::new(&mu, 1.0)?, y.as_ref()))?;
    ///     Ok(())
    /// };
    /// let data = Some(Tensor::from_slice(&[1.0f32, 2.0, 3.0]));
    /// let guide = AutoNormal::new(&model, &data)?;
    /// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.1), TraceElbo::new());
    /// for _ in 0..30 {
    ///     svi.step(&data)?;
    /// }
    /// // The posterior predictive: 100 draws of `mu` and of new data.
    /// let samples = Predictive::new(&model, &guide, 100).call(&None)?;
    /// assert_eq!(samples["mu"].size(), vec![100]);
    /// assert_eq!(samples["obs"].size(), vec![100, 3]);
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The model's or guide's errors, a panic inside them as [`PyriteError::Model`].
    pub fn call(&self, args: &A) -> Result<IndexMap<String, Tensor>> {
        pyrite_core::runtime::catch_panics(|| self.call_inner(args))
    }

    fn call_inner(&self, args: &A) -> Result<IndexMap<String, Tensor>> {
        tch::no_grad(|| {
            let mut out = IndexMap::new();
            if self.parallel {
                let probe = self.run_once(args, None, Some(0), None)?;
                let nesting = max_plate_nesting(&probe);
                let dim = -(nesting as i64) - 1;
                // Posterior samples `[n, site shape]` become `[n, 1.., site shape]` so that the
                // sample dimension lands on the outer plate's dimension.
                let mut aligned = IndexMap::new();
                for s in probe.nodes.values() {
                    if let Some(d) = s.dist.as_ref() {
                        let shape = s.value.size();
                        let batch_rank = shape.len().saturating_sub(d.event_shape().len());
                        let mut target = vec![self.num_samples];
                        target.extend(std::iter::repeat_n(1, nesting.saturating_sub(batch_rank)));
                        target.extend_from_slice(&shape);
                        aligned.insert(s.name.clone(), target);
                    }
                }
                let tr = self.run_once(args, Some((self.num_samples, dim)), None, Some(&aligned))?;
                for s in tr.nodes.values().filter(|s| self.wanted(s)) {
                    // Back to `[n, site shape]`.
                    let site_shape = probe.site(&s.name).map(|p| p.value.size()).unwrap_or_default();
                    let mut shape = vec![self.num_samples];
                    shape.extend_from_slice(&site_shape);
                    let v = s.value.detach();
                    let n: i64 = shape.iter().product();
                    let v = if v.numel() as i64 == n { v.reshape(shape.as_slice()) } else { v.expand(shape.as_slice(), false).contiguous() };
                    out.insert(s.name.clone(), v);
                }
            } else {
                let mut acc: IndexMap<String, Vec<Tensor>> = IndexMap::new();
                for i in 0..self.num_samples {
                    let tr = self.run_once(args, None, Some(i), None)?;
                    for s in tr.nodes.values().filter(|s| self.wanted(s)) {
                        acc.entry(s.name.clone()).or_default().push(s.value.detach());
                    }
                }
                for (k, v) in acc {
                    out.insert(k, Tensor::stack(&v, 0));
                }
            }
            Ok(out)
        })
    }
}

/// Mean, standard deviation and 5% / 95% quantiles over the leading sample dimension (NaN when
/// there are no samples).
#[derive(Debug)]
pub struct SiteSummary {
    /// Mean over samples.
    pub mean: Tensor,
    /// Standard deviation over samples (unbiased).
    pub std: Tensor,
    /// 5% quantile.
    pub q05: Tensor,
    /// 95% quantile.
    pub q95: Tensor,
}

/// Summaries of each site of `samples` (as `Predictive::call` returns them).
///
/// ```
/// use pyrite_infer::prelude::*;
/// use tch::{Device, Kind, Tensor};
/// let samples: Samples = [("x".to_string(), Tensor::arange(101, (Kind::Float, Device::Cpu)))].into_iter().collect();
/// let s = &summary(&samples)["x"];
/// assert_eq!(s.mean.double_value(&[]), 50.0);
/// assert_eq!((s.q05.double_value(&[]), s.q95.double_value(&[])), (5.0, 95.0));
/// ```
pub fn summary(samples: &IndexMap<String, Tensor>) -> IndexMap<String, SiteSummary> {
    samples
        .iter()
        .map(|(k, v)| {
            let v = v.to_kind(Kind::Double);
            let size = v.size();
            let qs = if size.first() == Some(&0) {
                // No samples: NaN, as the mean and standard deviation (`quantile` refuses).
                let mut shape = vec![2];
                shape.extend_from_slice(&size[1..]);
                Tensor::full(shape.as_slice(), f64::NAN, (Kind::Double, v.device()))
            } else {
                // On the samples' device: `quantile` refuses levels on another one.
                let q = Tensor::from_slice(&[0.05f64, 0.95]).to_device(v.device());
                v.quantile(&q, 0, false, "linear")
            };
            (k.clone(), SiteSummary { mean: v.mean_dim(0, false, Kind::Double), std: v.std_dim(0, true, false), q05: qs.get(0), q95: qs.get(1) })
        })
        .collect()
}
