//! Hamiltonian Monte Carlo with a fixed trajectory length and a Metropolis correction.

use pyrite_core::PyriteError;
use rand::Rng;

use crate::integrator::{leapfrog, MassMatrix, PhasePoint};
use crate::potential::Potential;
use crate::sampler::{check_positive, invalid, StepInfo};
use crate::settings::{Adaptation, Adaptive};

/// Settings of [`Hmc`] and its warm-up. Defaults follow Pyro: trajectory length `2 pi`, target
/// acceptance `0.8`, diagonal mass matrix, both adaptations on, initial step size found by
/// search.
///
/// ```
/// use pyrite_mcmc::hmc::HmcSettings;
/// use pyrite_mcmc::settings::Adaptive;
/// let s = HmcSettings::default().trajectory_length(1.5).step_size(0.1).dense_mass(true);
/// assert_eq!(s.trajectory_length, 1.5);
/// assert_eq!(s.adaptation.step_size, Some(0.1));
/// assert!(s.validate().is_ok());
/// assert!(HmcSettings::default().trajectory_length(-1.0).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HmcSettings {
    /// Integration time of each trajectory; the number of leapfrog steps is
    /// `ceil(trajectory_length / step_size)`, at most `max_num_steps`.
    pub trajectory_length: f64,
    /// Cap on the leapfrog steps of one trajectory.
    pub max_num_steps: usize,
    /// Warm-up and divergence settings (their builder methods come from [`Adaptive`]).
    pub adaptation: Adaptation,
}

impl Default for HmcSettings {
    fn default() -> Self {
        HmcSettings { trajectory_length: 2.0 * std::f64::consts::PI, max_num_steps: 1024, adaptation: Adaptation::default() }
    }
}

impl Adaptive for HmcSettings {
    fn adaptation_mut(&mut self) -> &mut Adaptation {
        &mut self.adaptation
    }
}

impl HmcSettings {
    /// Sets `trajectory_length`.
    pub fn trajectory_length(mut self, length: f64) -> Self {
        self.trajectory_length = length;
        self
    }
    /// Sets `max_num_steps`.
    pub fn max_num_steps(mut self, steps: usize) -> Self {
        self.max_num_steps = steps;
        self
    }

    /// `InvalidInput` naming the first setting out of range.
    pub fn validate(&self) -> Result<(), PyriteError> {
        check_positive("trajectory_length", self.trajectory_length)?;
        if self.max_num_steps == 0 {
            return Err(invalid("max_num_steps", "must be at least 1"));
        }
        self.adaptation.validate()
    }
}

/// The HMC transition kernel: a fresh momentum, `ceil(trajectory_length / step_size)` leapfrog
/// steps (at most `max_num_steps`, stopping early once the energy is not finite), and a
/// Metropolis accept/reject on the Hamiltonian. It owns its scratch buffers, so a transition does
/// not allocate.
///
/// ```
/// use pyrite_mcmc::hmc::{Hmc, HmcSettings};
/// use pyrite_mcmc::integrator::{MassMatrix, PhasePoint};
/// use pyrite_mcmc::potential::{FnPotential, Potential};
/// use rand::{rngs::StdRng, SeedableRng};
/// let mut u = FnPotential::new(1, |z: &[f64], g: &mut [f64]| { g[0] = z[0]; Ok(0.5 * z[0] * z[0]) });
/// let mut x = PhasePoint::new(1);
/// x.potential_energy = u.energy_and_grad(&[0.0], &mut x.grad).unwrap();
/// let mut hmc = Hmc::new(&HmcSettings::default().trajectory_length(1.0), 1);
/// assert_eq!(hmc.num_steps(0.3), 4);
/// let mut rng = StdRng::seed_from_u64(3);
/// let info = hmc.transition(&mut u, &MassMatrix::identity(1, false), 0.3, &mut x, &mut rng).unwrap();
/// assert_eq!(info.num_leapfrog, 4);
/// assert!(info.accept_prob > 0.9 && !info.diverging);
/// ```
#[derive(Debug, Clone)]
pub struct Hmc {
    trajectory_length: f64,
    max_num_steps: usize,
    max_delta_energy: f64,
    proposal: PhasePoint,
    velocity: Vec<f64>,
}

impl Hmc {
    /// A kernel for `dim` coordinates (settings are assumed validated).
    pub fn new(settings: &HmcSettings, dim: usize) -> Self {
        Hmc {
            trajectory_length: settings.trajectory_length,
            max_num_steps: settings.max_num_steps,
            max_delta_energy: settings.adaptation.max_delta_energy,
            proposal: PhasePoint::new(dim),
            velocity: vec![0.0; dim],
        }
    }

    /// The leapfrog steps of one trajectory at `step_size`.
    pub fn num_steps(&self, step_size: f64) -> usize {
        // `as` saturates, and a NaN ratio maps to 0.
        ((self.trajectory_length / step_size).ceil() as usize).clamp(1, self.max_num_steps)
    }

    /// One transition from `current` (position, gradient and potential energy set), which becomes
    /// the new state; its momentum is the one drawn for the trajectory, or the proposal's end
    /// momentum when accepted. `tree_depth` is reported as 0.
    pub fn transition<R: Rng + ?Sized>(
        &mut self,
        potential: &mut dyn Potential,
        mass: &MassMatrix,
        step_size: f64,
        current: &mut PhasePoint,
        rng: &mut R,
    ) -> Result<StepInfo, PyriteError> {
        mass.sample_momentum(rng, &mut current.p);
        mass.velocity(&current.p, &mut self.velocity);
        let h0 = current.potential_energy + mass.kinetic_energy(&current.p, &self.velocity);
        self.proposal.copy_from(current);
        let mut num_leapfrog = 0;
        for _ in 0..self.num_steps(step_size) {
            leapfrog(potential, mass, step_size, &mut self.proposal, &mut self.velocity)?;
            num_leapfrog += 1;
            if !self.proposal.potential_energy.is_finite() {
                break;
            }
        }
        mass.velocity(&self.proposal.p, &mut self.velocity);
        let h = self.proposal.potential_energy + mass.kinetic_energy(&self.proposal.p, &self.velocity);
        let delta = h - h0;
        let diverging = !h.is_finite() || delta.is_nan() || delta > self.max_delta_energy;
        let accept_prob = if h.is_finite() { (-delta).exp().min(1.0) } else { 0.0 };
        let energy = if rng.gen::<f64>() < accept_prob {
            current.copy_from(&self.proposal);
            h
        } else {
            h0
        };
        Ok(StepInfo { accept_prob, diverging, num_leapfrog, tree_depth: 0, energy, potential_energy: current.potential_energy, step_size })
    }
}
