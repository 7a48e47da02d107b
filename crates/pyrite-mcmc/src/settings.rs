//! The warm-up and divergence settings NUTS and HMC share, and the builder methods that set
//! them on anything that carries them (the kernels' settings, a [`Kernel`](crate::kernel::Kernel)).

use pyrite_core::PyriteError;

use crate::sampler::{check_positive, check_target_accept};

/// Warm-up and divergence settings of a Hamiltonian kernel. Defaults as Pyro's and NumPyro's:
/// target acceptance 0.8, a diagonal mass matrix, both adaptations on, the initial step size
/// found by search, divergence at an energy error above 1000.
///
/// ```
/// use pyrite_mcmc::settings::{Adaptation, Adaptive};
/// let a = Adaptation::default().target_accept(0.9).step_size(0.1);
/// assert_eq!((a.target_accept, a.step_size), (0.9, Some(0.1)));
/// assert!(a.validate().is_ok());
/// assert!(Adaptation::default().target_accept(1.0).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptation {
    /// Average acceptance probability the step-size adaptation aims at, in `(0, 1)`.
    pub target_accept: f64,
    /// The mass matrix warm-up adapts (and sampling uses): diagonal (the default), dense, or
    /// low-rank plus diagonal.
    pub metric: Metric,
    /// Dual-average the step size during warm-up.
    pub adapt_step_size: bool,
    /// Estimate the mass matrix during warm-up.
    pub adapt_mass_matrix: bool,
    /// The initial step size; `None` searches for one at the initial point.
    pub step_size: Option<f64>,
    /// An energy error above this (or a non-finite energy) marks a divergence.
    pub max_delta_energy: f64,
}

impl Default for Adaptation {
    fn default() -> Self {
        Adaptation { target_accept: 0.8, metric: Metric::Diagonal, adapt_step_size: true, adapt_mass_matrix: true, step_size: None, max_delta_energy: 1000.0 }
    }
}

impl Adaptation {
    /// `InvalidInput` naming the first setting out of range.
    pub fn validate(&self) -> Result<(), PyriteError> {
        check_target_accept(self.target_accept)?;
        if let Some(eps) = self.step_size {
            check_positive("step_size", eps)?;
        }
        check_positive("max_delta_energy", self.max_delta_energy)
    }
}

/// The shape of the mass matrix a Hamiltonian kernel adapts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A diagonal: each coordinate's variance (Stan's, NumPyro's and Pyro's default).
    Diagonal,
    /// A full covariance (`dense_mass`).
    Dense,
    /// A diagonal plus a few directions (`low_rank_mass`; nutpie's).
    LowRank,
}

/// The builder methods of [`Adaptation`], for everything that carries one.
pub trait Adaptive: Sized {
    /// The settings these methods change.
    fn adaptation_mut(&mut self) -> &mut Adaptation;

    /// The acceptance probability the step size adapts to (default 0.8; in `(0, 1)`).
    fn target_accept(mut self, target: f64) -> Self {
        self.adaptation_mut().target_accept = target;
        self
    }
    /// A dense mass matrix (adapted to the posterior covariance) instead of a diagonal one.
    fn dense_mass(self, dense: bool) -> Self {
        self.metric(if dense { Metric::Dense } else { Metric::Diagonal })
    }
    /// The mass matrix's shape ([`Metric`]).
    fn metric(mut self, metric: Metric) -> Self {
        self.adaptation_mut().metric = metric;
        self
    }
    /// nutpie's low-rank-plus-diagonal mass matrix instead of a diagonal one: the diagonal and
    /// the few strongly correlated directions estimated from warm-up's draws and gradients
    /// ([`crate::low_rank`]) on nutpie's schedule ([`crate::continuous_adaptation`]); for
    /// posteriors with strong correlations, in many dimensions too.
    fn low_rank_mass(self, low_rank: bool) -> Self {
        self.metric(if low_rank { Metric::LowRank } else { Metric::Diagonal })
    }
    /// Whether warm-up adapts the step size (default true).
    fn adapt_step_size(mut self, adapt: bool) -> Self {
        self.adaptation_mut().adapt_step_size = adapt;
        self
    }
    /// Whether warm-up adapts the mass matrix (default true).
    fn adapt_mass_matrix(mut self, adapt: bool) -> Self {
        self.adaptation_mut().adapt_mass_matrix = adapt;
        self
    }
    /// The initial step size (positive); without it one is searched at the initial point.
    fn step_size(mut self, step_size: f64) -> Self {
        self.adaptation_mut().step_size = Some(step_size);
        self
    }
    /// The energy error above which a transition counts as divergent (default 1000).
    fn max_delta_energy(mut self, max: f64) -> Self {
        self.adaptation_mut().max_delta_energy = max;
        self
    }
}

impl Adaptive for Adaptation {
    fn adaptation_mut(&mut self) -> &mut Adaptation {
        self
    }
}
