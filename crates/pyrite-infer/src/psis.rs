//! Pareto-smoothed importance sampling (PSIS; Vehtari, Simpson, Gelman, Yao & Gabry 2024), as
//! ArviZ's `az.psislw` computes it for one observation.
//!
//! The largest importance ratios are replaced by the expected order statistics of a generalized
//! Pareto distribution fitted to them (Zhang & Stephens' empirical Bayes estimate, with ArviZ's
//! weakly informative prior on the shape `k`), then truncated at the largest raw weight. The
//! fitted shape `k` is the diagnostic: below `min(1 - 1/log10(S), 0.7)` for `S` draws the
//! estimate is reliable.
//!
//! [`loo`](crate::compare::loo) uses it with the negated log-likelihood of each observation as
//! the log importance ratios.
//!
//! ```
//! use pyrite_infer::psis::psislw;
//! // Log importance ratios of 100 draws, one of them much larger than the rest.
//! let mut log_ratios: Vec<f64> = (0..100).map(|i| (i as f64 * 0.37).sin()).collect();
//! log_ratios[7] = 8.0;
//! let smoothed = psislw(&log_ratios, 1.0)?;
//! // Normalised: the weights sum to one.
//! let total: f64 = smoothed.log_weights.iter().map(|w| w.exp()).sum();
//! assert!((total - 1.0).abs() < 1e-12);
//! // The outlier is pulled in: its weight is no longer almost all of the mass.
//! assert!(smoothed.log_weights[7].exp() < 0.5);
//! assert!(smoothed.k > 0.7); // and the tail is flagged as too heavy
//! # Ok::<(), pyrite_core::PyriteError>(())
//! ```

use pyrite_core::{PyriteError, Result};

/// The smoothed weights of one observation and the fitted Pareto shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Smoothed {
    /// The smoothed, truncated and normalised log weights (`logsumexp` is 0), one per draw in
    /// the order given.
    pub log_weights: Vec<f64>,
    /// The fitted generalized Pareto shape `k` of the right tail; `inf` when the tail has 4 or
    /// fewer draws (too few to fit, as ArviZ), in which case the weights are not smoothed.
    pub k: f64,
}

/// Pareto-smoothed log importance weights of one observation, as ArviZ's
/// `az.psislw(log_ratios, reff=r_eff)` for a one-dimensional input (normalised).
///
/// The tail is the `ceil(min(S / 5, 3 sqrt(S / r_eff)))` largest of the `S` ratios (fewer when
/// ratios tie with the cut-off), where `r_eff` is the relative efficiency of the draws (effective
/// sample size over `S`; 1 for independent draws).
///
/// Where the tail holds equal ratios, they are smoothed in their input order (ArviZ's unstable
/// sort may order them otherwise: the multiset of weights, and so every sum of them, is the same).
///
/// ```
/// use pyrite_infer::psis::psislw;
/// // Equal ratios: nothing to smooth, uniform weights.
/// let s = psislw(&[0.5; 20], 1.0)?;
/// assert!(s.log_weights.iter().all(|w| (w - (1.0f64 / 20.0).ln()).abs() < 1e-12));
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
///
/// # Errors
///
/// [`PyriteError::InvalidInput`] for fewer than 2 ratios, a ratio that is NaN or `+inf`, ratios
/// that are all `-inf`, or an `r_eff` that is not positive and finite.
pub fn psislw(log_ratios: &[f64], r_eff: f64) -> Result<Smoothed> {
    let invalid = |what: &str, problem: String| PyriteError::InvalidInput { what: what.into(), problem };
    if log_ratios.len() < 2 {
        return Err(invalid("log ratios", format!("PSIS needs at least 2 draws, got {}", log_ratios.len())));
    }
    if let Some(i) = log_ratios.iter().position(|x| x.is_nan() || *x == f64::INFINITY) {
        return Err(invalid("log ratios", format!("draw {i} is {}", log_ratios[i])));
    }
    if log_ratios.iter().all(|x| *x == f64::NEG_INFINITY) {
        return Err(invalid("log ratios", "every ratio is -inf (every weight is zero)".into()));
    }
    if !(r_eff.is_finite() && r_eff > 0.0) {
        return Err(invalid("r_eff", format!("must be positive and finite, got {r_eff}")));
    }
    Ok(smooth(log_ratios, tail_length(log_ratios.len(), r_eff)))
}

/// ArviZ's `ceil(min(S / 5, 3 sqrt(S / r_eff)))`: the number of draws in the tail (before ties).
pub(crate) fn tail_length(draws: usize, r_eff: f64) -> usize {
    let s = draws as f64;
    (s / 5.0).min(3.0 * (s / r_eff).sqrt()).ceil() as usize
}

/// ArviZ's `_psislw` with `normalize=True`, for `tail` from [`tail_length`] (`tail < len`).
pub(crate) fn smooth(log_ratios: &[f64], tail: usize) -> Smoothed {
    let max = log_ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut x: Vec<f64> = log_ratios.iter().map(|v| v - max).collect();
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    // The cut-off is the value just below the tail (`x[argsort(x)[-tail - 1]]`), at least the
    // log of the smallest positive normal number.
    let cutoff = x[order[x.len() - tail - 1]].max(f64::MIN_POSITIVE.ln());
    let exp_cutoff = cutoff.exp();
    // The tail's draws in increasing order of their ratio.
    let tail_idx: Vec<usize> = order.iter().copied().filter(|&i| x[i] > cutoff).collect();
    let k = if tail_idx.len() <= 4 {
        f64::INFINITY
    } else {
        let exceedances: Vec<f64> = tail_idx.iter().map(|&i| x[i].exp() - exp_cutoff).collect();
        let (k, sigma) = gpdfit(&exceedances);
        if k.is_finite() {
            let n = tail_idx.len() as f64;
            for (j, &i) in tail_idx.iter().enumerate() {
                let p = (0.5 + j as f64) / n;
                x[i] = (gpinv(p, k, sigma) + exp_cutoff).ln();
            }
            // Truncated at the largest raw weight, 0 after the shift.
            for v in x.iter_mut().filter(|v| **v > 0.0) {
                *v = 0.0;
            }
        }
        k
    };
    let total = logsumexp(&x);
    x.iter_mut().for_each(|v| *v -= total);
    Smoothed { log_weights: x, k }
}

/// `log(sum(exp(x)))`, shifted by the maximum as ArviZ's `_logsumexp`.
pub(crate) fn logsumexp(x: &[f64]) -> f64 {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    x.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max
}

/// Zhang & Stephens' (2009) empirical Bayes estimate of the generalized Pareto shape `k` and scale
/// `sigma` of sorted (increasing) positive exceedances, with the prior ArviZ's `_gpdfit` adds to
/// `k` (10 pseudo-observations at 0.5). Needs at least 5 values.
pub(crate) fn gpdfit(sorted: &[f64]) -> (f64, f64) {
    const PRIOR_BS: f64 = 3.0;
    const PRIOR_K: f64 = 10.0;
    let n = sorted.len();
    let nf = n as f64;
    let m_est = 30 + nf.sqrt() as usize;
    // Python's `int(n / 4 + 0.5) - 1`: the first quartile.
    let quartile = sorted[(nf / 4.0 + 0.5) as usize - 1];
    let last = sorted[n - 1];
    let b: Vec<f64> = (1..=m_est).map(|j| (1.0 - (m_est as f64 / (j as f64 - 0.5)).sqrt()) / (PRIOR_BS * quartile) + 1.0 / last).collect();
    let mean_log1p = |b: f64| sorted.iter().map(|&x| (-b * x).ln_1p()).sum::<f64>() / nf;
    let len_scale: Vec<f64> = b
        .iter()
        .map(|&bj| {
            let kj = mean_log1p(bj);
            nf * ((-(bj / kj)).ln() - kj - 1.0)
        })
        .collect();
    let weights: Vec<f64> = len_scale.iter().map(|li| 1.0 / len_scale.iter().map(|lj| (lj - li).exp()).sum::<f64>()).collect();
    // Negligible weights are dropped before normalising.
    let kept: Vec<(f64, f64)> = b.iter().zip(&weights).filter(|(_, &w)| w >= 10.0 * f64::EPSILON).map(|(&b, &w)| (b, w)).collect();
    let total: f64 = kept.iter().map(|(_, w)| w).sum();
    let b_post: f64 = kept.iter().map(|(b, w)| b * (w / total)).sum();
    let k = mean_log1p(b_post);
    let sigma = -k / b_post;
    ((nf * k + PRIOR_K * 0.5) / (nf + PRIOR_K), sigma)
}

/// The generalized Pareto quantile function at `p` in (0, 1) (ArviZ's `_gpinv`): NaN for a
/// scale that is not positive.
fn gpinv(p: f64, k: f64, sigma: f64) -> f64 {
    if sigma <= 0.0 {
        return f64::NAN;
    }
    let x = if k.abs() < f64::EPSILON { -(-p).ln_1p() } else { (-k * (-p).ln_1p()).exp_m1() / k };
    x * sigma
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws from a generalized Pareto distribution with shape `k` and scale 1, by inversion of a
    /// fixed low-discrepancy sequence (so the test needs no random generator).
    fn gpd_draws(n: usize, k: f64) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n).map(|i| gpinv((i as f64 + 0.5) / n as f64, k, 1.0)).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn gpdfit_recovers_the_shape_of_pareto_draws() {
        for k in [0.2, 0.5, 0.9] {
            let (k_hat, sigma) = gpdfit(&gpd_draws(4000, k));
            // The prior pulls k towards 0.5 by 10 pseudo-observations in 4000: negligible.
            assert!((k_hat - k).abs() < 0.03, "k = {k}: estimated {k_hat}");
            assert!((sigma - 1.0).abs() < 0.05, "k = {k}: sigma {sigma}");
        }
    }

    #[test]
    fn gpinv_is_the_quantile_function() {
        // F(x) = 1 - (1 + k x / sigma)^(-1/k); at k = 0 the exponential.
        let (k, sigma, x): (f64, f64, f64) = (0.4, 2.0, 3.0);
        let p = 1.0 - (1.0 + k * x / sigma).powf(-1.0 / k);
        assert!((gpinv(p, k, sigma) - x).abs() < 1e-12);
        assert!((gpinv(1.0 - (-1.5f64).exp(), 0.0, 1.0) - 1.5).abs() < 1e-12);
        assert!(gpinv(0.5, 0.3, 0.0).is_nan());
    }

    #[test]
    fn tail_length_is_arviz_cutoff() {
        // min(S / 5, 3 sqrt(S / r_eff)), rounded up.
        assert_eq!(tail_length(100, 1.0), 20);
        assert_eq!(tail_length(4000, 1.0), 190);
        assert_eq!(tail_length(4000, 0.5), 269);
        assert_eq!(tail_length(2, 1.0), 1);
    }

    #[test]
    fn short_tails_are_not_smoothed() {
        // 20 draws: a tail of 4, too short to fit; the weights are only normalised.
        let x: Vec<f64> = (0..20).map(|i| i as f64 / 10.0).collect();
        let s = psislw(&x, 1.0).unwrap();
        assert_eq!(s.k, f64::INFINITY);
        let total = logsumexp(&x);
        for (w, v) in s.log_weights.iter().zip(&x) {
            assert!((w - (v - total)).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(psislw(&[1.0], 1.0).is_err());
        assert!(psislw(&[1.0, f64::NAN, 0.0], 1.0).is_err());
        assert!(psislw(&[1.0, 2.0, 3.0], 0.0).is_err());
        assert!(psislw(&[f64::NEG_INFINITY; 3], 1.0).is_err());
        assert!(psislw(&[1.0, 2.0, f64::NEG_INFINITY], 1.0).is_ok());
    }
}
