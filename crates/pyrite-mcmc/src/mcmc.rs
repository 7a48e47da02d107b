//! `Mcmc`: runs warm-up and sampling for several chains of a kernel, sequentially, on threads,
//! or vectorised (all chains' potentials evaluated in one run of the model), and keeps the
//! draws and the chains' statistics.

use std::sync::{mpsc, Condvar, Mutex, PoisonError};

use indexmap::IndexMap;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pyrite_core::prelude::*;
use pyrite_infer::prelude::{InitStrategy, Samples};
use tch::Tensor;

use crate::chain_run::{ChainOutput, ChainRun};
use crate::compiled_potential::CompiledPotential;
use crate::kernel::{Kernel, ModelTarget, PotentialTarget};
use crate::model_potential::{LatentLayout, ModelPotential};
use crate::potential::Potential;
use crate::sampler::{Algorithm, Sampler};
use crate::stuck_chains::{self, donors};
use crate::summary::{summary, PosteriorSummary};
use crate::tensor_potential::TensorPotential;

/// How several chains run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChainMethod {
    /// One after the other, on the calling thread.
    #[default]
    Sequential,
    /// One thread per chain ([`Mcmc::run_parallel`]: each thread builds its own arguments).
    Parallel,
    /// All chains at once: each chain keeps its own step size, mass matrix and trees, and the
    /// potentials of all chains that need one are evaluated by one run of the model in an extra
    /// plate of chains, left of the model's plates (chains that finished early wait, masked
    /// out). The model must broadcast over that batch dim, as for vectorised particles in SVI;
    /// one that does not (it fails on the batch, or its batched energies and gradients at the
    /// first points differ from its chain-by-chain ones) is evaluated chain by chain, with a note.
    Vectorized,
}

impl std::str::FromStr for ChainMethod {
    type Err = PyriteError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sequential" => Ok(ChainMethod::Sequential),
            "parallel" => Ok(ChainMethod::Parallel),
            "vectorized" | "vectorised" => Ok(ChainMethod::Vectorized),
            other => {
                Err(PyriteError::InvalidInput { what: "chain method".into(), problem: format!("`{other}` is not `sequential`, `parallel` or `vectorized`") })
            }
        }
    }
}

/// What one chain did while sampling (after warm-up), draw by draw.
#[derive(Debug, Clone, Default)]
pub struct ChainStats {
    /// The adapted step size.
    pub step_size: f64,
    /// Divergent transitions during warm-up.
    pub warmup_divergences: usize,
    /// Whether each draw's transition diverged.
    pub diverging: Vec<bool>,
    /// Each transition's acceptance statistic.
    pub accept_prob: Vec<f64>,
    /// NUTS tree depths (0 for HMC).
    pub tree_depth: Vec<usize>,
    /// Leapfrog steps per transition.
    pub num_leapfrog: Vec<usize>,
    /// The potential energy of each draw.
    pub potential_energy: Vec<f64>,
    /// Points (warm-up included) where the model failed (an error: a Cholesky factorisation of
    /// a matrix that is not positive definite, any libtorch error) and whose proposal was
    /// rejected as divergent, as Stan does.
    pub failures: usize,
    /// The first of those failures' message.
    pub first_failure: Option<String>,
    /// Whether the chain's potential ran as compiled code (`Nuts::compiled`).
    pub compiled: bool,
    /// Evaluations of the potential and its gradient by the chain, warm-up (and its step-size
    /// searches) included: the cost of the run in gradients.
    pub grad_evals: usize,
    /// The chain whose state this one continued from part-way through warm-up, having been
    /// found stuck in a minor mode ([`Mcmc::relocate_stuck_chains`]).
    pub continued_from: Option<usize>,
}

impl ChainStats {
    /// The number of divergent transitions after warm-up.
    pub fn divergences(&self) -> usize {
        self.diverging.iter().filter(|d| **d).count()
    }
    /// The mean acceptance statistic after warm-up.
    pub fn mean_accept_prob(&self) -> f64 {
        self.accept_prob.iter().sum::<f64>() / self.accept_prob.len().max(1) as f64
    }
}

/// The result of a run.
struct Run {
    /// Draws by site, `[chains, samples, ...]`.
    samples: IndexMap<String, Tensor>,
    chains: Vec<ChainStats>,
    warmup_seconds: f64,
    sampling_seconds: f64,
}

/// Markov chain Monte Carlo with a NUTS or HMC kernel (`pyro.infer.MCMC`, `numpyro.infer.MCMC`).
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_mcmc::prelude::*;
/// use tch::Tensor;
/// // mu ~ N(0, 1), x_i ~ N(mu, 1): the posterior is N(sum x / (n + 1), 1 / (n + 1)).
/// let data = Tensor::from_slice(&[0.9f32, 1.1, 1.3, 0.7]);
/// let model = |x: &Tensor| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 1.0))?;
///     plate("data", 4, |_| observe("obs", Normal::new(&mu, 1.0), x)).map(drop)
/// };
/// let mut mcmc = Mcmc::new(Nuts::new(&model)).warmup(200).samples(400).seed(1).progress(false);
/// mcmc.run(&data)?;
/// let mu = &mcmc.get_samples()?["mu"];
/// assert_eq!(mu.size(), vec![400]);
/// assert!((mu.mean(tch::Kind::Double).double_value(&[]) - 0.8).abs() < 0.15);
/// # Ok::<(), PyriteError>(())
/// ```
pub struct Mcmc<T> {
    kernel: Kernel<T>,
    num_warmup: usize,
    num_samples: usize,
    num_chains: usize,
    chain_method: ChainMethod,
    seed: u64,
    progress: bool,
    relocate_stuck_chains: bool,
    run: Option<Run>,
}

/// The most initial points tried per chain before a non-finite potential is an error (as
/// NumPyro's 100).
const MAX_INIT_ATTEMPTS: u64 = 100;

impl<T> Mcmc<T> {
    /// MCMC with `kernel`: by default 1000 warm-up steps, 1000 samples, one chain, seed 0.
    pub fn new(kernel: Kernel<T>) -> Self {
        Mcmc {
            kernel,
            num_warmup: 1000,
            num_samples: 1000,
            num_chains: 1,
            chain_method: ChainMethod::Sequential,
            seed: 0,
            progress: true,
            relocate_stuck_chains: true,
            run: None,
        }
    }
    /// The number of warm-up (adaptation) steps per chain; their draws are discarded.
    pub fn warmup(mut self, steps: usize) -> Self {
        self.num_warmup = steps;
        self
    }
    /// The number of draws kept per chain (at least 1).
    pub fn samples(mut self, draws: usize) -> Self {
        self.num_samples = draws;
        self
    }
    /// The number of chains (at least 1).
    pub fn chains(mut self, chains: usize) -> Self {
        self.num_chains = chains;
        self
    }
    /// How the chains run (sequential by default).
    pub fn chain_method(mut self, method: ChainMethod) -> Self {
        self.chain_method = method;
        self
    }
    /// The seed: chain `c` draws from its own generator seeded from `(seed, c)`, so that a seeded
    /// run gives the same draws whatever else the process samples.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Whether to show progress bars (one per chain; on a terminal only).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }
    /// Whether a chain found stuck in a minor mode part-way through warm-up continues from
    /// another chain's state (on by default; with two chains or more and a warm-up of at least
    /// 150 steps). At the end of Stan's second-to-last slow window each chain estimates the
    /// probability mass of the region it explored in that window; one more than
    /// [`MINOR_MODE_NATS`](crate::stuck_chains::MINOR_MODE_NATS) below the best (a region with
    /// about 1/20,000 of the mass) takes a copy of a healthy chain's position, step size and mass
    /// matrix, keeps its own random numbers and adapts on its own through the last window. A
    /// note names each such chain, and [`ChainStats::continued_from`] records it. Off, chains
    /// run independently from start to end, as in Stan, Pyro and NumPyro.
    pub fn relocate_stuck_chains(mut self, relocate: bool) -> Self {
        self.relocate_stuck_chains = relocate;
        self
    }

    fn check_settings(&self) -> Result<()> {
        let invalid = |what: &str, problem: &str| Err(PyriteError::InvalidInput { what: what.into(), problem: problem.into() });
        if self.num_chains == 0 {
            return invalid("chains", "must be at least 1");
        }
        if self.num_samples == 0 {
            return invalid("samples", "must be at least 1");
        }
        match &self.kernel.algorithm {
            Algorithm::Nuts(s) => s.validate(),
            Algorithm::Hmc(s) => s.validate(),
        }
    }

    fn result(&self) -> Result<&Run> {
        self.run.as_ref().ok_or_else(|| PyriteError::InvalidInput { what: "mcmc".into(), problem: "no draws yet: call `run` first".into() })
    }

    /// The draws by site with chains and samples in one leading dim: `[chains * samples, ...]`
    /// (`mcmc.get_samples()`).
    pub fn get_samples(&self) -> Result<Samples> {
        Ok(self.result()?.samples.iter().map(|(k, v)| (k.clone(), v.flatten(0, 1))).collect())
    }
    /// The draws by site grouped by chain: `[chains, samples, ...]` (`group_by_chain=True`).
    pub fn get_samples_by_chain(&self) -> Result<Samples> {
        Ok(self.result()?.samples.iter().map(|(k, v)| (k.clone(), v.shallow_clone())).collect())
    }
    /// Each chain's statistics (divergences, acceptance, tree depths, step size).
    pub fn chain_stats(&self) -> Result<&[ChainStats]> {
        Ok(&self.result()?.chains)
    }
    /// The number of divergent transitions after warm-up, over all chains.
    pub fn divergences(&self) -> Result<usize> {
        Ok(self.result()?.chains.iter().map(ChainStats::divergences).sum())
    }
    /// Seconds spent in warm-up and in sampling.
    pub fn seconds(&self) -> Result<(f64, f64)> {
        let r = self.result()?;
        Ok((r.warmup_seconds, r.sampling_seconds))
    }
    /// Mean, sd, median, HPDI of mass `prob`, bulk and tail ESS and split R-hat of every site.
    pub fn summary(&self, prob: f64) -> Result<IndexMap<String, PosteriorSummary>> {
        summary(&self.result()?.samples, prob, true)
    }
    /// The summary table as NumPyro's `print_summary` prints it (with `prob = 0.89`), followed by
    /// the number of divergences.
    pub fn summary_table(&self) -> Result<String> {
        let table = crate::summary::format_summary(&self.summary(0.89)?, 0.89);
        Ok(format!("{table}\nNumber of divergences: {}\n", self.divergences()?))
    }

    fn chain_seed(&self, chain: usize) -> u64 {
        splitmix64(self.seed ^ splitmix64(chain as u64 + 1))
    }

    fn samplers(&self, dim: usize) -> Result<Vec<Sampler>> {
        (0..self.num_chains).map(|c| Sampler::new(self.kernel.algorithm.clone(), dim, self.num_warmup, self.chain_seed(c))).collect()
    }

    fn bars(&self) -> (MultiProgress, Vec<ProgressBar>) {
        let multi = MultiProgress::with_draw_target(if self.progress { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
        let style = ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} {msg} [{elapsed}<{eta}]").unwrap_or_else(|_| ProgressStyle::default_bar());
        let bars = (0..self.num_chains)
            .map(|c| {
                let bar = multi.add(ProgressBar::new((self.num_warmup + self.num_samples) as u64));
                bar.set_style(style.clone());
                bar.set_prefix(format!("chain {c}"));
                bar
            })
            .collect();
        (multi, bars)
    }

    /// The chains, each at its initial point, with the stuck-chain check's window when it
    /// applies (two chains or more, [`relocate_stuck_chains`](Self::relocate_stuck_chains)).
    fn chain_runs(&self, dim: usize, inits: Vec<Vec<f64>>) -> Result<Vec<ChainRun>> {
        let window = if self.relocate_stuck_chains && self.num_chains > 1 { stuck_chains::check_window(self.num_warmup) } else { None };
        Ok(self.samplers(dim)?.into_iter().zip(inits).map(|(s, z0)| ChainRun::new(s, z0, self.num_warmup, self.num_samples, window.clone())).collect())
    }

    /// Runs the chains one after the other, or vectorised, as far as the stuck-chain check,
    /// then (stuck chains moved) to the end.
    /// `one_by_one` runs vectorised chains one after the other (for a compiled potential, whose
    /// evaluations cost less than the lockstep would; the draws are the same).
    fn run_chains(&self, potential: &mut dyn BatchPotential, inits: Vec<Vec<f64>>, layout: Option<&LatentLayout>, one_by_one: bool) -> Result<Run> {
        let dim = potential.dim();
        let mut runs = self.chain_runs(dim, inits)?;
        let (_multi, bars) = self.bars();
        let concurrent = self.chain_method == ChainMethod::Vectorized && !one_by_one;
        let meeting = runs[0].meeting();
        for until in meeting.into_iter().chain([usize::MAX]) {
            if concurrent {
                runs = vectorized(runs, potential, until, &bars)?;
            } else {
                for (run, bar) in runs.iter_mut().zip(&bars) {
                    run.advance(&mut Single(&mut *potential), until, bar)?;
                }
            }
            if Some(until) == meeting {
                relocate_stuck(&mut runs)?;
            }
        }
        let outputs: Vec<ChainOutput> = runs.into_iter().zip(&bars).map(|(run, bar)| run.finish(bar)).collect();
        note_failures(&outputs);
        collect(outputs, dim, layout, concurrent)
    }
}

/// Chains stuck in a minor mode (see [`stuck_chains`]) continue from healthy chains' states.
fn relocate_stuck(runs: &mut [ChainRun]) -> Result<()> {
    let log_masses: Vec<Option<f64>> = runs.iter().map(ChainRun::window_log_mass).collect();
    for (chain, donor) in donors(&log_masses).into_iter().enumerate() {
        if let Some(donor) = donor {
            let state = runs[donor].sampler().clone();
            relocate(&mut runs[chain], chain, donor, &state, &log_masses)?;
        }
    }
    Ok(())
}

/// Chain `chain` continues from chain `donor`'s `state`, with a note.
fn relocate(run: &mut ChainRun, chain: usize, donor: usize, state: &Sampler, log_masses: &[Option<f64>]) -> Result<()> {
    let best = log_masses.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
    let gap = best - log_masses[chain].unwrap_or(f64::NAN);
    let place = if gap.is_finite() {
        format!("in a region holding about e^-{gap:.0} of the mass of the best chain's region (a minor mode)")
    } else {
        "without moving".to_string()
    };
    eprintln!(
        "note: chain {chain} spent warm-up {place}: it continues from chain {donor}'s state \
         (`relocate_stuck_chains(false)` leaves stuck chains where they are)"
    );
    run.continue_from(donor, state)
}

/// Where chains on threads of their own meet for the stuck-chain check: each waits until
/// every chain has arrived (or its thread has ended), then learns whether to continue from
/// another chain's state.
struct Rendezvous {
    chains: usize,
    meeting: Mutex<Meeting>,
    all_here: Condvar,
}

/// What the chains brought to the meeting.
struct Meeting {
    here: usize,
    log_masses: Vec<Option<f64>>,
    states: Vec<Option<Sampler>>,
}

impl Rendezvous {
    fn new(chains: usize) -> Rendezvous {
        Rendezvous { chains, meeting: Mutex::new(Meeting { here: 0, log_masses: vec![None; chains], states: vec![None; chains] }), all_here: Condvar::new() }
    }

    /// Chain `chain` arrives with its run; once all are here, the donor it should continue
    /// from (with the donor's state and every chain's estimate), if it is stuck.
    fn arrive(&self, chain: usize, run: &ChainRun) -> Option<(usize, Sampler, Vec<Option<f64>>)> {
        let mut m = self.meeting.lock().unwrap_or_else(PoisonError::into_inner);
        m.log_masses[chain] = run.window_log_mass();
        m.states[chain] = Some(run.sampler().clone());
        m.here += 1;
        self.all_here.notify_all();
        while m.here < self.chains {
            m = self.all_here.wait(m).unwrap_or_else(PoisonError::into_inner);
        }
        let donor = donors(&m.log_masses)[chain]?;
        Some((donor, m.states[donor].clone()?, m.log_masses.clone()))
    }

    /// A chain whose thread ended before the meeting (an error): counted as here, with nothing.
    fn leave(&self) {
        let mut m = self.meeting.lock().unwrap_or_else(PoisonError::into_inner);
        m.here += 1;
        self.all_here.notify_all();
    }
}

/// A chain's place at the [`Rendezvous`]: given up (so that the others do not wait for it)
/// if its thread ends without coming.
struct Seat<'r> {
    rendezvous: &'r Rendezvous,
    chain: usize,
    taken: bool,
}

impl Seat<'_> {
    fn arrive(&mut self, run: &ChainRun) -> Option<(usize, Sampler, Vec<Option<f64>>)> {
        self.taken = true;
        self.rendezvous.arrive(self.chain, run)
    }
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        if !self.taken {
            self.rendezvous.leave();
        }
    }
}

/// One chain on a thread of its own: as far as the meeting, where it may be moved, then to the
/// end.
fn run_chain_meeting(mut run: ChainRun, potential: &mut dyn Potential, seat: &mut Seat, bar: &ProgressBar) -> Result<ChainOutput> {
    if let Some(until) = run.meeting() {
        run.advance(potential, until, bar)?;
        if let Some((donor, state, log_masses)) = seat.arrive(&run) {
            relocate(&mut run, seat.chain, donor, &state, &log_masses)?;
        }
    }
    run.advance(potential, usize::MAX, bar)?;
    Ok(run.finish(bar))
}

/// One note for a run whose chains rejected points where the model failed.
fn note_failures(outputs: &[ChainOutput]) {
    let failures: usize = outputs.iter().map(|o| o.stats.failures).sum();
    if let Some(first) = outputs.iter().find_map(|o| o.stats.first_failure.as_deref()) {
        eprintln!("note: {failures} proposal(s) rejected as divergent transitions: the model failed there (the first: {first})");
    }
}

impl<'a, M: ?Sized> Mcmc<ModelTarget<'a, M>> {
    /// Runs warm-up and sampling on the model with arguments `args` (sequential or vectorised
    /// chains; for threads see [`run_parallel`](Self::run_parallel)).
    ///
    /// # Errors
    /// [`PyriteError::InvalidInput`] for zero chains or samples, a target acceptance outside
    /// (0, 1), a non-positive step size, or [`ChainMethod::Parallel`] (which needs
    /// `run_parallel`); [`PyriteError::Enumerate`] naming a discrete latent site that is not
    /// marked for enumeration; [`PyriteError::NonFinite`] naming the sites whose log-density is
    /// not finite at each of 100 initial points; the model's errors.
    pub fn run<A: ?Sized, R>(&mut self, args: &A) -> Result<()>
    where
        M: Fn(&A) -> Result<R>,
    {
        self.check_settings()?;
        if self.chain_method == ChainMethod::Parallel {
            return Err(PyriteError::InvalidInput {
                what: "chain method".into(),
                problem: "parallel chains run the model on several threads, each with its own copy of the arguments: \
                          call `run_parallel(|| make_args())`"
                    .into(),
            });
        }
        let model = self.kernel.target.model;
        let program = || model(args).map(drop);
        let (layout, _) = LatentLayout::discover(&program, &InitStrategy::Feasible)?;
        let inits = model_inits(&program, &layout, &self.kernel.target.init, self.num_chains, |c| self.chain_seed(c))?;
        let mut potential = ModelPotential::new(&program, &layout);
        let compiled = if self.kernel.target.compiled { CompiledPotential::new(&mut potential, &inits[0])? } else { None };
        let is_compiled = compiled.is_some();
        let mut run = match compiled {
            Some(mut compiled) => {
                let mut eager = ModelPotential::new(&program, &layout);
                self.run_chains(&mut Looped(&mut compiled.explained_by(&mut eager)), inits, Some(&layout), true)?
            }
            None => self.run_chains(&mut potential, inits, Some(&layout), false)?,
        };
        for c in &mut run.chains {
            c.compiled = is_compiled;
        }
        self.run = Some(run);
        Ok(())
    }

    /// Runs the chains on one thread each. Every thread builds its own arguments with
    /// `make_args` (tensors cannot be shared between threads), then runs the model's chain
    /// exactly as [`run`](Self::run) would: a seeded run gives the same draws as a sequential
    /// one. The model must be shareable (`Sync`: a function, or a closure that captures no
    /// tensors); params it reads come from each thread's own param store.
    pub fn run_parallel<A, R>(&mut self, make_args: impl Fn() -> A + Sync) -> Result<()>
    where
        M: Fn(&A) -> Result<R> + Sync,
    {
        self.check_settings()?;
        // one intra-op thread per chain: libtorch's pool, shared by all threads, would spin
        let threads = tch::get_num_threads();
        tch::set_num_threads(1);
        let out = self.run_threads(make_args);
        tch::set_num_threads(threads);
        out
    }

    fn run_threads<A, R>(&mut self, make_args: impl Fn() -> A + Sync) -> Result<()>
    where
        M: Fn(&A) -> Result<R> + Sync,
    {
        let model = self.kernel.target.model;
        let args = make_args();
        let program = || model(&args).map(drop);
        let (layout, _) = LatentLayout::discover(&program, &InitStrategy::Feasible)?;
        let inits = model_inits(&program, &layout, &self.kernel.target.init, self.num_chains, |c| self.chain_seed(c))?;
        let dim = layout.dim();
        let runs = self.chain_runs(dim, inits)?;
        let (_multi, bars) = self.bars();
        let compiled = self.kernel.target.compiled;
        let rendezvous = Rendezvous::new(self.num_chains);
        let outputs: Vec<Result<ChainOutput>> = std::thread::scope(|scope| {
            let handles: Vec<_> = runs
                .into_iter()
                .zip(&bars)
                .enumerate()
                .map(|(chain, (run, bar))| {
                    let (make_args, rendezvous) = (&make_args, &rendezvous);
                    scope.spawn(move || -> Result<ChainOutput> {
                        let mut seat = Seat { rendezvous, chain, taken: false };
                        let args = make_args();
                        let program = || model(&args).map(drop);
                        let (layout, _) = LatentLayout::discover(&program, &InitStrategy::Feasible)?;
                        let mut potential = ModelPotential::new(&program, &layout);
                        // Each thread compiles (the kernel comes from the cache after the first).
                        let (mut out, compiled) = match if compiled { CompiledPotential::new(&mut potential, run.initial_point())? } else { None } {
                            Some(mut compiled) => (run_chain_meeting(run, &mut compiled.explained_by(&mut potential), &mut seat, bar)?, true),
                            None => (run_chain_meeting(run, &mut potential, &mut seat, bar)?, false),
                        };
                        out.stats.compiled = compiled;
                        Ok(out)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(PyriteError::Model("a chain's thread panicked".into())))).collect()
        });
        let outputs = outputs.into_iter().collect::<Result<Vec<_>>>()?;
        note_failures(&outputs);
        self.run = Some(collect(outputs, dim, Some(&layout), true)?);
        Ok(())
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> Mcmc<PotentialTarget<F>> {
    /// Runs warm-up and sampling on the potential function; the draws are the site `"z"`,
    /// `[chains, samples, dim]` by chain.
    ///
    /// # Errors
    /// As [`Mcmc::run`] for models; [`PyriteError::NonFinite`] if the potential or its gradient
    /// is not finite at the initial point.
    pub fn run(&mut self) -> Result<()> {
        self.check_settings()?;
        let f: &dyn Fn(&Tensor) -> Result<Tensor> = &self.kernel.target.potential;
        let init = self.kernel.target.init.shallow_clone();
        let mut potential = TensorPotential::new(f, &init);
        let z0 = Vec::<f64>::try_from(init.to_kind(tch::Kind::Double).to_device(tch::Device::Cpu))?;
        let mut grad = vec![0.0; z0.len()];
        let e = potential.energy_and_grad(&z0, &mut grad)?;
        if !e.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return Err(PyriteError::NonFinite { site: "<initial point>".into(), what: "the potential energy or its gradient".into() });
        }
        let inits = vec![z0; self.num_chains];
        let mut batch = Looped(&mut potential);
        let run = self.run_chains(&mut batch, inits, None, false)?;
        self.run = Some(run);
        Ok(())
    }
}

/// The chains' initial points: the init strategy's values under a seed of each chain's own,
/// retried (up to [`MAX_INIT_ATTEMPTS`]) while the potential or its gradient is not finite.
fn model_inits(
    program: &dyn Fn() -> Result<()>,
    layout: &LatentLayout,
    init: &InitStrategy,
    chains: usize,
    chain_seed: impl Fn(usize) -> u64,
) -> Result<Vec<Vec<f64>>> {
    let mut potential = ModelPotential::new(program, layout);
    let mut grad = vec![0.0; layout.dim()];
    let mut inits = Vec::with_capacity(chains);
    for c in 0..chains {
        let mut last = Vec::new();
        let mut failure = None;
        let mut found = None;
        for attempt in 0..MAX_INIT_ATTEMPTS {
            // A point where the model fails (an error) is tried again elsewhere, as one where it
            // is not finite: only failing at every point is an error.
            let tried = seed(splitmix64(chain_seed(c) ^ attempt), || LatentLayout::discover(program, init))
                .and_then(|(_, z)| potential.energy_and_grad(&z, &mut grad).map(|e| (z, e)));
            match tried {
                Ok((z, e)) if e.is_finite() && grad.iter().all(|g| g.is_finite()) => {
                    found = Some(z);
                    break;
                }
                Ok((z, _)) => last = z,
                Err(e) => failure = Some(e),
            }
        }
        match (found, failure) {
            (Some(z), _) => inits.push(z),
            (None, Some(e)) if last.is_empty() => return Err(e),
            (None, _) => {
                let sites = potential.non_finite_sites(&last);
                return Err(PyriteError::NonFinite {
                    site: if sites.is_empty() { "<initial point>".into() } else { sites.join("`, `") },
                    what: format!("the log-density (or its gradient) at each of {MAX_INIT_ATTEMPTS} initial points"),
                });
            }
        }
    }
    Ok(inits)
}

/// The chains' draws, constrained and grouped by chain, and their statistics. `concurrent`:
/// the chains ran at the same time (phase times are the longest chain's, not the sum).
fn collect(outputs: Vec<ChainOutput>, dim: usize, layout: Option<&LatentLayout>, concurrent: bool) -> Result<Run> {
    let chains = outputs.len() as i64;
    let draws = (outputs[0].positions.len() / dim.max(1)) as i64;
    let all: Vec<f64> = outputs.iter().flat_map(|o| o.positions.iter().copied()).collect();
    let flat = match layout {
        Some(l) => l.constrain(&all, chains * draws)?,
        None => IndexMap::from([("z".to_string(), Tensor::f_from_slice(&all)?.f_reshape([chains * draws, dim as i64])?)]),
    };
    let samples = flat
        .into_iter()
        .map(|(k, v)| {
            let mut shape = vec![chains, draws];
            shape.extend_from_slice(&v.size()[1..]);
            (k, v.reshape(shape.as_slice()))
        })
        .collect();
    let phase = |f: fn(&ChainOutput) -> f64| -> f64 {
        let times = outputs.iter().map(f);
        if concurrent {
            times.fold(0.0, f64::max)
        } else {
            times.sum()
        }
    };
    let (warmup_seconds, sampling_seconds) = (phase(|o| o.warmup_seconds), phase(|o| o.sampling_seconds));
    let divergent: usize = outputs.iter().map(|o| o.stats.divergences()).sum();
    if divergent > 0 {
        eprintln!(
            "warning: {divergent} of {} transitions after warm-up diverged: the draws may be biased; raise target_accept, \
             or reparameterise the model (a non-centred parameterisation for hierarchical scales)",
            chains * draws
        );
    }
    Ok(Run { samples, chains: outputs.into_iter().map(|o| o.stats).collect(), warmup_seconds, sampling_seconds })
}

/// A potential that can evaluate several chains' points at once.
trait BatchPotential {
    fn dim(&self) -> usize;
    /// Energies of `chains` points laid row by row in `z`; gradients likewise into `grads`.
    fn evaluate(&mut self, z: &[f64], grads: &mut [f64], chains: usize) -> Result<Vec<f64>>;
}

impl BatchPotential for ModelPotential<'_> {
    fn dim(&self) -> usize {
        Potential::dim(self)
    }
    /// All chains in one run of the model when it broadcasts over a batch of chains; a model
    /// that does not is found on the first batched evaluation and evaluated chain by chain from
    /// then on, with a one-line note: one that fails on the batch (indexing its sites along dim
    /// 0, say), and one whose batched energies or gradients differ from its chain-by-chain ones
    /// (a term that mixes chains, such as a sum over all dims), which would otherwise sample the
    /// wrong posterior without a word.
    fn evaluate(&mut self, z: &[f64], grads: &mut [f64], chains: usize) -> Result<Vec<f64>> {
        if chains == 1 || self.batching == Some(false) {
            return Looped(self).evaluate(z, grads, chains);
        }
        match self.energies_and_grads(z, grads, chains) {
            Ok(energies) if self.batching == Some(true) => Ok(energies),
            Ok(energies) => {
                let mut one_by_one_grads = vec![0.0; grads.len()];
                let one_by_one = Looped(self).evaluate(z, &mut one_by_one_grads, chains)?;
                if agree(&energies, &one_by_one) && agree(grads, &one_by_one_grads) {
                    self.batching = Some(true);
                    return Ok(energies);
                }
                eprintln!(
                    "note: vectorized chains: the model's log-density over a batch of chains differs from its value chain by chain \
                     (a term that mixes chains, such as a sum over all dims instead of the last); evaluating the chains one at a time"
                );
                self.batching = Some(false);
                grads.copy_from_slice(&one_by_one_grads);
                Ok(one_by_one)
            }
            Err(e) if self.batching.is_none() => {
                eprintln!("note: vectorized chains: the model does not broadcast over a batch of chains ({e}); evaluating the chains one at a time");
                self.batching = Some(false);
                Looped(self).evaluate(z, grads, chains)
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether a batched evaluation's figures are the chain-by-chain ones, up to the rounding of
/// sums taken in another order (single precision included); non-finite figures must match.
fn agree(batched: &[f64], one_by_one: &[f64]) -> bool {
    batched.iter().zip(one_by_one).all(|(&a, &b)| {
        if a.is_finite() && b.is_finite() {
            (a - b).abs() <= 1e-5 * (1.0 + a.abs().max(b.abs()))
        } else {
            a == b || (a.is_nan() && b.is_nan())
        }
    })
}

/// A single-point potential evaluated chain by chain.
struct Looped<'p, P: Potential>(&'p mut P);

impl<P: Potential> BatchPotential for Looped<'_, P> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn evaluate(&mut self, z: &[f64], grads: &mut [f64], chains: usize) -> Result<Vec<f64>> {
        let d = self.0.dim();
        (0..chains).map(|c| self.0.energy_and_grad(&z[c * d..(c + 1) * d], &mut grads[c * d..(c + 1) * d])).collect()
    }
}

/// A batch potential seen as a single-point one (for sequential chains).
struct Single<'p>(&'p mut dyn BatchPotential);

impl Potential for Single<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64> {
        Ok(self.0.evaluate(z, grad, 1)?[0])
    }
}

/// A chain's view of the shared evaluator: each evaluation is a request answered once every
/// running chain has asked for one.
struct Proxy {
    chain: usize,
    dim: usize,
    requests: mpsc::Sender<(usize, Option<Vec<f64>>)>,
    answers: mpsc::Receiver<Result<(f64, Vec<f64>)>>,
}

impl Potential for Proxy {
    fn dim(&self) -> usize {
        self.dim
    }
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64> {
        let gone = || PyriteError::Model("the vectorised evaluator stopped".into());
        self.requests.send((self.chain, Some(z.to_vec()))).map_err(|_| gone())?;
        let (energy, g) = self.answers.recv().map_err(|_| gone())??;
        grad.copy_from_slice(&g);
        Ok(energy)
    }
}

/// Tells the evaluator that a chain is done, however its thread ends.
struct Finished {
    chain: usize,
    requests: mpsc::Sender<(usize, Option<Vec<f64>>)>,
}

impl Drop for Finished {
    fn drop(&mut self) {
        let _ = self.requests.send((self.chain, None));
    }
}

/// Vectorised chains: each chain's sampler runs on a thread of its own (plain arithmetic), and
/// this thread evaluates the potential of all chains waiting for one in a single batched call
/// (the model runs here: its tensors never cross threads). Runs each chain as far as `until`.
fn vectorized(runs: Vec<ChainRun>, potential: &mut dyn BatchPotential, until: usize, bars: &[ProgressBar]) -> Result<Vec<ChainRun>> {
    let n = runs.len();
    let dim = potential.dim();
    let (requests, incoming) = mpsc::channel();
    std::thread::scope(|scope| {
        let mut answer_to = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for (chain, (mut run, bar)) in runs.into_iter().zip(bars).enumerate() {
            let (answer, answers) = mpsc::channel();
            answer_to.push(answer);
            let requests = requests.clone();
            handles.push(scope.spawn(move || {
                let _finished = Finished { chain, requests: requests.clone() };
                let mut proxy = Proxy { chain, dim, requests, answers };
                run.advance(&mut proxy, until, bar).map(|()| run)
            }));
        }
        drop(requests);
        let mut pending: Vec<Option<Vec<f64>>> = vec![None; n];
        let mut running = n;
        let mut waiting = 0;
        let mut grads = vec![0.0; n * dim];
        while running > 0 {
            let Ok((chain, request)) = incoming.recv() else { break };
            match request {
                Some(z) => {
                    pending[chain] = Some(z);
                    waiting += 1;
                }
                None => running -= 1,
            }
            if waiting == 0 || waiting < running {
                continue;
            }
            let chains: Vec<usize> = (0..n).filter(|&c| pending[c].is_some()).collect();
            let z: Vec<f64> = chains.iter().flat_map(|&c| pending[c].take().unwrap_or_default()).collect();
            let g = &mut grads[..chains.len() * dim];
            match potential.evaluate(&z, g, chains.len()) {
                Ok(energies) => {
                    for (i, &c) in chains.iter().enumerate() {
                        let _ = answer_to[c].send(Ok((energies[i], g[i * dim..(i + 1) * dim].to_vec())));
                    }
                }
                // One chain's point may be where the model fails: each chain on its own, so that
                // the failure is that chain's alone.
                Err(_) if chains.len() > 1 => {
                    for (i, &c) in chains.iter().enumerate() {
                        let (zc, gc) = (&z[i * dim..(i + 1) * dim], &mut g[i * dim..(i + 1) * dim]);
                        let _ = answer_to[c].send(potential.evaluate(zc, gc, 1).map(|e| (e[0], gc.to_vec())));
                    }
                }
                Err(e) => {
                    let _ = answer_to[chains[0]].send(Err(e));
                }
            }
            waiting = 0;
        }
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(PyriteError::Model("a chain's thread panicked".into())))).collect::<Result<Vec<_>>>()
    })
}

/// SplitMix64: a well-mixed 64-bit hash, for per-chain seeds.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
