//! Convergence diagnostics of MCMC draws, on plain `f64` slices.
//!
//! Each function takes the chains of one scalar quantity (`&[Vec<f64>]`, `&[&[f64]]`, anything
//! whose items are `AsRef<[f64]>`), one chain per item, all of the same length:
//!
//! * [`split_rhat`]: the rank-normalised split R-hat of Vehtari et al. (2021), as ArviZ's
//!   `az.rhat(method="rank")`;
//! * [`ess_bulk`] and [`ess_tail`]: the bulk and tail effective sample sizes, as ArviZ's
//!   `az.ess(method="bulk")` and `az.ess(method="tail")`;
//! * [`autocovariance`]: the autocovariance of one chain at every lag, by FFT;
//! * [`hpdi`], [`quantile`] and [`median`] of a set of draws, as NumPyro's `hpdi` and numpy's
//!   default (linear) `quantile` and `median`.
//!
//! Where ArviZ returns NaN these return `Ok(NaN)`: fewer than 4 draws per chain, any NaN draw,
//! and, for R-hat, a single chain or draws that are all equal. Draws that are all equal have
//! effective sample sizes equal to the number of draws ArviZ keeps after splitting,
//! `2 * chains * (draws / 2)`. Inputs that are not chains at all (none, chains without draws,
//! chains of different lengths) are errors ([`PyriteError::InvalidInput`]).
//!
//! ```
//! use pyrite_mcmc::diagnostics::{ess_bulk, split_rhat};
//! let a: Vec<f64> = (0..100).map(|i| ((i * 37) % 101) as f64).collect();
//! let rhat = split_rhat(&[a.clone(), a.clone()])?;
//! assert!((rhat - 1.0).abs() < 0.05);
//! assert!(ess_bulk(&[a.clone(), a])? > 100.0);
//! # Ok::<(), pyrite_core::PyriteError>(())
//! ```

use std::cmp::Ordering;
use std::f64::consts::PI;

use pyrite_core::{PyriteError, Result};

/// The rank-normalised split R-hat of Vehtari et al. (2021), as ArviZ's `az.rhat(method="rank")`.
///
/// Each chain is split in halves (the middle draw of an odd-length chain is dropped); the result
/// is the larger of the classic R-hat of the rank-normalised halves (bulk) and that of the
/// rank-normalised draws folded about their median (tail). Values near 1 indicate mixing chains;
/// ArviZ's rule of thumb flags values above 1.01.
///
/// NaN, as ArviZ: fewer than 2 chains, fewer than 4 draws per chain, any NaN draw, or all draws
/// equal. Chains that are each constant but differ give `inf`.
///
/// ```
/// use pyrite_mcmc::diagnostics::split_rhat;
/// let a = [0.3, -1.2, 0.8, 2.1, -0.4, 0.0, 1.1, -0.7];
/// assert!((split_rhat(&[&a[..], &a[..]])? - 1.0).abs() < 0.1); // 0.919, as ArviZ
/// let shifted: Vec<f64> = a.iter().map(|x| x + 10.0).collect();
/// assert!(split_rhat(&[a.to_vec(), shifted])? > 1.5); // 1.710, as ArviZ
/// assert!(split_rhat(&[a.to_vec()])?.is_nan()); // one chain
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
pub fn split_rhat<C: AsRef<[f64]>>(chains: &[C]) -> Result<f64> {
    let draws = ChainSet::new(chains)?;
    if draws.chains < 2 || draws.len < 4 || draws.has_nan() {
        return Ok(f64::NAN);
    }
    let split = draws.split();
    let bulk = split.map_all(z_scale).rhat();
    let centre = median_of_sorted(&sorted(&split.values));
    let tail = split.map_all(|v| z_scale(&v.iter().map(|x| (x - centre).abs()).collect::<Vec<_>>())).rhat();
    // Python's `max(bulk, tail)`: a NaN bulk R-hat wins, a NaN tail R-hat loses.
    Ok(if tail > bulk { tail } else { bulk })
}

/// The bulk effective sample size, as ArviZ's `az.ess(method="bulk")`: the effective sample size
/// of the rank-normalised split chains.
///
/// NaN, as ArviZ: fewer than 4 draws per chain or any NaN draw. A single chain is fine.
///
/// ```
/// use pyrite_mcmc::diagnostics::ess_bulk;
/// // Alternating draws are anti-correlated: more effective draws than draws, up to ArviZ's cap.
/// let alternating: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { i as f64 } else { -(i as f64) }).collect();
/// assert!(ess_bulk(&[alternating])? > 100.0);
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
pub fn ess_bulk<C: AsRef<[f64]>>(chains: &[C]) -> Result<f64> {
    let draws = ChainSet::new(chains)?;
    if draws.len < 4 || draws.has_nan() {
        return Ok(f64::NAN);
    }
    Ok(draws.split().map_all(z_scale).ess())
}

/// The tail effective sample size, as ArviZ's `az.ess(method="tail")`: the smaller of the
/// effective sample sizes of the indicators `draw <= q05` and `draw <= q95` on split chains, where
/// `q05` and `q95` are the 5% and 95% quantiles of all the draws (R's type 7, as ArviZ).
///
/// NaN, as ArviZ: fewer than 4 draws per chain or any NaN draw.
///
/// ```
/// use pyrite_mcmc::diagnostics::ess_tail;
/// let draws: Vec<f64> = (0..200).map(|i| ((i * 73) % 199) as f64).collect();
/// let ess = ess_tail(&[&draws[..100], &draws[100..]])?;
/// assert!(ess > 50.0 && ess < 1000.0);
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
pub fn ess_tail<C: AsRef<[f64]>>(chains: &[C]) -> Result<f64> {
    let draws = ChainSet::new(chains)?;
    if draws.len < 4 || draws.has_nan() {
        return Ok(f64::NAN);
    }
    let all_sorted = sorted(&draws.values);
    let quantile_ess = |p: f64| {
        let q = type7_quantile(&all_sorted, p);
        draws.split().map_all(|v| v.iter().map(|&x| if x <= q { 1.0 } else { 0.0 }).collect()).ess()
    };
    let (low, high) = (quantile_ess(0.05), quantile_ess(0.95));
    // Python's `min(low, high)`.
    Ok(if high < low { high } else { low })
}

/// The autocovariance of one chain at lags `0..x.len()`, `sum_t (x[t] - m)(x[t + k] - m) / n`
/// with `m` the chain's mean (the biased estimate, as ArviZ's `autocov`), computed by a radix-2
/// FFT of the centred chain zero-padded to a power of two at least `2 n`.
///
/// ```
/// use pyrite_mcmc::diagnostics::autocovariance;
/// let acov = autocovariance(&[1.0, -1.0, 1.0, -1.0]);
/// let expected = [1.0, -0.75, 0.5, -0.25];
/// assert!(acov.iter().zip(expected).all(|(a, e)| (a - e).abs() < 1e-12));
/// ```
pub fn autocovariance(x: &[f64]) -> Vec<f64> {
    if x.is_empty() {
        return Vec::new();
    }
    autocovariance_with(&Fft::new(padded_len(x.len())), x)
}

/// The highest posterior density interval as NumPyro's `hpdi`: the shortest interval between two
/// sorted draws `floor(prob * n)` places apart (the first such interval on ties). `prob` must lie
/// strictly between 0 and 1; draws containing NaN give `(NaN, NaN)`.
///
/// ```
/// use pyrite_mcmc::diagnostics::hpdi;
/// let draws: Vec<f64> = (0..100).map(f64::from).collect();
/// assert_eq!(hpdi(&draws, 0.9)?, (0.0, 90.0));
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
pub fn hpdi(draws: &[f64], prob: f64) -> Result<(f64, f64)> {
    non_empty(draws)?;
    if !(prob > 0.0 && prob < 1.0) {
        return Err(invalid("prob", format!("must lie strictly between 0 and 1, got {prob}")));
    }
    if draws.iter().any(|x| x.is_nan()) {
        return Ok((f64::NAN, f64::NAN));
    }
    let x = sorted(draws);
    let width = (prob * x.len() as f64) as usize;
    let mut start = 0;
    for i in 1..x.len() - width {
        if x[i + width] - x[i] < x[start + width] - x[start] {
            start = i;
        }
    }
    Ok((x[start], x[start + width]))
}

/// The `q` quantile of the draws by numpy's default (linear) interpolation between order
/// statistics; `q` must lie in `[0, 1]`. Draws containing NaN give NaN, as numpy.
///
/// ```
/// use pyrite_mcmc::diagnostics::quantile;
/// assert_eq!(quantile(&[3.0, 1.0, 2.0, 4.0], 0.25)?, 1.75);
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
pub fn quantile(draws: &[f64], q: f64) -> Result<f64> {
    non_empty(draws)?;
    if !(0.0..=1.0).contains(&q) {
        return Err(invalid("q", format!("must lie in [0, 1], got {q}")));
    }
    if draws.iter().any(|x| x.is_nan()) {
        return Ok(f64::NAN);
    }
    let x = sorted(draws);
    let index = (x.len() - 1) as f64 * q;
    let below = index.floor() as usize;
    if below + 1 >= x.len() {
        return Ok(x[x.len() - 1]);
    }
    // numpy's `_lerp`: interpolate from the nearer end.
    let (a, b, t) = (x[below], x[below + 1], index - below as f64);
    let diff = b - a;
    Ok(if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t })
}

/// The median of the draws as numpy's `median` (the mean of the two middle draws for an even
/// count). Draws containing NaN give NaN.
///
/// ```
/// use pyrite_mcmc::diagnostics::median;
/// assert_eq!(median(&[4.0, 1.0, 3.0, 2.0])?, 2.5);
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
pub fn median(draws: &[f64]) -> Result<f64> {
    non_empty(draws)?;
    if draws.iter().any(|x| x.is_nan()) {
        return Ok(f64::NAN);
    }
    Ok(median_of_sorted(&sorted(draws)))
}

/// Draws of several chains of equal length, chain-major.
struct ChainSet {
    values: Vec<f64>,
    chains: usize,
    len: usize,
}

impl ChainSet {
    fn new<C: AsRef<[f64]>>(chains: &[C]) -> Result<Self> {
        let first = chains.first().ok_or_else(|| invalid("chains", "no chains given".into()))?.as_ref();
        let len = first.len();
        if len == 0 {
            return Err(invalid("chains", "the chains have no draws".into()));
        }
        let mut values = Vec::with_capacity(chains.len() * len);
        for (i, chain) in chains.iter().enumerate() {
            let chain = chain.as_ref();
            if chain.len() != len {
                return Err(invalid("chains", format!("chain {i} has {} draws but chain 0 has {len}", chain.len())));
            }
            values.extend_from_slice(chain);
        }
        Ok(ChainSet { values, chains: chains.len(), len })
    }

    fn has_nan(&self) -> bool {
        self.values.iter().any(|x| x.is_nan())
    }

    fn chain(&self, c: usize) -> &[f64] {
        &self.values[c * self.len..(c + 1) * self.len]
    }

    /// ArviZ's `_split_chains`: the first halves of all chains, then their last halves.
    fn split(&self) -> ChainSet {
        let half = self.len / 2;
        let mut values = Vec::with_capacity(2 * self.chains * half);
        for c in 0..self.chains {
            values.extend_from_slice(&self.chain(c)[..half]);
        }
        for c in 0..self.chains {
            values.extend_from_slice(&self.chain(c)[self.len - half..]);
        }
        ChainSet { values, chains: 2 * self.chains, len: half }
    }

    /// The same chains with all draws together transformed by `f` (which keeps their number).
    fn map_all(&self, f: impl FnOnce(&[f64]) -> Vec<f64>) -> ChainSet {
        ChainSet { values: f(&self.values), chains: self.chains, len: self.len }
    }

    fn chain_means(&self) -> Vec<f64> {
        (0..self.chains).map(|c| mean(self.chain(c))).collect()
    }

    /// The classic (non-split) R-hat of these chains, as ArviZ's `_rhat`.
    fn rhat(&self) -> f64 {
        let n = self.len as f64;
        let within = mean(&(0..self.chains).map(|c| variance(self.chain(c), 1.0)).collect::<Vec<_>>());
        let between = n * variance(&self.chain_means(), 1.0);
        (((between / within + n) - 1.0) / n).sqrt()
    }

    /// The effective sample size of these chains, as ArviZ's `_ess`: Geyer's initial positive
    /// sequence on the chain-averaged autocorrelations, made monotone, with the autocorrelation
    /// time bounded below by `1 / log10(draws)` (which caps the gain from anti-correlation).
    fn ess(&self) -> f64 {
        if self.has_nan() {
            return f64::NAN;
        }
        let (lo, hi) = self.values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        if hi - lo < 1e-15 {
            // numpy's float64 `resolution`; ArviZ counts constant draws as independent.
            return self.values.len() as f64;
        }
        let (chains, n) = (self.chains, self.len);
        let fft = Fft::new(padded_len(n));
        let acov: Vec<Vec<f64>> = (0..chains).map(|c| autocovariance_with(&fft, self.chain(c))).collect();
        let mean_acov = |lag: usize| mean(&acov.iter().map(|a| a[lag]).collect::<Vec<_>>());
        let nf = n as f64;
        let mean_var = mean_acov(0) * nf / (nf - 1.0);
        let mut var_plus = mean_var * (nf - 1.0) / nf;
        if chains > 1 {
            var_plus += variance(&self.chain_means(), 1.0);
        }
        let rho = |lag: usize| 1.0 - (mean_var - mean_acov(lag)) / var_plus;

        let mut rho_hat = vec![0.0; n];
        let mut rho_even = 1.0;
        let mut rho_odd = rho(1);
        rho_hat[0] = rho_even;
        rho_hat[1] = rho_odd;
        // Geyer's initial positive sequence: sums of adjacent pairs while they stay positive.
        let mut t = 1;
        while t + 3 < n && rho_even + rho_odd > 0.0 {
            rho_even = rho(t + 1);
            rho_odd = rho(t + 2);
            if rho_even + rho_odd >= 0.0 {
                rho_hat[t + 1] = rho_even;
                rho_hat[t + 2] = rho_odd;
            }
            t += 2;
        }
        // ArviZ's `max_t + 1`; the terms summed in full are `rho_hat[..last]`.
        let last = t - 1;
        if rho_even > 0.0 {
            rho_hat[last] = rho_even;
        }
        // Geyer's initial monotone sequence.
        let mut t = 1;
        while t + 3 <= last {
            if rho_hat[t + 1] + rho_hat[t + 2] > rho_hat[t - 1] + rho_hat[t] {
                rho_hat[t + 1] = (rho_hat[t - 1] + rho_hat[t]) / 2.0;
                rho_hat[t + 2] = rho_hat[t + 1];
            }
            t += 2;
        }
        if rho_hat.iter().any(|r| r.is_nan()) {
            return f64::NAN;
        }
        let total = (chains * n) as f64;
        let tau = -1.0 + 2.0 * rho_hat[..last].iter().sum::<f64>() + rho_hat[last];
        let bound = 1.0 / total.log10();
        total / if bound > tau { bound } else { tau }
    }
}

fn invalid(what: &str, problem: String) -> PyriteError {
    PyriteError::InvalidInput { what: what.to_string(), problem }
}

fn non_empty(draws: &[f64]) -> Result<()> {
    if draws.is_empty() {
        return Err(invalid("draws", "no draws given".into()));
    }
    Ok(())
}

/// A sorted copy of draws that contain no NaN.
fn sorted(x: &[f64]) -> Vec<f64> {
    let mut x = x.to_vec();
    x.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    x
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// numpy's `var` with `ddof` degrees of freedom removed.
fn variance(x: &[f64], ddof: f64) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() as f64 - ddof)
}

fn median_of_sorted(x: &[f64]) -> f64 {
    let n = x.len();
    if n % 2 == 1 {
        x[n / 2]
    } else {
        (x[n / 2 - 1] + x[n / 2]) / 2.0
    }
}

/// R's type 7 quantile of sorted draws written as scipy's `mquantiles(alphap=1, betap=1)`, which
/// ArviZ's tail ESS uses.
fn type7_quantile(x: &[f64], p: f64) -> f64 {
    let n = x.len();
    if n == 1 {
        return x[0];
    }
    let aleph = n as f64 * p + (1.0 - p);
    let k = aleph.clamp(1.0, (n - 1) as f64).floor();
    let gamma = (aleph - k).clamp(0.0, 1.0);
    let k = k as usize;
    (1.0 - gamma) * x[k - 1] + gamma * x[k]
}

/// Rank normalisation (ArviZ's `_z_scale`): average ranks of ties, Blom's offset `3/8`, then the
/// standard normal quantile.
fn z_scale(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| x[a].partial_cmp(&x[b]).unwrap_or(Ordering::Equal));
    let mut z = vec![0.0; n];
    let scale = n as f64 - 2.0 * 0.375 + 1.0;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && x[order[end]] == x[order[start]] {
            end += 1;
        }
        // Ranks `start + 1 ..= end` share their average.
        let rank = 0.5 * (start + 1 + end) as f64;
        let value = normal_quantile((rank - 0.375) / scale);
        for &i in &order[start..end] {
            z[i] = value;
        }
        start = end;
    }
    z
}

/// The standard normal quantile of `p` in `(0, 1)`, Wichura's algorithm AS 241 (PPND16),
/// accurate to about 1e-16 relative. The coefficients are the published ones, digits and all.
#[allow(clippy::excessive_precision)]
fn normal_quantile(p: f64) -> f64 {
    fn poly(c: &[f64; 8], r: f64) -> f64 {
        c.iter().rev().fold(0.0, |acc, &c| acc * r + c)
    }
    const A: [f64; 8] = [
        3.387_132_872_796_366_608,
        133.141_667_891_784_377_45,
        1_971.590_950_306_551_442_7,
        13_731.693_765_509_461_125,
        45_921.953_931_549_871_457,
        67_265.770_927_008_700_853,
        33_430.575_583_588_128_105,
        2_509.080_928_730_122_672_7,
    ];
    const B: [f64; 8] = [
        1.0,
        42.313_330_701_600_911_252,
        687.187_007_492_057_908_3,
        5_394.196_021_424_751_107_7,
        21_213.794_301_586_595_867,
        39_307.895_800_092_710_61,
        28_729.085_735_721_942_674,
        5_226.495_278_852_854_561,
    ];
    const C: [f64; 8] = [
        1.423_437_110_749_683_577_34,
        4.630_337_846_156_545_295_9,
        5.769_497_221_460_691_405_5,
        3.647_848_324_763_204_605_04,
        1.270_458_252_452_368_382_58,
        0.241_780_725_177_450_611_77,
        0.022_723_844_989_269_184_583_3,
        7.745_450_142_783_414_076_4e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.053_191_626_637_758_821_87,
        1.676_384_830_183_803_849_4,
        0.689_767_334_985_100_004_55,
        0.148_103_976_427_480_074_59,
        0.015_198_666_563_616_457_196_6,
        5.475_938_084_995_344_946e-4,
        1.050_750_071_644_416_843_24e-9,
    ];
    const E: [f64; 8] = [
        6.657_904_643_501_103_777_2,
        5.463_784_911_164_114_369_9,
        1.784_826_539_917_291_335_8,
        0.296_560_571_828_504_891_23,
        0.026_532_189_526_576_123_093,
        0.001_242_660_947_388_078_438_6,
        2.711_555_568_743_487_578_15e-5,
        2.010_334_399_292_288_132_65e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        0.599_832_206_555_887_937_69,
        0.136_929_880_922_735_805_31,
        0.014_875_361_290_850_614_852_5,
        7.868_691_311_456_132_591e-4,
        1.846_318_317_510_054_681_8e-5,
        1.421_511_758_316_445_888_7e-7,
        2.044_263_103_389_939_785_64e-15,
    ];
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * poly(&A, r) / poly(&B, r);
    }
    let r = (-(if q < 0.0 { p } else { 1.0 - p }).ln()).sqrt();
    let x = if r <= 5.0 {
        let r = r - 1.6;
        poly(&C, r) / poly(&D, r)
    } else {
        let r = r - 5.0;
        poly(&E, r) / poly(&F, r)
    };
    if q < 0.0 {
        -x
    } else {
        x
    }
}

/// The FFT length for the autocovariance of `n` draws: a power of two of at least `2 n`, so that
/// the circular correlation is the linear one.
fn padded_len(n: usize) -> usize {
    (2 * n).next_power_of_two()
}

/// [`autocovariance`] of a non-empty chain with an FFT of [`padded_len`] of its length.
fn autocovariance_with(fft: &Fft, x: &[f64]) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let mut re = vec![0.0; fft.len];
    for (r, v) in re.iter_mut().zip(x) {
        *r = v - mean;
    }
    let mut im = vec![0.0; fft.len];
    fft.transform(&mut re, &mut im, false);
    for (r, i) in re.iter_mut().zip(im.iter_mut()) {
        *r = *r * *r + *i * *i;
        *i = 0.0;
    }
    fft.transform(&mut re, &mut im, true);
    re.truncate(x.len());
    re.iter().map(|v| v / n).collect()
}

/// An iterative radix-2 FFT of one power-of-two length, with its twiddle factors
/// `exp(-2 pi i k / len)` computed once, each directly (not by repeated multiplication, which
/// loses accuracy).
struct Fft {
    len: usize,
    twiddles: Vec<(f64, f64)>,
}

impl Fft {
    fn new(len: usize) -> Self {
        let twiddles = (0..len / 2).map(|k| (-2.0 * PI * k as f64 / len as f64).sin_cos()).map(|(s, c)| (c, s)).collect();
        Fft { len, twiddles }
    }

    /// Transforms `re + i im` (of length `self.len`) in place; the inverse includes the `1 / len`.
    fn transform(&self, re: &mut [f64], im: &mut [f64], inverse: bool) {
        let n = self.len;
        let bits = n.trailing_zeros();
        if bits == 0 {
            return; // length 1: the identity
        }
        for i in 0..n {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let sign = if inverse { -1.0 } else { 1.0 };
        let mut width = 2;
        while width <= n {
            let stride = n / width;
            for block in (0..n).step_by(width) {
                for k in 0..width / 2 {
                    let (wr, wi) = self.twiddles[k * stride];
                    let wi = sign * wi;
                    let (a, b) = (block + k, block + k + width / 2);
                    let (br, bi) = (re[b] * wr - im[b] * wi, re[b] * wi + im[b] * wr);
                    re[b] = re[a] - br;
                    im[b] = im[a] - bi;
                    re[a] += br;
                    im[a] += bi;
                }
            }
            width *= 2;
        }
        if inverse {
            for (r, i) in re.iter_mut().zip(im.iter_mut()) {
                *r /= n as f64;
                *i /= n as f64;
            }
        }
    }
}
