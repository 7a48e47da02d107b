//! Chains stuck in a minor mode. A chain can spend its whole warm-up in a local mode that holds
//! a negligible share of the posterior (a hidden Markov model whose second state explains
//! nothing, an ODE's stiff region) and never leave it; its draws then ruin the run's means and
//! R-hat. Part-way through warm-up, after Stan's second-to-last slow window, the chains compare
//! how much probability mass the region each explored holds: a Gaussian (Laplace) estimate from
//! the window's draws, `log m = -mean(U) + sum_i log sd_i` (up to a constant shared by all
//! chains). A chain whose estimate falls more than [`MINOR_MODE_NATS`] below the best chain's
//! (about 1/20,000 of its mass) continues from a copy of a chain that is not stuck (its
//! position, step size and mass matrix; its own random numbers), and adapts on its own through
//! the last window. Chains exploring the same mode agree to within a few nats (at most 3.1 over
//! the posteriordb panel, 66 coordinates included); the stuck chains met there lay 16 to over
//! 1,000 nats below.

use std::ops::Range;

use crate::adapt::{WarmupSchedule, WelfordVariance};

/// How far (in nats of estimated log mass) below the best chain a chain's region must lie to
/// count as a minor mode.
pub const MINOR_MODE_NATS: f64 = 10.0;

/// The warm-up iterations whose draws the chains compare (Stan's second-to-last slow window);
/// the chains meet at its end. `None` when warm-up has fewer than two slow windows.
///
/// ```
/// use pyrite_mcmc::stuck_chains::check_window;
/// assert_eq!(check_window(1000), Some(250..450));
/// assert_eq!(check_window(500), Some(150..250));
/// assert_eq!(check_window(100), None);
/// ```
pub fn check_window(num_warmup: usize) -> Option<Range<usize>> {
    let schedule = WarmupSchedule::new(num_warmup);
    let windows = schedule.slow_windows();
    (windows.len() >= 2).then(|| windows[windows.len() - 2].clone())
}

/// A chain's draws over the check window, summarised as they come: the sum of their potential
/// energies and the running variance of each coordinate.
#[derive(Debug, Clone)]
pub struct WindowDraws {
    energy_sum: f64,
    positions: WelfordVariance,
}

impl WindowDraws {
    /// No draws yet, of `dim` coordinates.
    pub fn new(dim: usize) -> WindowDraws {
        WindowDraws { energy_sum: 0.0, positions: WelfordVariance::new(dim) }
    }

    /// Adds one draw.
    pub fn push(&mut self, potential_energy: f64, position: &[f64]) {
        self.energy_sum += potential_energy;
        self.positions.add(position);
    }

    /// The log mass of the region the draws explored, up to a constant shared by chains of the
    /// same dimension: minus the mean potential energy plus the sum of the log standard
    /// deviations of the coordinates; minus infinity where a coordinate did not move over the
    /// window (a frozen chain, the most stuck of all). `None` with fewer than two draws, or
    /// where the estimate is NaN or infinite upwards.
    ///
    /// ```
    /// use pyrite_mcmc::stuck_chains::WindowDraws;
    /// // U(z) = z^2 / (2 s^2): draws at +-s have mean energy 1/2 and sd s.
    /// let mut narrow = WindowDraws::new(1);
    /// let mut wide = WindowDraws::new(1);
    /// for k in 0..100 {
    ///     let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
    ///     narrow.push(0.5, &[sign * 1.0]);
    ///     wide.push(0.5, &[sign * 10.0]);
    /// }
    /// // Ten times the width: ln 10 more mass (up to the n/(n-1) of the sample variance).
    /// let gap = wide.log_mass().unwrap() - narrow.log_mass().unwrap();
    /// assert!((gap - 10f64.ln()).abs() < 1e-12);
    /// ```
    pub fn log_mass(&self) -> Option<f64> {
        let variances = self.positions.variance()?;
        let mean_energy = self.energy_sum / self.positions.count() as f64;
        let log_sd_sum: f64 = variances.iter().map(|v| 0.5 * v.ln()).sum();
        let log_mass = log_sd_sum - mean_energy;
        (!log_mass.is_nan() && log_mass < f64::INFINITY).then_some(log_mass)
    }
}

/// For each chain, the chain it should continue from: `Some(donor)` where its estimated log
/// mass lies more than [`MINOR_MODE_NATS`] below the best chain's (the donors taken in turn
/// from the chains that are not stuck), `None` otherwise. A chain without an estimate is left
/// as it is and is no donor.
///
/// ```
/// use pyrite_mcmc::stuck_chains::donors;
/// // Two chains in a minor mode 60 nats down continue from the other two in turn.
/// let masses = [Some(-1971.3), Some(-1911.4), Some(-1911.5), Some(-1971.4)];
/// assert_eq!(donors(&masses), vec![Some(1), None, None, Some(2)]);
/// assert_eq!(donors(&[Some(-10.0), Some(-12.5)]), vec![None, None]);
/// ```
pub fn donors(log_masses: &[Option<f64>]) -> Vec<Option<usize>> {
    let best = log_masses.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
    let stuck: Vec<bool> = log_masses.iter().map(|m| m.is_some_and(|m| m < best - MINOR_MODE_NATS)).collect();
    let healthy: Vec<usize> = (0..log_masses.len()).filter(|&c| log_masses[c].is_some() && !stuck[c]).collect();
    let mut next = healthy.iter().cycle();
    stuck.iter().map(|&s| if s { next.next().copied() } else { None }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrator::standard_normal;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Draws of a d-dimensional Gaussian with sd `scale` whose potential is offset by `offset`:
    /// its mass is `exp(-offset) * scale^d` times that of the standard one.
    fn gaussian_window(d: usize, scale: f64, offset: f64, n: usize, seed: u64) -> WindowDraws {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut w = WindowDraws::new(d);
        for _ in 0..n {
            let z: Vec<f64> = (0..d).map(|_| scale * standard_normal(&mut rng)).collect();
            let u = offset + z.iter().map(|x| x * x).sum::<f64>() / (2.0 * scale * scale) + d as f64 * scale.ln();
            w.push(u, &z);
        }
        w
    }

    #[test]
    fn log_mass_differences_match_gaussian_masses() {
        // Log masses 0 (the standard one) and -8 + 5 ln 3 - 5 ln 3 = -8 in 5 dims.
        let a = gaussian_window(5, 1.0, 0.0, 4000, 1).log_mass().unwrap();
        let b = gaussian_window(5, 3.0, 8.0, 4000, 2).log_mass().unwrap();
        assert!(((a - b) - 8.0).abs() < 0.2, "gap {}", a - b);
    }

    #[test]
    fn chains_in_the_same_mode_are_left_alone() {
        // 200 draws of 66 coordinates: the sampling noise of the estimate is well under the bound.
        let masses: Vec<Option<f64>> = (0..8).map(|s| gaussian_window(66, 0.3, 0.0, 200, s).log_mass()).collect();
        assert_eq!(donors(&masses), vec![None; 8]);
    }

    #[test]
    fn a_chain_without_an_estimate_is_no_donor() {
        assert_eq!(donors(&[None, Some(-100.0), Some(-50.0)]), vec![None, Some(2), None]);
        assert_eq!(donors(&[None, None]), vec![None, None]);
        assert_eq!(WindowDraws::new(3).log_mass(), None);
    }

    #[test]
    fn a_frozen_chain_is_moved() {
        let mut frozen = WindowDraws::new(2);
        for _ in 0..50 {
            frozen.push(3.0, &[0.5, -1.0]);
        }
        assert_eq!(frozen.log_mass(), Some(f64::NEG_INFINITY));
        let healthy = gaussian_window(2, 1.0, 0.0, 50, 4).log_mass();
        assert_eq!(donors(&[frozen.log_mass(), healthy]), vec![Some(1), None]);
        // All frozen: nothing to move to.
        assert_eq!(donors(&[frozen.log_mass(), frozen.log_mass()]), vec![None, None]);
    }
}
