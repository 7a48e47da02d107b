//! Posterior summaries with convergence diagnostics, site by site, and NumPyro's summary table.
//!
//! [`summary`] (also reachable as [`posterior_summary`], the name to glob-import next to
//! `pyrite_infer`'s simpler `summary`) reduces each site's draws to a [`PosteriorSummary`]: mean,
//! standard deviation, median, highest posterior density interval, bulk and tail effective sample
//! sizes and rank-normalised split R-hat, per element of the site. [`format_summary`] prints them
//! as NumPyro's `print_summary` does and [`summary_to_json`] gives them as JSON.
//!
//! ```
//! use indexmap::IndexMap;
//! use pyrite_mcmc::summary::{format_summary, posterior_summary};
//! use tch::{Kind, Tensor};
//!
//! // Two chains of 100 draws of a site of shape [3].
//! let draws = Tensor::randn([2, 100, 3], (Kind::Double, tch::Device::Cpu));
//! let samples: IndexMap<String, Tensor> = [("theta".to_string(), draws)].into_iter().collect();
//! let summaries = posterior_summary(&samples, 0.89, true)?;
//! assert_eq!(summaries["theta"].shape, vec![3]);
//! assert_eq!(summaries["theta"].r_hat.len(), 3);
//! let table = format_summary(&summaries, 0.89);
//! assert!(table.contains("theta[2]") && table.contains("94.5%"));
//! # Ok::<(), pyrite_core::PyriteError>(())
//! ```

use indexmap::IndexMap;
use pyrite_core::{PyriteError, Result};
use serde_json::{Map, Value};
use tch::{Device, Kind, Tensor};

use crate::diagnostics::{ess_bulk, ess_tail, hpdi, median, split_rhat};

/// The summary of one site's draws. Each statistic holds one value per element of the site, in
/// row-major order (a scalar site has one).
#[derive(Debug, Clone, PartialEq)]
pub struct PosteriorSummary {
    /// The site's shape (without the chain and draw dimensions); empty for a scalar site.
    pub shape: Vec<i64>,
    /// Mean of all draws.
    pub mean: Vec<f64>,
    /// Sample standard deviation of all draws (`ddof = 1`, as NumPyro's `print_summary`); NaN
    /// for a single draw.
    pub sd: Vec<f64>,
    /// Median of all draws.
    pub median: Vec<f64>,
    /// Lower end of the highest posterior density interval ([`hpdi`]).
    pub hpdi_low: Vec<f64>,
    /// Upper end of the highest posterior density interval.
    pub hpdi_high: Vec<f64>,
    /// Bulk effective sample size ([`ess_bulk`]).
    pub ess_bulk: Vec<f64>,
    /// Tail effective sample size ([`ess_tail`]).
    pub ess_tail: Vec<f64>,
    /// Rank-normalised split R-hat ([`split_rhat`]); NaN for a single chain, as ArviZ.
    pub r_hat: Vec<f64>,
}

pub use self::summary as posterior_summary;

/// Summarises each site of `samples`: with `group_by_chain` each tensor is
/// `[chains, draws, ...site shape]` (as MCMC returns them), otherwise `[draws, ...site shape]`, a
/// single chain (as `Predictive` and autoguides' `sample_posterior` return them; R-hat is then
/// NaN). `prob` is the mass of the highest posterior density interval, strictly between 0 and 1.
///
/// Errors ([`PyriteError::InvalidInput`]) on an invalid `prob`, a tensor with too few dimensions
/// or without draws.
///
/// ```
/// use indexmap::IndexMap;
/// use pyrite_mcmc::summary::summary;
/// use tch::Tensor;
///
/// let draws = Tensor::from_slice(&(0..100).map(f64::from).collect::<Vec<_>>());
/// let samples: IndexMap<String, Tensor> = [("x".to_string(), draws)].into_iter().collect();
/// let s = &summary(&samples, 0.9, false)?["x"];
/// assert!(s.shape.is_empty());
/// assert_eq!((s.mean[0], s.median[0]), (49.5, 49.5));
/// assert_eq!((s.hpdi_low[0], s.hpdi_high[0]), (0.0, 90.0));
/// assert!(s.r_hat[0].is_nan());
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
pub fn summary(samples: &IndexMap<String, Tensor>, prob: f64, group_by_chain: bool) -> Result<IndexMap<String, PosteriorSummary>> {
    if !(prob > 0.0 && prob < 1.0) {
        return Err(invalid("prob", format!("must lie strictly between 0 and 1, got {prob}")));
    }
    samples.iter().map(|(name, value)| Ok((name.clone(), summarise_site(name, value, prob, group_by_chain)?))).collect()
}

/// The summary table of NumPyro's `print_summary`: one row per element of each site (`name`,
/// `name[i]`, `name[i,j]`, ...), columns mean, std, median, the HPDI bounds labelled by their
/// percentiles (`5.5%` and `94.5%` for `prob = 0.89`), `n_eff` (the bulk effective sample size)
/// and `r_hat`, two decimals each. `prob` should be the one the summaries were computed with.
///
/// ```
/// use indexmap::IndexMap;
/// use pyrite_mcmc::summary::{format_summary, PosteriorSummary};
///
/// let one = |v: f64| vec![v];
/// let s = PosteriorSummary {
///     shape: vec![], mean: one(0.1), sd: one(1.0), median: one(0.12), hpdi_low: one(-1.5),
///     hpdi_high: one(1.6), ess_bulk: one(812.3), ess_tail: one(700.0), r_hat: one(1.001),
/// };
/// let table = format_summary(&[("mu".to_string(), s)].into_iter().collect(), 0.89);
/// let lines: Vec<&str> = table.lines().collect();
/// assert_eq!(lines, ["                mean       std    median      5.5%     94.5%     n_eff     r_hat",
///                    "        mu      0.10      1.00      0.12     -1.50      1.60    812.30      1.00"]);
/// ```
pub fn format_summary(summaries: &IndexMap<String, PosteriorSummary>, prob: f64) -> String {
    let (low, high) = percent_labels(prob);
    let width = summaries
        .iter()
        .map(|(name, s)| format!("{name}[{}]", s.shape.iter().map(|d| (d - 1).to_string()).collect::<Vec<_>>().join(",")).chars().count())
        .fold(10, usize::max);
    let mut out = format!("{:>width$}", "");
    for column in ["mean", "std", "median", &format!("{low}%"), &format!("{high}%"), "n_eff", "r_hat"] {
        out += &format!(" {column:>9}");
    }
    out.push('\n');
    for (name, s) in summaries {
        for i in 0..s.mean.len() {
            let row = if s.shape.is_empty() { name.clone() } else { format!("{name}[{}]", index_label(&s.shape, i)) };
            out += &format!("{row:>width$}");
            for column in [&s.mean, &s.sd, &s.median, &s.hpdi_low, &s.hpdi_high, &s.ess_bulk, &s.r_hat] {
                let v = column.get(i).copied().unwrap_or(f64::NAN);
                let cell = if v.is_nan() { "nan".to_string() } else { format!("{v:.2}") };
                out += &format!(" {cell:>9}");
            }
            out.push('\n');
        }
    }
    out
}

/// The summaries as a JSON object keyed by site; see [`PosteriorSummary::to_json`].
///
/// ```
/// use indexmap::IndexMap;
/// use pyrite_mcmc::summary::{summary, summary_to_json};
/// use tch::Tensor;
///
/// let samples: IndexMap<String, Tensor> =
///     [("x".to_string(), Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0]))].into_iter().collect();
/// let json = summary_to_json(&summary(&samples, 0.89, false)?, 0.89);
/// assert_eq!(json["x"]["median"], 3.0);
/// assert!(json["x"]["r_hat"].is_null());
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
pub fn summary_to_json(summaries: &IndexMap<String, PosteriorSummary>, prob: f64) -> Value {
    Value::Object(summaries.iter().map(|(name, s)| (name.clone(), s.to_json(prob))).collect())
}

impl PosteriorSummary {
    /// This summary as a JSON object with keys `mean`, `sd`, `median`, `hpdi_<low>`,
    /// `hpdi_<high>` (the interval's percentiles for `prob`, e.g. `hpdi_5.5` and `hpdi_94.5` for
    /// 0.89), `ess_bulk`, `ess_tail` and `r_hat`: numbers for a scalar site, (nested) lists of the
    /// site's shape otherwise; non-finite values are `null`.
    ///
    /// ```
    /// use pyrite_mcmc::summary::PosteriorSummary;
    ///
    /// let two = |a: f64, b: f64| vec![a, b];
    /// let s = PosteriorSummary {
    ///     shape: vec![2], mean: two(0.0, 1.0), sd: two(1.0, 1.0), median: two(0.0, 1.0),
    ///     hpdi_low: two(-1.6, -0.6), hpdi_high: two(1.6, 2.6), ess_bulk: two(900.0, 850.0),
    ///     ess_tail: two(800.0, 820.0), r_hat: two(1.0, f64::NAN),
    /// };
    /// let json = s.to_json(0.89);
    /// assert_eq!(json["hpdi_94.5"], serde_json::json!([1.6, 2.6]));
    /// assert_eq!(json["r_hat"], serde_json::json!([1.0, null]));
    /// ```
    pub fn to_json(&self, prob: f64) -> Value {
        let (low, high) = percent_labels(prob);
        let fields = [
            ("mean".to_string(), &self.mean),
            ("sd".to_string(), &self.sd),
            ("median".to_string(), &self.median),
            (format!("hpdi_{low}"), &self.hpdi_low),
            (format!("hpdi_{high}"), &self.hpdi_high),
            ("ess_bulk".to_string(), &self.ess_bulk),
            ("ess_tail".to_string(), &self.ess_tail),
            ("r_hat".to_string(), &self.r_hat),
        ];
        Value::Object(fields.into_iter().map(|(key, values)| (key, nest(&self.shape, values))).collect::<Map<_, _>>())
    }
}

fn invalid(what: &str, problem: String) -> PyriteError {
    PyriteError::InvalidInput { what: what.to_string(), problem }
}

/// NumPyro's labels of the HPDI bounds, `{:.1f}` of `50 (1 -+ prob)`.
fn percent_labels(prob: f64) -> (String, String) {
    (format!("{:.1}", 50.0 * (1.0 - prob)), format!("{:.1}", 50.0 * (1.0 + prob)))
}

/// `i,j,...`: the multi-index of the `flat`-th element (row-major) of an array of `shape`.
fn index_label(shape: &[i64], flat: usize) -> String {
    let mut rest = flat;
    let mut index: Vec<String> = shape
        .iter()
        .rev()
        .map(|&d| {
            let d = dim(d).max(1);
            let i = rest % d;
            rest /= d;
            i.to_string()
        })
        .collect();
    index.reverse();
    index.join(",")
}

/// A dimension as a length (a negative one, which no tensor has, as 0).
fn dim(d: i64) -> usize {
    usize::try_from(d).unwrap_or(0)
}

/// Row-major `values` as nested JSON lists of `shape` (a bare number for an empty shape; missing
/// values, in a hand-made summary, are `null`).
fn nest(shape: &[i64], values: &[f64]) -> Value {
    match shape.split_first() {
        None => values.first().map_or(Value::Null, |&v| Value::from(v)),
        Some((&d, inner)) => {
            let chunk = inner.iter().map(|&d| dim(d)).product::<usize>();
            let part = |i: usize| values.get(i * chunk..(i + 1) * chunk).unwrap_or(&[]);
            Value::Array((0..dim(d)).map(|i| nest(inner, part(i))).collect())
        }
    }
}

fn summarise_site(name: &str, value: &Tensor, prob: f64, group_by_chain: bool) -> Result<PosteriorSummary> {
    let size = value.size();
    let leading = if group_by_chain { 2 } else { 1 };
    if size.len() < leading {
        let expected = if group_by_chain { "[chains, draws, ...]" } else { "[draws, ...]" };
        return Err(invalid(name, format!("has shape {size:?}, expected {expected}")));
    }
    let (chains, draws) = if group_by_chain { (size[0], size[1]) } else { (1, size[0]) };
    if chains == 0 || draws == 0 {
        return Err(invalid(name, format!("has shape {size:?}, which holds no draws")));
    }
    let shape = size[leading..].to_vec();
    let data = Vec::<f64>::try_from(&value.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?.f_contiguous()?.f_reshape([-1])?)?;
    let (chains, draws) = (chains as usize, draws as usize);
    let elements = shape.iter().product::<i64>() as usize;
    let mut out = PosteriorSummary {
        shape,
        mean: Vec::with_capacity(elements),
        sd: Vec::with_capacity(elements),
        median: Vec::with_capacity(elements),
        hpdi_low: Vec::with_capacity(elements),
        hpdi_high: Vec::with_capacity(elements),
        ess_bulk: Vec::with_capacity(elements),
        ess_tail: Vec::with_capacity(elements),
        r_hat: Vec::with_capacity(elements),
    };
    for e in 0..elements {
        let per_chain: Vec<Vec<f64>> = (0..chains).map(|c| (0..draws).map(|d| data[(c * draws + d) * elements + e]).collect()).collect();
        let all = per_chain.concat();
        let n = all.len() as f64;
        let mean = all.iter().sum::<f64>() / n;
        let (low, high) = hpdi(&all, prob)?;
        out.mean.push(mean);
        out.sd.push((all.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt());
        out.median.push(median(&all)?);
        out.hpdi_low.push(low);
        out.hpdi_high.push(high);
        out.ess_bulk.push(ess_bulk(&per_chain)?);
        out.ess_tail.push(ess_tail(&per_chain)?);
        out.r_hat.push(split_rhat(&per_chain)?);
    }
    Ok(out)
}
