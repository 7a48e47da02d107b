//! Warm-up adaptation: dual-averaging step size (Hoffman & Gelman 2014), Welford estimators of
//! the posterior (co)variance for the mass matrix, Stan's windowed schedule (nutpie's for the
//! low-rank metric: `continuous_adaptation`), and the "reasonable initial step size" heuristic.

use std::ops::Range;

use pyrite_core::PyriteError;
use rand::Rng;

use crate::continuous_adaptation::ContinuousLowRank;
use crate::integrator::{leapfrog, DenseMass, MassMatrix, PhasePoint};
use crate::potential::Potential;
use crate::settings::Metric;

/// Largest `|log step size|` the adaptation hands out, so the step size stays a finite positive
/// number whatever the acceptance history.
const MAX_ABS_LOG_STEP: f64 = 690.0;

/// Dual averaging of the log step size towards a target acceptance probability (Hoffman & Gelman
/// 2014, Algorithm 5), with NumPyro's constants `gamma = 0.05`, `t0 = 10`, `kappa = 0.75` and the
/// shrinkage point `mu = ln(10 eps0)`.
///
/// ```
/// use pyrite_mcmc::adapt::DualAveraging;
/// let mut da = DualAveraging::new(1.0, 0.8);
/// let after_low = da.update(0.1);
/// da.restart(1.0);
/// let after_high = da.update(1.0);
/// // Acceptance below target pulls the step size down, above target pushes it up.
/// assert!(after_low < after_high);
/// assert!(da.final_step_size() > 0.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DualAveraging {
    target_accept: f64,
    mu: f64,
    t: usize,
    grad_avg: f64,
    log_step: f64,
    log_step_avg: f64,
}

impl DualAveraging {
    const GAMMA: f64 = 0.05;
    const T0: f64 = 10.0;
    const KAPPA: f64 = 0.75;

    /// Starts adaptation from `step_size` towards an average acceptance of `target_accept`.
    pub fn new(step_size: f64, target_accept: f64) -> Self {
        let mut da = DualAveraging { target_accept, mu: 0.0, t: 0, grad_avg: 0.0, log_step: 0.0, log_step_avg: 0.0 };
        da.restart(step_size);
        da
    }

    /// Forgets the history and starts again from `step_size` (`mu = ln(10 step_size)`).
    pub fn restart(&mut self, step_size: f64) {
        self.log_step = clamp_log(step_size.ln());
        self.mu = (10.0 * step_size).ln();
        self.t = 0;
        self.grad_avg = 0.0;
        self.log_step_avg = self.log_step;
    }

    /// Feeds the acceptance statistic of one transition (a non-number counts as 0) and returns the
    /// step size for the next one.
    pub fn update(&mut self, accept_prob: f64) -> f64 {
        let accept = if accept_prob.is_nan() { 0.0 } else { accept_prob.clamp(0.0, 1.0) };
        self.t += 1;
        let t = self.t as f64;
        let w = 1.0 / (t + Self::T0);
        self.grad_avg = (1.0 - w) * self.grad_avg + w * (self.target_accept - accept);
        self.log_step = clamp_log(self.mu - t.sqrt() / Self::GAMMA * self.grad_avg);
        let eta = t.powf(-Self::KAPPA);
        self.log_step_avg = eta * self.log_step + (1.0 - eta) * self.log_step_avg;
        self.log_step.exp()
    }

    /// The averaged step size `exp(log_eps_bar)` used once warm-up ends (the starting step size
    /// before any update).
    pub fn final_step_size(&self) -> f64 {
        self.log_step_avg.exp()
    }
}

fn clamp_log(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-MAX_ABS_LOG_STEP, MAX_ABS_LOG_STEP)
    }
}

/// Welford's running mean and variance of each coordinate, for a diagonal mass matrix.
///
/// ```
/// use pyrite_mcmc::adapt::WelfordVariance;
/// let mut w = WelfordVariance::new(1);
/// for x in [1.0, 2.0, 3.0, 4.0] {
///     w.add(&[x]);
/// }
/// assert_eq!(w.count(), 4);
/// assert!((w.variance().unwrap()[0] - 5.0 / 3.0).abs() < 1e-12);
/// // Stan's regularisation: (n / (n + 5)) var + 1e-3 (5 / (n + 5)).
/// let reg = w.regularized().unwrap()[0];
/// assert!((reg - (4.0 / 9.0 * 5.0 / 3.0 + 1e-3 * 5.0 / 9.0)).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WelfordVariance {
    n: usize,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl WelfordVariance {
    /// An empty estimator over `dim` coordinates.
    pub fn new(dim: usize) -> Self {
        WelfordVariance { n: 0, mean: vec![0.0; dim], m2: vec![0.0; dim] }
    }

    /// Adds one draw.
    pub fn add(&mut self, x: &[f64]) {
        self.n += 1;
        let n = self.n as f64;
        for ((m, s), &xi) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(x) {
            let delta = xi - *m;
            *m += delta / n;
            *s += delta * (xi - *m);
        }
    }

    /// The number of draws added since the last reset.
    pub fn count(&self) -> usize {
        self.n
    }

    /// The sample variances (denominator `n - 1`), or `None` with fewer than two draws.
    pub fn variance(&self) -> Option<Vec<f64>> {
        (self.n >= 2).then(|| self.m2.iter().map(|s| s / (self.n - 1) as f64).collect())
    }

    /// Stan's regularised variances `(n/(n+5)) var + 1e-3 * 5/(n+5)`, or `None` with fewer than
    /// two draws.
    pub fn regularized(&self) -> Option<Vec<f64>> {
        let (shrink, floor) = regularization(self.n);
        self.variance().map(|v| v.into_iter().map(|x| shrink * x + floor).collect())
    }

    /// Forgets all draws.
    pub fn reset(&mut self) {
        self.n = 0;
        self.mean.fill(0.0);
        self.m2.fill(0.0);
    }
}

/// Welford's running mean and covariance matrix, for a dense mass matrix.
///
/// ```
/// use pyrite_mcmc::adapt::WelfordCovariance;
/// let mut w = WelfordCovariance::new(2);
/// for x in [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]] {
///     w.add(&x);
/// }
/// // row-major: var(x0) = 1, cov = 2, var(x1) = 4
/// assert_eq!(w.covariance().unwrap(), vec![1.0, 2.0, 2.0, 4.0]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WelfordCovariance {
    n: usize,
    mean: Vec<f64>,
    delta: Vec<f64>,
    m2: Vec<f64>,
}

impl WelfordCovariance {
    /// An empty estimator over `dim` coordinates.
    pub fn new(dim: usize) -> Self {
        WelfordCovariance { n: 0, mean: vec![0.0; dim], delta: vec![0.0; dim], m2: vec![0.0; dim * dim] }
    }

    /// Adds one draw.
    pub fn add(&mut self, x: &[f64]) {
        self.n += 1;
        let n = self.n as f64;
        for ((d, m), &xi) in self.delta.iter_mut().zip(self.mean.iter_mut()).zip(x) {
            *d = xi - *m;
            *m += *d / n;
        }
        let dim = self.mean.len();
        for (i, row) in self.m2.chunks_exact_mut(dim).enumerate() {
            // delta_i * (x_j - new mean_j)
            for ((s, &xj), &mj) in row.iter_mut().zip(x).zip(&self.mean) {
                *s += self.delta[i] * (xj - mj);
            }
        }
    }

    /// The number of draws added since the last reset.
    pub fn count(&self) -> usize {
        self.n
    }

    /// The sample covariance (denominator `n - 1`), row-major, or `None` with fewer than two
    /// draws.
    pub fn covariance(&self) -> Option<Vec<f64>> {
        (self.n >= 2).then(|| self.m2.iter().map(|s| s / (self.n - 1) as f64).collect())
    }

    /// Stan's regularised covariance `(n/(n+5)) cov + 1e-3 * 5/(n+5) I`, or `None` with fewer
    /// than two draws.
    pub fn regularized(&self) -> Option<Vec<f64>> {
        let (shrink, floor) = regularization(self.n);
        let dim = self.mean.len();
        self.covariance().map(|mut c| {
            c.iter_mut().for_each(|x| *x *= shrink);
            for i in 0..dim {
                c[i * dim + i] += floor;
            }
            c
        })
    }

    /// Forgets all draws.
    pub fn reset(&mut self) {
        self.n = 0;
        self.mean.fill(0.0);
        self.m2.fill(0.0);
    }
}

/// Stan's shrinkage `(n/(n+5), 1e-3 * 5/(n+5))` of an estimate from `n` draws.
fn regularization(n: usize) -> (f64, f64) {
    let n = n as f64;
    (n / (n + 5.0), 1e-3 * 5.0 / (n + 5.0))
}

/// Stan's warm-up schedule: an initial fast interval (step size only), slow windows in which the
/// mass matrix is estimated (the first of `25` iterations, each next one twice as long, the last
/// one stretched to the end of the slow phase), and a final fast interval. Defaults are
/// `75 / 25 / 50`; when warm-up is shorter than `150` the three phases take `15% / 75% / 10%`, and
/// below `20` iterations there are no slow windows at all (step size only).
///
/// ```
/// use pyrite_mcmc::adapt::WarmupSchedule;
/// let s = WarmupSchedule::new(1000);
/// assert_eq!(s.slow_windows(), &[75..100, 100..150, 150..250, 250..450, 450..950]);
/// assert!(s.ends_slow_window(99) && !s.ends_slow_window(100));
/// assert_eq!(WarmupSchedule::new(100).slow_windows(), &[15..90]);
/// assert!(WarmupSchedule::new(19).slow_windows().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupSchedule {
    windows: Vec<Range<usize>>,
}

impl WarmupSchedule {
    const INIT_BUFFER: usize = 75;
    const BASE_WINDOW: usize = 25;
    const TERM_BUFFER: usize = 50;
    const MIN_WARMUP: usize = 20;

    /// The schedule of `num_warmup` warm-up iterations.
    pub fn new(num_warmup: usize) -> Self {
        if num_warmup < Self::MIN_WARMUP {
            return WarmupSchedule { windows: Vec::new() };
        }
        let (init, term, base) = if Self::INIT_BUFFER + Self::BASE_WINDOW + Self::TERM_BUFFER > num_warmup {
            let init = (0.15 * num_warmup as f64) as usize;
            let term = (0.10 * num_warmup as f64) as usize;
            (init, term, num_warmup - init - term)
        } else {
            (Self::INIT_BUFFER, Self::TERM_BUFFER, Self::BASE_WINDOW)
        };
        let slow_end = num_warmup - term;
        let mut windows = Vec::new();
        let (mut start, mut size) = (init, base);
        let mut end = start + size;
        loop {
            windows.push(start..end);
            if end >= slow_end {
                break;
            }
            start = end;
            size *= 2;
            end = start + size;
            // Stretch this window to the end of the slow phase when the next one would not fit.
            if end + 2 * size > slow_end {
                end = slow_end;
            }
        }
        WarmupSchedule { windows }
    }

    /// The slow windows, as ranges of warm-up iteration indices.
    pub fn slow_windows(&self) -> &[Range<usize>] {
        &self.windows
    }

    /// Whether iteration `i` (counted from 0) lies in a slow window.
    pub fn in_slow_window(&self, i: usize) -> bool {
        self.windows.iter().any(|w| w.contains(&i))
    }

    /// Whether iteration `i` is the last of a slow window.
    pub fn ends_slow_window(&self, i: usize) -> bool {
        self.windows.iter().any(|w| w.end == i + 1)
    }
}

/// Acceptance probability that `find_reasonable_step_size` brackets (Hoffman & Gelman 2014,
/// Algorithm 4).
const REASONABLE_ACCEPT: f64 = 0.5;
/// Most doublings or halvings `find_reasonable_step_size` tries (a factor of `2^100` either way).
const MAX_STEP_SEARCH: usize = 100;

/// A step size at which one leapfrog step from `point` has an acceptance probability near `0.5`:
/// starting from a positive `step_size`, doubles while `exp(-dH)` stays above `0.5` or halves
/// while it stays below (a non-finite energy counts as below), with a fresh momentum each try,
/// and stops at the first crossing or after 100 tries. `point` needs its position, gradient and
/// potential energy; it is not changed. (NumPyro and Stan bracket 0.8 instead of Hoffman &
/// Gelman's 0.5; either only seeds dual averaging.)
///
/// ```
/// use pyrite_mcmc::adapt::find_reasonable_step_size;
/// use pyrite_mcmc::integrator::{MassMatrix, PhasePoint};
/// use pyrite_mcmc::potential::FnPotential;
/// use rand::{rngs::StdRng, SeedableRng};
/// // A narrow normal (sd 0.01) needs a small step.
/// let mut u = FnPotential::new(1, |z: &[f64], g: &mut [f64]| {
///     g[0] = z[0] / 1e-4;
///     Ok(0.5 * z[0] * z[0] / 1e-4)
/// });
/// let x = PhasePoint::new(1);
/// let mut rng = StdRng::seed_from_u64(0);
/// let eps = find_reasonable_step_size(&mut u, &MassMatrix::identity(1, false), &x, 1.0, &mut rng)
///     .unwrap();
/// assert!(eps < 0.1 && eps > 1e-4);
/// ```
pub fn find_reasonable_step_size<R: Rng + ?Sized>(
    potential: &mut dyn Potential,
    mass: &MassMatrix,
    point: &PhasePoint,
    step_size: f64,
    rng: &mut R,
) -> Result<f64, PyriteError> {
    let dim = point.z.len();
    let mut trial = PhasePoint::new(dim);
    let mut velocity = vec![0.0; dim];
    let threshold = REASONABLE_ACCEPT.ln();
    let mut step_size = step_size;
    let mut direction = 0.0;
    for _ in 0..MAX_STEP_SEARCH {
        trial.copy_from(point);
        mass.sample_momentum(rng, &mut trial.p);
        mass.velocity(&trial.p, &mut velocity);
        let h0 = trial.potential_energy + mass.kinetic_energy(&trial.p, &velocity);
        leapfrog(potential, mass, step_size, &mut trial, &mut velocity)?;
        mass.velocity(&trial.p, &mut velocity);
        let h = trial.potential_energy + mass.kinetic_energy(&trial.p, &velocity);
        // NaN compares false: a diverging step counts as a low acceptance.
        let new_direction = if h0 - h > threshold { 1.0 } else { -1.0 };
        if direction != 0.0 && new_direction != direction {
            break;
        }
        direction = new_direction;
        let next = step_size * 2f64.powf(direction);
        if !(next.is_finite() && next > 0.0) {
            break;
        }
        step_size = next;
    }
    Ok(step_size)
}

/// The mass-matrix estimator of the slow windows (the low-rank metric's is
/// [`ContinuousLowRank`]).
#[derive(Debug, Clone)]
enum MassEstimator {
    Diagonal(WelfordVariance),
    Dense(WelfordCovariance),
}

impl MassEstimator {
    fn add(&mut self, point: &PhasePoint) {
        match self {
            MassEstimator::Diagonal(w) => w.add(&point.z),
            MassEstimator::Dense(w) => w.add(&point.z),
        }
    }

    /// The regularised estimate as a mass matrix, then forgets the draws. `None` with too few
    /// draws, or for a dense estimate that is not numerically positive definite.
    fn take(&mut self) -> Option<MassMatrix> {
        match self {
            MassEstimator::Diagonal(w) => {
                let m = w.regularized().map(MassMatrix::Diagonal);
                w.reset();
                m
            }
            MassEstimator::Dense(w) => {
                let dim = w.mean.len();
                let m = w.regularized().and_then(|c| DenseMass::new(c, dim).ok()).map(MassMatrix::Dense);
                w.reset();
                m
            }
        }
    }
}

/// The warm-up of one chain: which iteration it is in, the dual averaging, and either the
/// mass-matrix estimator of Stan's current slow window (diagonal and dense metrics) or nutpie's
/// continuous estimate (the low-rank metric).
#[derive(Debug, Clone)]
pub(crate) struct Warmup {
    num_warmup: usize,
    iteration: usize,
    adapt_step_size: bool,
    schedule: WarmupSchedule,
    estimator: Option<MassEstimator>,
    continuous: Option<ContinuousLowRank>,
    /// Whether the continuous estimate has changed the metric yet.
    estimated: bool,
    dual: DualAveraging,
}

impl Warmup {
    /// Plans `num_warmup` iterations from `step_size`. Without mass adaptation the step size is
    /// dual-averaged over the whole warm-up without restarts.
    pub(crate) fn new(
        num_warmup: usize,
        dim: usize,
        adapt_step_size: bool,
        adapt_mass_matrix: bool,
        metric: Metric,
        target_accept: f64,
        step_size: f64,
    ) -> Self {
        let continuous = (adapt_mass_matrix && metric == Metric::LowRank && num_warmup > 0).then(|| ContinuousLowRank::new(num_warmup, dim));
        let schedule = WarmupSchedule::new(if adapt_mass_matrix && continuous.is_none() { num_warmup } else { 0 });
        let estimator = match metric {
            _ if schedule.slow_windows().is_empty() => None,
            Metric::Dense => Some(MassEstimator::Dense(WelfordCovariance::new(dim))),
            Metric::Diagonal => Some(MassEstimator::Diagonal(WelfordVariance::new(dim))),
            Metric::LowRank => None,
        };
        let dual = DualAveraging::new(step_size, target_accept);
        Warmup { num_warmup, iteration: 0, adapt_step_size, schedule, estimator, continuous, estimated: false, dual }
    }

    /// Begins warm-up at `start` and returns the metric to begin with: for the continuous
    /// low-rank estimate, scales read off the gradient there (the point is its first draw);
    /// otherwise `None` (the identity).
    pub(crate) fn start(&mut self, start: &PhasePoint) -> Option<MassMatrix> {
        self.continuous.as_mut().map(|c| MassMatrix::LowRank(c.start(start)))
    }

    /// Restarts the step size's dual averaging from `step_size` (the chain's initial one).
    pub(crate) fn restart_step_size(&mut self, step_size: f64) {
        self.dual.restart(step_size);
    }

    /// Whether iterations of warm-up remain.
    pub(crate) fn is_warming_up(&self) -> bool {
        self.iteration < self.num_warmup
    }

    /// Learns from one warm-up transition that ended at `point` with acceptance statistic
    /// `accept_prob`: updates the step size, adds the draw to the slow window's estimate, and at
    /// the end of a slow window installs the new mass matrix, re-finds the step size and restarts
    /// dual averaging. With the low-rank metric it hands the draw to the continuous estimate
    /// instead and installs each new metric it gives, re-finding the step size after the first
    /// only. The last warm-up iteration sets the averaged step size. After warm-up it does
    /// nothing.
    pub(crate) fn learn<R: Rng + ?Sized>(
        &mut self,
        accept_prob: f64,
        point: &PhasePoint,
        potential: &mut dyn Potential,
        mass: &mut MassMatrix,
        step_size: &mut f64,
        rng: &mut R,
    ) -> Result<(), PyriteError> {
        if !self.is_warming_up() {
            return Ok(());
        }
        let i = self.iteration;
        if self.adapt_step_size {
            *step_size = self.dual.update(accept_prob);
        }
        if let Some(m) = self.continuous.as_mut().and_then(|c| c.learn(i, point)) {
            *mass = MassMatrix::LowRank(m);
            if !self.estimated && self.adapt_step_size {
                *step_size = find_reasonable_step_size(potential, mass, point, *step_size, rng)?;
                self.dual.restart(*step_size);
            }
            self.estimated = true;
        }
        if let Some(est) = self.estimator.as_mut() {
            if self.schedule.in_slow_window(i) {
                est.add(point);
            }
            if self.schedule.ends_slow_window(i) {
                if let Some(m) = est.take() {
                    *mass = m;
                }
                if self.adapt_step_size {
                    *step_size = find_reasonable_step_size(potential, mass, point, *step_size, rng)?;
                    self.dual.restart(*step_size);
                }
            }
        }
        self.iteration += 1;
        if self.iteration == self.num_warmup && self.adapt_step_size {
            *step_size = self.dual.final_step_size();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_stan() {
        // Stan's windowed_adaptation: the first window is never stretched.
        assert_eq!(WarmupSchedule::new(180).slow_windows(), &[75..100, 100..130]);
        assert_eq!(WarmupSchedule::new(150).slow_windows().to_vec(), vec![(75..100)]);
        assert_eq!(WarmupSchedule::new(200).slow_windows(), &[75..100, 100..150]);
        assert_eq!(WarmupSchedule::new(20).slow_windows().to_vec(), vec![(3..18)]);
        assert_eq!(WarmupSchedule::new(500).slow_windows(), &[75..100, 100..150, 150..250, 250..450]);
    }

    #[test]
    fn dual_averaging_converges_on_a_monotone_acceptance() {
        // accept(eps) = exp(-eps): the target 0.8 is reached at eps = -ln 0.8.
        let mut da = DualAveraging::new(1.0, 0.8);
        let mut eps = 1.0;
        for _ in 0..2000 {
            eps = da.update(f64::exp(-eps));
        }
        let want = -(0.8f64).ln();
        assert!((da.final_step_size() - want).abs() < 0.02 * want, "{}", da.final_step_size());
        assert!(eps > 0.0);
    }

    #[test]
    fn covariance_matches_two_pass() {
        let xs = [[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [2.2, 0.1, -0.7], [0.0, 0.4, 0.9]];
        let mut w = WelfordCovariance::new(3);
        xs.iter().for_each(|x| w.add(x));
        let c = w.covariance().unwrap();
        let mean: Vec<f64> = (0..3).map(|j| xs.iter().map(|x| x[j]).sum::<f64>() / 4.0).collect();
        for i in 0..3 {
            for j in 0..3 {
                let want: f64 = xs.iter().map(|x| (x[i] - mean[i]) * (x[j] - mean[j])).sum::<f64>() / 3.0;
                assert!((c[i * 3 + j] - want).abs() < 1e-12);
            }
        }
    }
}
