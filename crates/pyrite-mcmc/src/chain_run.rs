//! One chain's warm-up and sampling, run in stretches ([`ChainRun::advance`]) so that the
//! chains can meet between them for the stuck-chain check ([`crate::stuck_chains`]).

use std::ops::Range;
use std::time::Instant;

use indicatif::ProgressBar;
use pyrite_core::prelude::*;

use crate::mcmc::ChainStats;
use crate::potential::Potential;
use crate::rejecting::Rejecting;
use crate::sampler::{Sampler, StepInfo};
use crate::stuck_chains::WindowDraws;

/// One chain's output.
pub(crate) struct ChainOutput {
    pub(crate) positions: Vec<f64>,
    pub(crate) stats: ChainStats,
    pub(crate) warmup_seconds: f64,
    pub(crate) sampling_seconds: f64,
}

/// A chain part-way through its run.
pub(crate) struct ChainRun {
    sampler: Sampler,
    z0: Vec<f64>,
    started: bool,
    next: usize,
    warmup: usize,
    samples: usize,
    out: ChainOutput,
    /// The acceptance sum and divergences of the current phase (for the progress bar).
    accept_sum: f64,
    divergences: usize,
    /// The warm-up iterations whose draws the stuck-chain check compares, and those draws.
    check_window: Option<Range<usize>>,
    window: WindowDraws,
}

impl ChainRun {
    /// A chain that starts at `z0` and runs `warmup` adapting steps, then `samples` draws;
    /// `check_window`: the warm-up iterations whose draws it keeps for the stuck-chain check.
    pub(crate) fn new(sampler: Sampler, z0: Vec<f64>, warmup: usize, samples: usize, check_window: Option<Range<usize>>) -> ChainRun {
        let dim = z0.len();
        ChainRun {
            sampler,
            z0,
            started: false,
            next: 0,
            warmup,
            samples,
            out: ChainOutput { positions: Vec::with_capacity(samples * dim), stats: ChainStats::default(), warmup_seconds: 0.0, sampling_seconds: 0.0 },
            accept_sum: 0.0,
            divergences: 0,
            check_window,
            window: WindowDraws::new(dim),
        }
    }

    /// Where the chain starts.
    pub(crate) fn initial_point(&self) -> &[f64] {
        &self.z0
    }

    /// The iteration before which the chains meet for the stuck-chain check, if they do.
    pub(crate) fn meeting(&self) -> Option<usize> {
        self.check_window.as_ref().map(|w| w.end)
    }

    /// The total number of iterations, warm-up and draws.
    pub(crate) fn len(&self) -> usize {
        self.warmup + self.samples
    }

    /// Runs the iterations before `until` that are still to run; the progress bar shows the
    /// step size, the acceptance rate and the divergences so far. A failure of the model at a
    /// proposed point rejects it (a divergence); the initial point is one where it does not
    /// fail (see `model_inits`).
    pub(crate) fn advance(&mut self, potential: &mut dyn Potential, until: usize, bar: &ProgressBar) -> Result<()> {
        let mut potential = Rejecting::new(potential);
        let mut mark = Instant::now();
        if !self.started {
            self.sampler.init(&mut potential, &self.z0)?;
            self.started = true;
        }
        let until = until.min(self.len());
        while self.next < until {
            let i = self.next;
            if i == self.warmup {
                self.out.warmup_seconds += mark.elapsed().as_secs_f64();
                mark = Instant::now();
                (self.accept_sum, self.divergences) = (0.0, 0);
            }
            let info: StepInfo = self.sampler.step(&mut potential)?;
            self.accept_sum += info.accept_prob;
            self.divergences += usize::from(info.diverging);
            if i < self.warmup {
                self.out.stats.warmup_divergences += usize::from(info.diverging);
                if self.check_window.as_ref().is_some_and(|w| w.contains(&i)) {
                    self.window.push(info.potential_energy, self.sampler.position());
                }
            } else {
                self.out.positions.extend_from_slice(self.sampler.position());
                let s = &mut self.out.stats;
                s.diverging.push(info.diverging);
                s.accept_prob.push(info.accept_prob);
                s.tree_depth.push(info.tree_depth);
                s.num_leapfrog.push(info.num_leapfrog);
                s.potential_energy.push(info.potential_energy);
            }
            bar.inc(1);
            if i.is_multiple_of(25) || i + 1 == self.len() {
                let phase = if i < self.warmup { "warmup" } else { "sample" };
                let n = if i < self.warmup { i + 1 } else { i + 1 - self.warmup };
                bar.set_message(format!("{phase} step size {:.3e} acc. {:.2} div. {}", info.step_size, self.accept_sum / n as f64, self.divergences));
            }
            self.next += 1;
        }
        let stretch = mark.elapsed().as_secs_f64();
        if self.next <= self.warmup {
            self.out.warmup_seconds += stretch;
        } else {
            self.out.sampling_seconds += stretch;
        }
        let stats = &mut self.out.stats;
        stats.failures += potential.failures();
        stats.grad_evals += potential.evaluations();
        if stats.first_failure.is_none() {
            stats.first_failure = potential.first_failure().map(str::to_string);
        }
        Ok(())
    }

    /// The estimated log mass of the region the chain explored in its check window (see
    /// [`WindowDraws::log_mass`]), once the window has run.
    pub(crate) fn window_log_mass(&self) -> Option<f64> {
        self.check_window.as_ref().filter(|w| self.next >= w.end).and_then(|_| self.window.log_mass())
    }

    /// The chain's sampler (its state, adaptation and generator).
    pub(crate) fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    /// Continues from the state of chain `donor` (its sampler `state`): a chain stuck in a
    /// minor mode.
    pub(crate) fn continue_from(&mut self, donor: usize, state: &Sampler) -> Result<()> {
        self.sampler.continue_from(state)?;
        self.out.stats.continued_from = Some(donor);
        Ok(())
    }

    /// The chain's draws and statistics, once it has run to the end.
    pub(crate) fn finish(mut self, bar: &ProgressBar) -> ChainOutput {
        self.out.stats.step_size = self.sampler.step_size();
        bar.finish();
        self.out
    }
}
