//! nutpie's sampler (crates.io `nuts-rs`) on pyrite's potential, for `--sampler nuts-rs` in the
//! posteriordb runner (feature `nuts-rs`): the model's latent sites are laid out and compiled
//! exactly as `Mcmc::run` does (the same initial point for the same seed), the compiled
//! potential is nuts-rs's `CpuLogpFunc` (log-density = minus the energy, gradient negated), and
//! one chain's draws come back constrained, by site, `[1, draws, ...]`, for the same reference
//! check as pyrite's own NUTS.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use nuts_rs::rand::SeedableRng;
use nuts_rs::{Chain, CpuLogpFunc, CpuMath, CpuMathError, DiagNutsSettings, HasDims, LogpError, LowRankNutsSettings, Settings};
use pyrite::mcmc::compiled_potential::CompiledPotential;
use pyrite::mcmc::model_potential::{LatentLayout, ModelPotential};
use pyrite::mcmc::potential::Potential;
use pyrite::prelude::*;

/// nuts-rs's mass-matrix adaptation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adaptation {
    /// nuts-rs's default (nutpie's): a diagonal mass matrix from the variances of the draws and
    /// of the gradients (`use_grad_based_estimate`).
    GradDiag,
    /// A diagonal mass matrix from the draws' variances alone (as Stan and pyrite), in nuts-rs's
    /// windows.
    DrawDiag,
    /// nutpie's low-rank-plus-diagonal mass matrix (`LowRankNutsSettings`).
    LowRank,
}

impl Adaptation {
    /// The adaptation a `--sampler` name asks for: `nuts-rs`, `nuts-rs-draws`, `nuts-rs-lowrank`.
    pub fn from_sampler(name: &str) -> Option<Adaptation> {
        match name {
            "nuts-rs" => Some(Adaptation::GradDiag),
            "nuts-rs-draws" => Some(Adaptation::DrawDiag),
            "nuts-rs-lowrank" => Some(Adaptation::LowRank),
            _ => None,
        }
    }
}

/// One chain's run.
pub struct Outcome {
    /// Constrained draws by site, `[1, draws, ...site shape]`.
    pub samples: Samples,
    /// Whether the potential ran as compiled code (otherwise eagerly, as pyrite falls back).
    pub compiled: bool,
    /// Divergent draws after warm-up.
    pub divergences: usize,
    /// Evaluations of the log-density and its gradient, warm-up included.
    pub grad_evals: usize,
    /// Seconds of warm-up and draws (without the layout, the initial point and the compilation).
    pub chain_seconds: f64,
}

/// A failure at a point (the model's error, or a log-density or gradient that is not finite):
/// nuts-rs takes it as a divergence, as pyrite's `Rejecting` does.
#[derive(Debug)]
pub struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

impl LogpError for Failed {
    fn is_recoverable(&self) -> bool {
        true
    }
}

/// pyrite's potential as nuts-rs's log-density, counting its evaluations.
struct Logp<'p> {
    potential: Box<dyn Potential + 'p>,
    evaluations: Rc<Cell<usize>>,
}

impl HasDims for Logp<'_> {
    fn dim_sizes(&self) -> std::collections::HashMap<String, u64> {
        let d = self.potential.dim() as u64;
        [("unconstrained_parameter".to_string(), d), ("dim".to_string(), d)].into_iter().collect()
    }
}

impl CpuLogpFunc for Logp<'_> {
    type LogpError = Failed;
    type FlowParameters = ();
    type ExpandedVector = Vec<f64>;

    fn dim(&self) -> usize {
        self.potential.dim()
    }

    fn logp(&mut self, position: &[f64], gradient: &mut [f64]) -> Result<f64, Failed> {
        self.evaluations.set(self.evaluations.get() + 1);
        let energy = self.potential.energy_and_grad(position, gradient).map_err(|e| Failed(e.to_string()))?;
        if !energy.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
            return Err(Failed("the log-density or its gradient is not finite".into()));
        }
        for g in gradient.iter_mut() {
            *g = -*g;
        }
        Ok(-energy)
    }

    fn expand_vector<R: nuts_rs::rand::Rng + ?Sized>(&mut self, _rng: &mut R, array: &[f64]) -> std::result::Result<Vec<f64>, CpuMathError> {
        Ok(array.to_vec())
    }
}

/// SplitMix64, as `Mcmc` derives its chains' seeds.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One chain of nuts-rs with `warmup` tuning draws and `draws` draws on `model`'s potential,
/// compiled unless `eager`. The initial point is the one `Mcmc::run` gives chain 0 with `seed`
/// and `init_to_uniform(2)` (`--init uniform`; retried where the potential is not finite).
///
/// # Errors
///
/// The model's errors; [`PyriteError::Model`] for nuts-rs's.
pub fn run(model: &dyn Fn(&()) -> Result<()>, adaptation: Adaptation, warmup: usize, draws: usize, chain_seed: u64, eager: bool) -> Result<Outcome> {
    let program = || model(&());
    let (layout, _) = LatentLayout::discover(&program, &InitStrategy::Feasible)?;
    let mut eager_potential = ModelPotential::new(&program, &layout);
    let chain_seed = splitmix64(chain_seed ^ splitmix64(1));
    let mut grad = vec![0.0; layout.dim()];
    let mut z0 = None;
    for attempt in 0..100 {
        if let Ok((_, z)) = seed(splitmix64(chain_seed ^ attempt), || LatentLayout::discover(&program, &InitStrategy::Uniform(2.0))) {
            if matches!(eager_potential.energy_and_grad(&z, &mut grad), Ok(e) if e.is_finite() && grad.iter().all(|g| g.is_finite())) {
                z0 = Some(z);
                break;
            }
        }
    }
    let z0 = z0.ok_or_else(|| PyriteError::NonFinite { site: "<initial point>".into(), what: "the log-density at each of 100 initial points".into() })?;
    let compiled = if eager { None } else { CompiledPotential::new(&mut eager_potential, &z0)? };
    let is_compiled = compiled.is_some();
    let potential: Box<dyn Potential + '_> = match compiled {
        Some(c) => Box::new(c),
        None => Box::new(eager_potential),
    };
    let evaluations = Rc::new(Cell::new(0));
    let math = CpuMath::new(Logp { potential, evaluations: evaluations.clone() });
    let mut rng = nuts_rs::rand::rngs::StdRng::seed_from_u64(chain_seed);
    let nuts_err = |e: String| PyriteError::Model(format!("nuts-rs: {e}"));
    let start = Instant::now();
    let (positions, divergences) = match adaptation {
        Adaptation::GradDiag | Adaptation::DrawDiag => {
            let mut settings = DiagNutsSettings { num_tune: warmup as u64, num_draws: draws as u64, num_chains: 1, ..DiagNutsSettings::default() };
            settings.adapt_options.mass_matrix_options.use_grad_based_estimate = adaptation == Adaptation::GradDiag;
            let chain = settings.new_chain(0, math, &mut rng).map_err(|e| nuts_err(e.to_string()))?;
            sample(chain, &z0, warmup, draws).map_err(nuts_err)?
        }
        Adaptation::LowRank => {
            let settings = LowRankNutsSettings { num_tune: warmup as u64, num_draws: draws as u64, num_chains: 1, ..LowRankNutsSettings::default() };
            let chain = settings.new_chain(0, math, &mut rng).map_err(|e| nuts_err(e.to_string()))?;
            sample(chain, &z0, warmup, draws).map_err(nuts_err)?
        }
    };
    let chain_seconds = start.elapsed().as_secs_f64();
    let samples = layout
        .constrain(&positions, draws as i64)?
        .into_iter()
        .map(|(site, v)| {
            let mut shape = vec![1, draws as i64];
            shape.extend_from_slice(&v.size()[1..]);
            (site, v.reshape(shape.as_slice()))
        })
        .collect();
    Ok(Outcome { samples, compiled: is_compiled, divergences, grad_evals: evaluations.get(), chain_seconds })
}

/// Tuning then draws of one chain: the draws laid row by row, and the divergences after tuning.
fn sample<M: nuts_rs::Math>(mut chain: impl Chain<M>, z0: &[f64], warmup: usize, draws: usize) -> std::result::Result<(Vec<f64>, usize), String> {
    chain.set_position(z0).map_err(|e| e.to_string())?;
    let mut positions = Vec::with_capacity(draws * z0.len());
    let mut divergences = 0;
    for i in 0..warmup + draws {
        let (draw, info) = chain.draw().map_err(|e| e.to_string())?;
        if i >= warmup {
            positions.extend_from_slice(&draw);
            divergences += usize::from(info.diverging);
        }
    }
    Ok((positions, divergences))
}
