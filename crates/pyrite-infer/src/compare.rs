//! Model comparison by expected log pointwise predictive density (elpd): WAIC, PSIS-LOO with
//! Pareto-k diagnostics (Vehtari, Gelman & Gabry 2017) and a comparison table with stacking or
//! pseudo-BMA weights, computed as ArviZ's `az.waic`, `az.loo` and `az.compare` do on the log
//! scale.
//!
//! The input is a [`LogLikMatrix`]: the log-likelihood of each observation under each posterior
//! draw, as [`log_likelihood`](crate::log_likelihood::log_likelihood) returns it for an observed
//! site.
//!
//! ```
//! use pyrite_infer::compare::{compare, loo, waic, LogLikMatrix, ModelWeights};
//! // 200 draws of the log-likelihood of 3 observations under two models.
//! let ll = |shift: f64| -> Vec<f64> {
//!     (0..200).flat_map(|d| (0..3).map(move |i| -1.0 - shift * (i as f64) + 0.1 * ((d * 7 + i) as f64).sin())).collect()
//! };
//! let good = LogLikMatrix::new(&ll(0.1), 200)?;
//! let poor = LogLikMatrix::new(&ll(0.5), 200)?;
//! let loo_good = loo(&good, 1.0)?;
//! assert!(loo_good.estimate.warning.is_none());
//! let w = waic(&good);
//! assert!((w.elpd - loo_good.estimate.elpd).abs() < 0.01);
//! let table = compare(&[("good", &loo_good.estimate), ("poor", &loo(&poor, 1.0)?.estimate)], ModelWeights::Stacking)?;
//! assert_eq!(table.rows[0].name, "good");
//! assert!(table.rows[1].elpd_diff > 0.0);
//! println!("{table}");
//! # Ok::<(), pyrite_core::PyriteError>(())
//! ```
//!
//! Only ArviZ's default `scale="log"` is offered (higher is better); the deviance scale is
//! `-2` times these numbers.

use std::fmt;

use pyrite_core::{PyriteError, Result};
use tch::{Device, Kind, Tensor};

use crate::psis::{logsumexp, smooth, tail_length};

fn invalid(what: &str, problem: String) -> PyriteError {
    PyriteError::InvalidInput { what: what.into(), problem }
}

/// Pointwise log-likelihoods: `draws × observations` finite numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLikMatrix {
    /// Observation-major: the draws of observation `i` are `values[i * draws..(i + 1) * draws]`.
    values: Vec<f64>,
    draws: usize,
}

impl LogLikMatrix {
    /// From a row-major `[draws, observations]` matrix (draw `d`, observation `i` at
    /// `values[d * observations + i]`); the number of observations is `values.len() / draws`.
    ///
    /// ```
    /// use pyrite_infer::compare::LogLikMatrix;
    /// let ll = LogLikMatrix::new(&[-1.0, -2.0, -1.5, -2.5], 2)?; // 2 draws, 2 observations
    /// assert_eq!((ll.draws(), ll.observations()), (2, 2));
    /// assert_eq!(ll.observation(1), &[-2.0, -2.5]);
    /// # Ok::<(), pyrite_core::PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PyriteError::InvalidInput`] for fewer than 2 draws, no observations, a length that is not
    /// a multiple of `draws`, or a value that is not finite (a draw under which an observation is
    /// impossible is not a posterior draw).
    pub fn new(values: &[f64], draws: usize) -> Result<LogLikMatrix> {
        if draws < 2 {
            return Err(invalid("log-likelihood", format!("needs at least 2 draws, got {draws}")));
        }
        let observations = values.len() / draws;
        if observations == 0 || observations * draws != values.len() {
            return Err(invalid("log-likelihood", format!("{} values do not make {draws} draws of one or more observations", values.len())));
        }
        if let Some(j) = values.iter().position(|v| !v.is_finite()) {
            return Err(invalid("log-likelihood", format!("draw {}, observation {} is {}", j / observations, j % observations, values[j])));
        }
        let values = (0..observations).flat_map(|i| (0..draws).map(move |d| values[d * observations + i])).collect();
        Ok(LogLikMatrix { values, draws })
    }

    /// From a tensor of shape `[draws, ...]` (any dtype, any device), its trailing dimensions
    /// flattened into observations in row-major order, as ArviZ stacks an observed variable.
    ///
    /// ```
    /// use pyrite_infer::compare::LogLikMatrix;
    /// use tch::{Kind, Tensor};
    /// let t = Tensor::zeros([100, 4, 5], (Kind::Float, tch::Device::Cpu)) - 1.0;
    /// let ll = LogLikMatrix::from_tensor(&t)?;
    /// assert_eq!((ll.draws(), ll.observations()), (100, 20));
    /// # Ok::<(), pyrite_core::PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`LogLikMatrix::new`], and for a tensor without a draw dimension.
    pub fn from_tensor(t: &Tensor) -> Result<LogLikMatrix> {
        let size = t.size();
        let Some(&draws) = size.first() else {
            return Err(invalid("log-likelihood", "a scalar tensor has no draw dimension".into()));
        };
        let values = Vec::<f64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]))?;
        LogLikMatrix::new(&values, draws as usize)
    }

    /// Number of draws.
    pub fn draws(&self) -> usize {
        self.draws
    }

    /// Number of observations.
    pub fn observations(&self) -> usize {
        self.values.len() / self.draws
    }

    /// The log-likelihood of observation `i` under each draw (panics when `i` is out of range,
    /// as slice indexing).
    pub fn observation(&self, i: usize) -> &[f64] {
        &self.values[i * self.draws..(i + 1) * self.draws]
    }

    /// `log(mean(exp(ll)))` over the draws of observation `i`: the log pointwise predictive
    /// density, as ArviZ's `_logsumexp(ll, b_inv=S)`.
    fn lppd(&self, i: usize) -> f64 {
        let x = self.observation(i);
        let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        x.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + (max - (self.draws as f64).ln())
    }
}

/// Which estimate of the elpd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// Pareto-smoothed importance sampling leave-one-out cross-validation.
    Loo,
    /// The widely applicable information criterion.
    Waic,
}

impl Criterion {
    /// `loo` or `waic`, as ArviZ names the columns (`elpd_loo`, `p_waic`).
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Loo => "loo",
            Criterion::Waic => "waic",
        }
    }
}

/// An estimate of the expected log pointwise predictive density, as ArviZ's `ELPDData` with
/// `pointwise=True` and `scale="log"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Elpd {
    /// LOO or WAIC.
    pub criterion: Criterion,
    /// The estimate: the sum of [`Elpd::pointwise`] (`elpd_loo` or `elpd_waic`).
    pub elpd: f64,
    /// Its standard error, `sqrt(n * var(pointwise))`.
    pub se: f64,
    /// The effective number of parameters (`p_loo` or `p_waic`).
    pub p: f64,
    /// Each observation's contribution (`loo_i` or `waic_i`).
    pub pointwise: Vec<f64>,
    /// Number of draws.
    pub draws: usize,
    /// Number of observations.
    pub observations: usize,
    /// ArviZ's warning, when it gives one: for LOO a Pareto `k` above [`Loo::good_k`]; for WAIC a
    /// posterior variance of an observation's log-likelihood above 0.4.
    pub warning: Option<String>,
}

impl Elpd {
    fn new(criterion: Criterion, pointwise: Vec<f64>, p: f64, draws: usize, warning: Option<String>) -> Elpd {
        let n = pointwise.len();
        Elpd { criterion, elpd: pointwise.iter().sum(), se: (n as f64 * variance(&pointwise)).sqrt(), p, pointwise, draws, observations: n, warning }
    }
}

/// The population variance (`ddof = 0`, numpy's default).
fn variance(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n
}

/// ArviZ's summary: the estimate and its standard error, the effective number of parameters, the
/// warning.
impl fmt::Display for Elpd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.criterion.name();
        let label = format!("elpd_{kind}");
        let w = label.len();
        writeln!(f, "Computed from {} posterior samples and {} observations log-likelihood matrix.\n", self.draws, self.observations)?;
        writeln!(f, "{:w$} Estimate       SE", "")?;
        writeln!(f, "{label} {:8.2}  {:7.2}", self.elpd, self.se)?;
        write!(f, "{:w$} {:8.2}        -", format!("p_{kind}"), self.p)?;
        if let Some(warning) = &self.warning {
            write!(f, "\n\nwarning: {warning}")?;
        }
        Ok(())
    }
}

/// The widely applicable information criterion (Watanabe 2010) as ArviZ's
/// `az.waic(..., pointwise=True)`: per observation `lppd_i - var_i`, where `lppd_i` is the log
/// of the mean likelihood over the draws and `var_i` the variance (`ddof = 0`) of the
/// log-likelihood; `p_waic` is the sum of the variances.
///
/// ```
/// use pyrite_infer::compare::{waic, LogLikMatrix};
/// // One observation, two draws with log-likelihoods -1 and -3: lppd = log((e^-1 + e^-3) / 2),
/// // variance 1.
/// let w = waic(&LogLikMatrix::new(&[-1.0, -3.0], 2)?);
/// let lppd = (((-1.0f64).exp() + (-3.0f64).exp()) / 2.0).ln();
/// assert!((w.elpd - (lppd - 1.0)).abs() < 1e-12);
/// assert_eq!(w.p, 1.0);
/// assert!(w.warning.is_some()); // a variance above 0.4
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
pub fn waic(ll: &LogLikMatrix) -> Elpd {
    let n = ll.observations();
    let vars: Vec<f64> = (0..n).map(|i| variance(ll.observation(i))).collect();
    let pointwise = (0..n).map(|i| ll.lppd(i) - vars[i]).collect();
    let warning = vars.iter().any(|&v| v > 0.4).then(|| {
        "For one or more samples the posterior variance of the log predictive densities exceeds 0.4. \
         This could be indication of WAIC starting to fail. See http://arxiv.org/abs/1507.04544 for details"
            .to_string()
    });
    Elpd::new(Criterion::Waic, pointwise, vars.iter().sum(), ll.draws(), warning)
}

/// A PSIS-LOO estimate with its Pareto-k diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Loo {
    /// `elpd_loo`, its standard error, `p_loo`, `loo_i` and the warning.
    pub estimate: Elpd,
    /// The fitted Pareto shape of each observation's importance ratios (`inf` where the tail is
    /// too short to fit, fewer than 5 draws in it).
    pub pareto_k: Vec<f64>,
    /// The threshold for a reliable `k`, ArviZ's `min(1 - 1 / log10(draws), 0.7)`.
    pub good_k: f64,
    /// The relative efficiency the tails were sized with.
    pub r_eff: f64,
}

impl Loo {
    /// The largest Pareto `k` (NaN when one is NaN).
    pub fn max_k(&self) -> f64 {
        self.pareto_k.iter().copied().fold(f64::NEG_INFINITY, |a, k| if k > a || k.is_nan() { k } else { a })
    }

    /// How many observations have `k` in ArviZ's three bins: `(-inf, good_k)`, `[good_k, 1)`
    /// and `[1, inf]` (as `np.histogram` counts them; a NaN `k` is in none).
    pub fn k_counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for &k in &self.pareto_k {
            let bin = if k < self.good_k {
                0
            } else if k < 1.0 {
                1
            } else if k >= 1.0 {
                2
            } else {
                continue;
            };
            counts[bin] += 1;
        }
        counts
    }
}

/// ArviZ's summary with the table of Pareto-k diagnostic values.
impl fmt::Display for Loo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}\n------\n", self.estimate)?;
        let counts = self.k_counts();
        let total = counts.iter().sum::<usize>().max(1) as f64;
        let w = counts.iter().map(|c| c.to_string().len()).max().unwrap_or(1).max(4);
        let pct = |c: usize| c as f64 / total * 100.0;
        writeln!(f, "Pareto k diagnostic values:")?;
        writeln!(f, "                         {:>w$} {:>6}", "Count", "Pct.")?;
        writeln!(f, "(-Inf, {:.2}]   (good)     {:w$} {:6.1}%", self.good_k, counts[0], pct(counts[0]))?;
        writeln!(f, "   ({:.2}, 1]   (bad)      {:w$} {:6.1}%", self.good_k, counts[1], pct(counts[1]))?;
        write!(f, "   (1, Inf)   (very bad) {:w$} {:6.1}%", counts[2], pct(counts[2]))
    }
}

/// Pareto-smoothed importance sampling leave-one-out cross-validation as ArviZ's
/// `az.loo(..., pointwise=True, reff=r_eff)`: for each observation the draws are weighted by
/// [`psislw`](crate::psis::psislw) of the negated log-likelihood, and `loo_i` is the log of the
/// weighted mean likelihood; `p_loo` is `lppd - elpd_loo`.
///
/// `r_eff` is the relative efficiency of the draws (effective sample size over the number of
/// draws; 1 for independent draws, as from a guide). ArviZ computes it, when the posterior has
/// several chains, as the mean over every posterior element of its mean-ESS divided by the draws;
/// it only sizes the tails that are smoothed.
///
/// ```
/// use pyrite_infer::compare::{loo, LogLikMatrix};
/// // 1000 draws, 2 observations; the second is an outlier under a few draws.
/// let values: Vec<f64> = (0..1000).flat_map(|d| {
///     let t = d as f64 / 1000.0;
///     [-1.0 - 0.2 * t, if d % 97 == 0 { -30.0 } else { -2.0 - t }]
/// }).collect();
/// let l = loo(&LogLikMatrix::new(&values, 1000)?, 1.0)?;
/// assert_eq!(l.pareto_k.len(), 2);
/// assert!(l.estimate.elpd < 0.0 && l.estimate.p > 0.0);
/// println!("{l}");
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
///
/// # Errors
///
/// [`PyriteError::InvalidInput`] for an `r_eff` that is not positive and finite.
pub fn loo(ll: &LogLikMatrix, r_eff: f64) -> Result<Loo> {
    if !(r_eff.is_finite() && r_eff > 0.0) {
        return Err(invalid("r_eff", format!("must be positive and finite, got {r_eff}")));
    }
    let (n, s) = (ll.observations(), ll.draws());
    let tail = tail_length(s, r_eff);
    let mut pointwise = Vec::with_capacity(n);
    let mut pareto_k = Vec::with_capacity(n);
    let mut lppd = 0.0;
    for i in 0..n {
        let x = ll.observation(i);
        let neg: Vec<f64> = x.iter().map(|v| -v).collect();
        let smoothed = smooth(&neg, tail);
        let weighted: Vec<f64> = smoothed.log_weights.iter().zip(x).map(|(w, v)| w + v).collect();
        pointwise.push(logsumexp(&weighted));
        pareto_k.push(smoothed.k);
        lppd += ll.lppd(i);
    }
    let good_k = (1.0 - 1.0 / (s as f64).log10()).min(0.7);
    let warning = pareto_k.iter().any(|&k| k > good_k).then(|| {
        format!(
            "Estimated shape parameter of Pareto distribution is greater than {good_k:.2} for one or more samples. \
             You should consider using a more robust model, this is because importance sampling is less likely to work \
             well if the marginal posterior and LOO posterior are very different. This is more likely to happen with a \
             non-robust model and highly influential observations."
        )
    });
    let elpd_loo: f64 = pointwise.iter().sum();
    Ok(Loo { estimate: Elpd::new(Criterion::Loo, pointwise, lppd - elpd_loo, s, warning), pareto_k, good_k, r_eff })
}

/// How [`compare`] weighs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelWeights {
    /// Stacking of predictive distributions (Yao, Vehtari, Simpson & Gelman 2018), ArviZ's
    /// default: the weights on the simplex that maximise `sum_i log sum_k w_k exp(elpd_ik)`.
    /// ArviZ finds them with SciPy's SLSQP from uniform weights, which stops within its own
    /// tolerance; these are solved to machine precision, so the two agree to about `1e-6`.
    Stacking,
    /// Pseudo-Bayesian model averaging, Akaike-type weights `exp(elpd_k - max elpd)` normalised
    /// (ArviZ's `"pseudo-BMA"`, without the Bayesian bootstrap).
    PseudoBma,
}

/// One model's row of a [`Comparison`], as a row of ArviZ's `az.compare` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRow {
    /// The model's name.
    pub name: String,
    /// 0 for the model with the highest elpd.
    pub rank: usize,
    /// Its elpd.
    pub elpd: f64,
    /// Its effective number of parameters.
    pub p: f64,
    /// The best model's elpd minus this one's (0 for the best).
    pub elpd_diff: f64,
    /// Its weight.
    pub weight: f64,
    /// The standard error of its elpd.
    pub se: f64,
    /// The standard error of the difference, `sqrt(n * var(best_i - this_i))` (0 for the best).
    pub dse: f64,
    /// Whether its estimate came with a warning.
    pub warning: bool,
}

/// Models ranked by elpd, as ArviZ's `az.compare` returns them (`scale="log"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The criterion of every estimate.
    pub criterion: Criterion,
    /// How the weights were computed.
    pub weights: ModelWeights,
    /// Best first.
    pub rows: Vec<ComparisonRow>,
}

/// Ranks models by their elpd estimates (all LOO or all WAIC, on the same observations), with the
/// differences to the best, their standard errors and the weights.
///
/// Models with equal elpd keep the order given.
///
/// ```
/// use pyrite_infer::compare::{compare, Criterion, Elpd, ModelWeights};
/// let est = |pointwise: Vec<f64>| Elpd {
///     criterion: Criterion::Loo, elpd: pointwise.iter().sum(), se: 0.0, p: 1.0,
///     observations: pointwise.len(), pointwise, draws: 100, warning: None,
/// };
/// let (a, b) = (est(vec![-1.0, -2.0]), est(vec![-1.5, -1.6]));
/// let table = compare(&[("a", &a), ("b", &b)], ModelWeights::PseudoBma)?;
/// assert_eq!(table.rows[0].name, "a"); // elpd -3.0 against -3.1
/// assert!((table.rows[1].elpd_diff - 0.1).abs() < 1e-12); // (-1 + 1.5) + (-2 + 1.6)
/// assert!((table.rows[0].weight - 1.0 / (1.0 + (-0.1f64).exp())).abs() < 1e-15);
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
///
/// # Errors
///
/// [`PyriteError::InvalidInput`] for no models, estimates of different criteria or of different
/// numbers of observations.
pub fn compare(models: &[(&str, &Elpd)], weights: ModelWeights) -> Result<Comparison> {
    let Some((_, first)) = models.first() else {
        return Err(invalid("models", "nothing to compare".into()));
    };
    for (name, e) in models {
        if e.criterion != first.criterion {
            return Err(invalid("models", format!("`{name}` has a {} estimate, the first a {} one", e.criterion.name(), first.criterion.name())));
        }
        if e.pointwise.len() != first.pointwise.len() {
            return Err(invalid("models", format!("`{name}` has {} observations, the first {}", e.pointwise.len(), first.pointwise.len())));
        }
    }
    let mut sorted: Vec<&(&str, &Elpd)> = models.iter().collect();
    sorted.sort_by(|a, b| b.1.elpd.total_cmp(&a.1.elpd));
    let w = match weights {
        ModelWeights::Stacking => stacking(&sorted.iter().map(|(_, e)| e.pointwise.as_slice()).collect::<Vec<_>>()),
        ModelWeights::PseudoBma => {
            let best = sorted[0].1.elpd;
            let z: Vec<f64> = sorted.iter().map(|(_, e)| (e.elpd - best).exp()).collect();
            let total: f64 = z.iter().sum();
            z.iter().map(|v| v / total).collect()
        }
    };
    let best = &sorted[0].1.pointwise;
    let rows = sorted
        .iter()
        .enumerate()
        .map(|(rank, (name, e))| {
            let diff: Vec<f64> = best.iter().zip(&e.pointwise).map(|(b, m)| b - m).collect();
            ComparisonRow {
                name: name.to_string(),
                rank,
                elpd: e.elpd,
                p: e.p,
                elpd_diff: diff.iter().sum(),
                weight: w[rank],
                se: e.se,
                dse: (diff.len() as f64 * variance(&diff)).sqrt(),
                warning: e.warning.is_some(),
            }
        })
        .collect();
    Ok(Comparison { criterion: first.criterion, weights, rows })
}

/// The table, best model first, with ArviZ's columns.
impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.criterion.name();
        let w = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(5);
        let weight = match self.weights {
            ModelWeights::Stacking => "weight (stacking)",
            ModelWeights::PseudoBma => "weight (pseudo-BMA)",
        };
        writeln!(
            f,
            "{:<w$} {:>4} {:>10} {:>8} {:>9} {:>19} {:>8} {:>8}  warning",
            "model",
            "rank",
            format!("elpd_{kind}"),
            format!("p_{kind}"),
            "elpd_diff",
            weight,
            "se",
            "dse"
        )?;
        for (i, r) in self.rows.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{:<w$} {:>4} {:>10.2} {:>8.2} {:>9.2} {:>19.3} {:>8.2} {:>8.2}  {}",
                r.name, r.rank, r.elpd, r.p, r.elpd_diff, r.weight, r.se, r.dse, r.warning
            )?;
        }
        Ok(())
    }
}

/// Stacking weights of models whose pointwise elpds are `lpd[k][i]`: the maximiser over the
/// simplex of the concave `sum_i log sum_k w_k exp(lpd[k][i])`. Multiplicative (EM) updates find
/// the support and come close; Newton steps on the support's face, with the active set updated
/// by the KKT conditions, finish to machine precision.
fn stacking(lpd: &[&[f64]]) -> Vec<f64> {
    let k = lpd.len();
    let n = lpd[0].len();
    if k == 1 {
        return vec![1.0];
    }
    // p[i][k] = exp(lpd[k][i] - max_k lpd[k][i]): rescaling a row moves the objective by a
    // constant, keeping the maximiser, and keeps the exponentials in range.
    let p: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let m = lpd.iter().map(|l| l[i]).fold(f64::NEG_INFINITY, f64::max);
            lpd.iter().map(|l| (l[i] - m).exp()).collect()
        })
        .collect();
    let mix = |w: &[f64], row: &[f64]| row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
    let objective = |w: &[f64]| -> f64 { p.iter().map(|row| mix(w, row).ln()).sum() };
    let mut w = vec![1.0 / k as f64; k];
    for _ in 0..2000 {
        let mut next = vec![0.0; k];
        for row in &p {
            let r = mix(&w, row);
            for j in 0..k {
                next[j] += w[j] * row[j] / r;
            }
        }
        let change = next.iter().zip(&w).map(|(a, b)| (a / n as f64 - b).abs()).fold(0.0, f64::max);
        w = next.into_iter().map(|v| v / n as f64).collect();
        if change < 1e-12 {
            break;
        }
    }
    let mut active: Vec<bool> = w.iter().map(|&v| v > 1e-9).collect();
    for j in 0..k {
        if !active[j] {
            w[j] = 0.0;
        }
    }
    for _ in 0..100 {
        // Gradient and Hessian of the objective (to maximise).
        let mut g = vec![0.0; k];
        let mut h = vec![vec![0.0; k]; k];
        for row in &p {
            let r = mix(&w, row);
            for a in 0..k {
                g[a] += row[a] / r;
                for b in 0..k {
                    h[a][b] -= row[a] * row[b] / (r * r);
                }
            }
        }
        let idx: Vec<usize> = (0..k).filter(|&j| active[j]).collect();
        let m = idx.len();
        // The KKT system of the Newton step on the face: [-H 1; 1' 0] [d; mu] = [g; 0].
        let mut a = vec![vec![0.0; m + 1]; m + 1];
        let mut rhs = vec![0.0; m + 1];
        for (r, &i) in idx.iter().enumerate() {
            for (c, &j) in idx.iter().enumerate() {
                a[r][c] = -h[i][j];
            }
            a[r][m] = 1.0;
            a[m][r] = 1.0;
            rhs[r] = g[i];
        }
        let Some(sol) = solve(a, rhs) else { break };
        let lambda = sol[m];
        let d = &sol[..m];
        if d.iter().all(|v| v.abs() < 1e-15) {
            // Stationary on the face: add a model whose weight would rise (gradient above the
            // face's multiplier), else optimal.
            match (0..k).filter(|&j| !active[j]).find(|&j| g[j] > lambda * (1.0 + 1e-12)) {
                Some(j) => active[j] = true,
                None => break,
            }
            continue;
        }
        // The longest step within the simplex (the weight that reaches zero first, if any, is
        // set to exactly zero), then backtracking until the objective does not decrease.
        let (mut step, mut blocking) = (1.0f64, None);
        for (r, &i) in idx.iter().enumerate() {
            if d[r] < 0.0 && -w[i] / d[r] < step {
                (step, blocking) = (-w[i] / d[r], Some(i));
            }
        }
        let longest = step;
        let f0 = objective(&w);
        let mut accepted = false;
        while step > 1e-12 {
            let mut trial = w.clone();
            for (r, &i) in idx.iter().enumerate() {
                trial[i] = if step == longest && blocking == Some(i) { 0.0 } else { (w[i] + step * d[r]).max(0.0) };
            }
            if objective(&trial) >= f0 {
                w = trial;
                accepted = true;
                break;
            }
            step /= 2.0;
        }
        if !accepted {
            break;
        }
        for &i in &idx {
            if w[i] <= 0.0 {
                active[i] = false;
            }
        }
    }
    let total: f64 = w.iter().sum();
    w.iter().map(|v| v / total).collect()
}

/// Solves the square system `a x = b` by Gaussian elimination with partial pivoting; `None` when
/// it is singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for c in 0..n {
        let pivot = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[pivot][c].abs() <= 1e-13 * scale {
            return None;
        }
        a.swap(c, pivot);
        b.swap(c, pivot);
        let pivot_row = a[c].clone();
        for r in c + 1..n {
            let f = a[r][c] / pivot_row[c];
            for (x, p) in a[r][c..].iter_mut().zip(&pivot_row[c..]) {
                *x -= f * p;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|j| a[r][j] * x[j]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacking_puts_all_weight_on_a_dominating_model() {
        let good = vec![-1.0; 50];
        let poor = vec![-2.0; 50];
        let w = stacking(&[&good, &poor]);
        assert_eq!(w, vec![1.0, 0.0]);
    }

    #[test]
    fn stacking_mixes_complementary_models() {
        // Each model predicts half the observations well: by symmetry the weights are equal.
        let a: Vec<f64> = (0..40).map(|i| if i % 2 == 0 { -0.5 } else { -3.0 }).collect();
        let b: Vec<f64> = (0..40).map(|i| if i % 2 == 0 { -3.0 } else { -0.5 }).collect();
        let w = stacking(&[&a, &b]);
        assert!((w[0] - 0.5).abs() < 1e-12 && (w[1] - 0.5).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn stacking_weights_satisfy_the_optimality_conditions() {
        // Three models: the gradient is equal on the support and not larger off it.
        let l: Vec<Vec<f64>> = (0..3).map(|k| (0..60).map(|i| -1.0 - ((i * (k + 2)) as f64 * 0.7).sin().abs() * (k as f64 + 1.0)).collect()).collect();
        let refs: Vec<&[f64]> = l.iter().map(|v| v.as_slice()).collect();
        let w = stacking(&refs);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-14);
        let g: Vec<f64> = (0..3).map(|k| (0..60).map(|i| l[k][i].exp() / (0..3).map(|j| w[j] * l[j][i].exp()).sum::<f64>()).sum()).collect();
        let on: Vec<f64> = (0..3).filter(|&k| w[k] > 0.0).map(|k| g[k]).collect();
        let lambda = on[0];
        assert!(on.iter().all(|v| (v - lambda).abs() < 1e-9 * lambda), "{g:?} {w:?}");
        assert!((0..3).filter(|&k| w[k] == 0.0).all(|k| g[k] <= lambda * (1.0 + 1e-9)), "{g:?} {w:?}");
    }

    #[test]
    fn solve_refuses_singular_systems() {
        assert_eq!(solve(vec![vec![2.0, 0.0], vec![0.0, 4.0]], vec![2.0, 2.0]), Some(vec![1.0, 0.5]));
        assert_eq!(solve(vec![vec![1.0, 1.0], vec![1.0, 1.0]], vec![1.0, 2.0]), None);
    }
}
