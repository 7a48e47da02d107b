//! The kernels users build: `Nuts` and `Hmc` over a model (as `NUTS(model)` in Pyro), or over
//! a potential function of a flat tensor (`potential_fn`).

use pyrite_core::prelude::*;
use pyrite_infer::prelude::InitStrategy;
use tch::Tensor;

use crate::hmc::HmcSettings;
use crate::nuts::NutsSettings;
use crate::sampler::Algorithm;
use crate::settings::{Adaptation, Adaptive};

/// A kernel's target: a model's latent sites (`M` is the model: a closure or function of the
/// model's arguments).
pub struct ModelTarget<'a, M: ?Sized> {
    pub(crate) model: &'a M,
    pub(crate) init: InitStrategy,
    pub(crate) compiled: bool,
}

/// A kernel's target: the flat vector `z` of a potential function `U(z)`.
pub struct PotentialTarget<F> {
    pub(crate) potential: F,
    pub(crate) init: Tensor,
}

/// A Hamiltonian kernel (NUTS or HMC) with the target it samples. Build it with [`Nuts`] or
/// [`Hmc`], set options with the methods below, and hand it to [`Mcmc`](crate::mcmc::Mcmc).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_mcmc::prelude::*;
/// let model = |_: &()| -> Result<()> { sample("x", Normal::new(0.0, 1.0)?).map(drop) };
/// let kernel = Nuts::new(&model).target_accept(0.9).max_tree_depth(6);
/// assert!(kernel.is_nuts());
/// ```
pub struct Kernel<T> {
    pub(crate) target: T,
    pub(crate) algorithm: Algorithm,
}

/// The No-U-Turn sampler (Hoffman & Gelman 2014, with multinomial sampling and the generalised
/// U-turn criterion, as Stan and NumPyro): `NUTS(model)`.
pub struct Nuts;

/// Hamiltonian Monte Carlo with a fixed trajectory length: `HMC(model)`.
pub struct Hmc;

// `Nuts::new(&model)` and `Hmc::new(&model)` read as Pyro's `NUTS(model)` and `HMC(model)`: the
// kernel types are namespaces whose constructors build a `Kernel`.
#[allow(clippy::new_ret_no_self)]
impl Nuts {
    /// NUTS over a model's continuous latent sites (enumerated discrete sites summed out).
    pub fn new<M: ?Sized>(model: &M) -> Kernel<ModelTarget<'_, M>> {
        Kernel::of_model(model, Algorithm::Nuts(NutsSettings::default()))
    }
    /// NUTS over a potential energy `U(z)` of a flat tensor `z`, starting at `init` (1-dim);
    /// the gradient comes from autograd. Samples come back as the site `"z"`.
    pub fn potential<F: Fn(&Tensor) -> Result<Tensor>>(potential: F, init: &Tensor) -> Kernel<PotentialTarget<F>> {
        Kernel::of_potential(potential, init, Algorithm::Nuts(NutsSettings::default()))
    }
}

#[allow(clippy::new_ret_no_self)]
impl Hmc {
    /// HMC over a model's continuous latent sites (enumerated discrete sites summed out).
    pub fn new<M: ?Sized>(model: &M) -> Kernel<ModelTarget<'_, M>> {
        Kernel::of_model(model, Algorithm::Hmc(HmcSettings::default()))
    }
    /// HMC over a potential energy `U(z)` of a flat tensor `z`, starting at `init` (1-dim).
    pub fn potential<F: Fn(&Tensor) -> Result<Tensor>>(potential: F, init: &Tensor) -> Kernel<PotentialTarget<F>> {
        Kernel::of_potential(potential, init, Algorithm::Hmc(HmcSettings::default()))
    }
}

impl<'a, M: ?Sized> Kernel<ModelTarget<'a, M>> {
    fn of_model(model: &'a M, algorithm: Algorithm) -> Self {
        Kernel { target: ModelTarget { model, init: InitStrategy::Median, compiled: pyrite_compile::enabled_by_default() }, algorithm }
    }
    /// How the chains' initial values are chosen. The default, `init_to_median`, starts each
    /// chain at the elementwise median of 15 prior draws of each site (its own draws: chains
    /// start apart), near the prior's centre as PyMC's and nutpie's chains start. Pyro, NumPyro
    /// and Stan start at `init_to_uniform(2)` (`InitStrategy::Uniform(2.0)`: uniform on (-2, 2)
    /// in the unconstrained space, whatever the prior's scale), which on posteriordb's
    /// Lotka–Volterra and basketball HMM sent a chain of four into a minor mode on some seeds,
    /// for Stan too (`docs/posteriordb.md`); from either start, a chain found stuck in a minor
    /// mode part-way through warm-up continues from a healthy chain
    /// ([`Mcmc::relocate_stuck_chains`](crate::mcmc::Mcmc::relocate_stuck_chains)).
    pub fn init_strategy(mut self, strategy: InitStrategy) -> Self {
        self.target.init = strategy;
        self
    }
    /// Evaluates the potential and its gradient with native code generated from the model
    /// (`pyrite-compile`) instead of eager libtorch operations (on by default; off with
    /// `.compiled(false)` or `PYRITE_COMPILE=0`). The model is captured at the first chain's
    /// initial point and at a second point near it (differing captures keep it eager), and the
    /// compiled potential is checked against the eager one at both (one that disagrees, a
    /// compiler bug, is not used: the run is eager, with a note asking to report it). A model that reads a latent value on the host (`double_value`, `Vec::try_from`,
    /// a comparison read as a bool: its result may depend on the read), a model the compiler
    /// cannot take (an operation it does not know) or a machine without a C compiler runs
    /// eagerly with a one-line note. Tensors made inside the model from host numbers
    /// (`Tensor::from`, `zeros`, `arange`) are constants of the compiled potential.
    /// Applies to [`Mcmc::run`](crate::mcmc::Mcmc::run), where vectorised chains then run one
    /// after the other (the same draws, faster than in lockstep), and to
    /// [`Mcmc::run_parallel`](crate::mcmc::Mcmc::run_parallel), where each thread compiles its own.
    pub fn compiled(mut self, on: bool) -> Self {
        self.target.compiled = on;
        self
    }
}

impl<F> Kernel<PotentialTarget<F>> {
    fn of_potential(potential: F, init: &Tensor, algorithm: Algorithm) -> Self {
        Kernel { target: PotentialTarget { potential, init: init.detach().reshape([-1]) }, algorithm }
    }
}

impl<T> Adaptive for Kernel<T> {
    fn adaptation_mut(&mut self) -> &mut Adaptation {
        match &mut self.algorithm {
            Algorithm::Nuts(s) => &mut s.adaptation,
            Algorithm::Hmc(s) => &mut s.adaptation,
        }
    }
}

impl<T> Kernel<T> {
    /// Whether this is NUTS (not HMC).
    pub fn is_nuts(&self) -> bool {
        matches!(self.algorithm, Algorithm::Nuts(_))
    }

    /// NUTS: at most `2^depth - 1` leapfrog steps per draw (default 10). No effect on HMC.
    pub fn max_tree_depth(mut self, depth: usize) -> Self {
        if let Algorithm::Nuts(s) = &mut self.algorithm {
            s.max_tree_depth = depth;
        }
        self
    }
    /// HMC: the trajectory length `step_size * num_steps` (default `2 pi`). No effect on NUTS.
    pub fn trajectory_length(mut self, length: f64) -> Self {
        if let Algorithm::Hmc(s) = &mut self.algorithm {
            s.trajectory_length = length;
        }
        self
    }
}
