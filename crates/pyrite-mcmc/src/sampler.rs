//! One Markov chain: a kernel (NUTS or HMC), its mass matrix and step size, the warm-up that
//! adapts them, and the chain's own random number generator.

use pyrite_core::PyriteError;
use rand::{rngs::StdRng, SeedableRng};

use crate::adapt::{find_reasonable_step_size, Warmup};
use crate::hmc::{Hmc, HmcSettings};
use crate::integrator::{MassMatrix, PhasePoint};
use crate::nuts::{Nuts, NutsSettings};
use crate::potential::Potential;
use crate::settings::{Adaptation, Metric};

/// The Hamiltonian kernel of a chain, with its settings.
///
/// ```
/// use pyrite_mcmc::hmc::HmcSettings;
/// use pyrite_mcmc::nuts::NutsSettings;
/// use pyrite_mcmc::sampler::Algorithm;
/// use pyrite_mcmc::settings::Adaptive;
/// let nuts = Algorithm::Nuts(NutsSettings::default().dense_mass(true));
/// let hmc = Algorithm::Hmc(HmcSettings::default().trajectory_length(1.0).step_size(0.1));
/// assert_ne!(nuts, hmc);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Algorithm {
    /// The No-U-Turn sampler.
    Nuts(NutsSettings),
    /// Hamiltonian Monte Carlo with a fixed trajectory length.
    Hmc(HmcSettings),
}

/// What one transition did.
///
/// ```
/// use pyrite_mcmc::nuts::NutsSettings;
/// use pyrite_mcmc::potential::FnPotential;
/// use pyrite_mcmc::sampler::{Algorithm, Sampler};
/// use pyrite_mcmc::settings::Adaptive;
/// let mut u = FnPotential::new(1, |z: &[f64], g: &mut [f64]| { g[0] = z[0]; Ok(0.5 * z[0] * z[0]) });
/// let mut chain = Sampler::new(Algorithm::Nuts(NutsSettings::default().step_size(0.5)), 1, 0, 7)?;
/// chain.init(&mut u, &[1.0])?;
/// let info = chain.step(&mut u)?;
/// assert!(!info.diverging && info.step_size == 0.5);
/// assert!(info.num_leapfrog < 2 << info.tree_depth && (0.0..=1.0).contains(&info.accept_prob));
/// assert_eq!(info.potential_energy, 0.5 * chain.position()[0].powi(2));
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// The acceptance statistic: HMC's Metropolis probability `min(1, exp(-dH))`, or NUTS's mean
    /// of `min(1, exp(H0 - H))` over the tree's leapfrog steps.
    pub accept_prob: f64,
    /// Whether the energy error exceeded `max_delta_energy` or was not finite.
    pub diverging: bool,
    /// Leapfrog steps taken (each one potential evaluation), including those of a last NUTS
    /// sub-tree that was rejected (so up to `2^(tree_depth + 1) - 1`).
    pub num_leapfrog: usize,
    /// NUTS: completed (accepted) tree doublings, as Stan's `treedepth__`; HMC: 0.
    pub tree_depth: usize,
    /// The Hamiltonian `U + K` of the new state.
    pub energy: f64,
    /// The potential energy `U` of the new state.
    pub potential_energy: f64,
    /// The step size this transition used.
    pub step_size: f64,
}

/// The kernel with its buffers.
#[derive(Debug, Clone)]
enum Kernel {
    Nuts(Box<Nuts>),
    Hmc(Hmc),
}

/// One chain of NUTS or HMC over a [`Potential`]: [`init`](Sampler::init) at a starting point,
/// then [`step`](Sampler::step) once per draw. The first `num_warmup` steps adapt the step size
/// and mass matrix (Stan's windowed scheme); later steps leave them fixed. The chain owns its
/// random number generator, seeded from `seed`, so its draws depend on nothing else.
///
/// ```
/// use pyrite_mcmc::nuts::NutsSettings;
/// use pyrite_mcmc::potential::FnPotential;
/// use pyrite_mcmc::sampler::{Algorithm, Sampler};
/// use pyrite_mcmc::settings::Adaptive;
/// // A normal with mean 3 and sd 2.
/// let mut u = FnPotential::new(1, |z: &[f64], g: &mut [f64]| {
///     g[0] = (z[0] - 3.0) / 4.0;
///     Ok((z[0] - 3.0).powi(2) / 8.0)
/// });
/// let mut chain = Sampler::new(Algorithm::Nuts(NutsSettings::default()), 1, 200, 42)?;
/// chain.init(&mut u, &[0.0])?;
/// let mut sum = 0.0;
/// for _ in 0..200 {
///     chain.step(&mut u)?;
/// }
/// assert!(!chain.is_warming_up());
/// for _ in 0..500 {
///     chain.step(&mut u)?;
///     sum += chain.position()[0];
/// }
/// assert!((sum / 500.0 - 3.0).abs() < 0.5);
/// # Ok::<(), pyrite_core::PyriteError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Sampler {
    dim: usize,
    kernel: Kernel,
    adapt: Adaptation,
    num_warmup: usize,
    rng: StdRng,
    mass: MassMatrix,
    step_size: f64,
    warmup: Warmup,
    state: PhasePoint,
    initialized: bool,
}

impl Sampler {
    /// A chain of `algorithm` over `dim` coordinates with `num_warmup` adapting steps, its
    /// generator seeded by `seed`. `InvalidInput` names a setting out of range (or a zero `dim`).
    pub fn new(algorithm: Algorithm, dim: usize, num_warmup: usize, seed: u64) -> Result<Sampler, PyriteError> {
        if dim == 0 {
            return Err(invalid("dim", "must be at least 1"));
        }
        let (kernel, adapt) = match &algorithm {
            Algorithm::Nuts(s) => {
                s.validate()?;
                (Kernel::Nuts(Box::new(Nuts::new(s, dim))), s.adaptation)
            }
            Algorithm::Hmc(s) => {
                s.validate()?;
                (Kernel::Hmc(Hmc::new(s, dim)), s.adaptation)
            }
        };
        let step_size = adapt.step_size.unwrap_or(1.0);
        Ok(Sampler {
            dim,
            kernel,
            adapt,
            num_warmup,
            rng: StdRng::seed_from_u64(seed),
            mass: MassMatrix::identity(dim, adapt.metric == Metric::Dense),
            step_size,
            warmup: Sampler::plan_warmup(&adapt, num_warmup, dim, step_size),
            state: PhasePoint::new(dim),
            initialized: false,
        })
    }

    fn plan_warmup(adapt: &Adaptation, num_warmup: usize, dim: usize, step_size: f64) -> Warmup {
        Warmup::new(num_warmup, dim, adapt.adapt_step_size, adapt.adapt_mass_matrix, adapt.metric, adapt.target_accept, step_size)
    }

    /// (Re)starts the chain at `z0`: evaluates the potential there, resets the mass matrix to the
    /// identity (with the low-rank metric's warm-up, to the scales the gradient there suggests),
    /// sets the initial step size (the configured one, or one found by search) and restarts
    /// warm-up. `NonFinite` (site `"<initial point>"`) when `z0`, the energy or the
    /// gradient there is not finite, so the caller can try another point; `InvalidInput` on a
    /// dimension mismatch; the potential's own error as is.
    pub fn init(&mut self, potential: &mut dyn Potential, z0: &[f64]) -> Result<(), PyriteError> {
        self.check_dim(potential)?;
        if z0.len() != self.dim {
            return Err(invalid("z0", &format!("has {} coordinates, the sampler has {}", z0.len(), self.dim)));
        }
        let non_finite = |what: &str| PyriteError::NonFinite { site: "<initial point>".to_string(), what: what.to_string() };
        if z0.iter().any(|x| !x.is_finite()) {
            return Err(non_finite("position"));
        }
        let mut start = PhasePoint::new(self.dim);
        start.z.copy_from_slice(z0);
        start.potential_energy = potential.energy_and_grad(z0, &mut start.grad)?;
        if !start.potential_energy.is_finite() {
            return Err(non_finite("potential energy"));
        }
        if start.grad.iter().any(|g| !g.is_finite()) {
            return Err(non_finite("gradient of the potential energy"));
        }
        let mut warmup = Sampler::plan_warmup(&self.adapt, self.num_warmup, self.dim, 1.0);
        let mass = warmup.start(&start).unwrap_or_else(|| MassMatrix::identity(self.dim, self.adapt.metric == Metric::Dense));
        let step_size = match self.adapt.step_size {
            Some(eps) => eps,
            None => find_reasonable_step_size(potential, &mass, &start, 1.0, &mut self.rng)?,
        };
        warmup.restart_step_size(step_size);
        self.state = start;
        self.mass = mass;
        self.step_size = step_size;
        self.warmup = warmup;
        self.initialized = true;
        Ok(())
    }

    /// One transition; during warm-up it also adapts the step size and mass matrix. A non-finite
    /// energy is a divergence, reported in the [`StepInfo`]. An error from the potential stops the
    /// step and is returned: raised during the transition, the chain keeps its position; raised by
    /// the step-size search that follows a new mass matrix in warm-up (the end of a slow window,
    /// or the low-rank metric's first estimate), the transition has happened but its adaptation
    /// has not, so the chain is best re-initialised.
    pub fn step(&mut self, potential: &mut dyn Potential) -> Result<StepInfo, PyriteError> {
        if !self.initialized {
            return Err(invalid("sampler", "call `init` (successfully) before `step`"));
        }
        self.check_dim(potential)?;
        let info = match &mut self.kernel {
            Kernel::Nuts(k) => k.transition(potential, &self.mass, self.step_size, &mut self.state, &mut self.rng)?,
            Kernel::Hmc(k) => k.transition(potential, &self.mass, self.step_size, &mut self.state, &mut self.rng)?,
        };
        self.warmup.learn(info.accept_prob, &self.state, potential, &mut self.mass, &mut self.step_size, &mut self.rng)?;
        Ok(info)
    }

    /// Continues from where `other` (a chain of the same kernel and dimension) is: its
    /// position, step size, mass matrix and warm-up progress, keeping this chain's own random
    /// numbers (a chain stuck in a minor mode, see [`stuck_chains`](crate::stuck_chains)).
    /// `InvalidInput` when the two do not match or `other` has not started.
    pub fn continue_from(&mut self, other: &Sampler) -> Result<(), PyriteError> {
        if other.dim != self.dim || other.num_warmup != self.num_warmup || !other.initialized {
            return Err(invalid("sampler", "can only continue from a started chain of the same dimension and warm-up"));
        }
        self.mass = other.mass.clone();
        self.step_size = other.step_size;
        self.warmup = other.warmup.clone();
        self.state = other.state.clone();
        self.initialized = true;
        Ok(())
    }

    /// The current position.
    pub fn position(&self) -> &[f64] {
        &self.state.z
    }

    /// The step size the next transition will use.
    pub fn step_size(&self) -> f64 {
        self.step_size
    }

    /// The inverse mass matrix the next transition will use.
    pub fn inverse_mass_matrix(&self) -> &MassMatrix {
        &self.mass
    }

    /// Whether the next step still adapts.
    pub fn is_warming_up(&self) -> bool {
        self.warmup.is_warming_up()
    }

    fn check_dim(&self, potential: &dyn Potential) -> Result<(), PyriteError> {
        if potential.dim() != self.dim {
            return Err(invalid("potential", &format!("has dimension {}, the sampler has {}", potential.dim(), self.dim)));
        }
        Ok(())
    }
}

/// `InvalidInput` about the setting `what`.
pub(crate) fn invalid(what: &str, problem: &str) -> PyriteError {
    PyriteError::InvalidInput { what: what.to_string(), problem: problem.to_string() }
}

/// `InvalidInput` unless `x` is positive and finite.
pub(crate) fn check_positive(what: &str, x: f64) -> Result<(), PyriteError> {
    if x > 0.0 && x.is_finite() {
        Ok(())
    } else {
        Err(invalid(what, &format!("must be positive and finite, got {x}")))
    }
}

/// `InvalidInput` unless the target acceptance lies strictly between 0 and 1.
pub(crate) fn check_target_accept(x: f64) -> Result<(), PyriteError> {
    if x > 0.0 && x < 1.0 {
        Ok(())
    } else {
        Err(invalid("target_accept", &format!("must lie strictly between 0 and 1, got {x}")))
    }
}
