//! `DistributedSvi`: SVI whose ranks step in lockstep, on the mean gradient of all ranks.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pyrite_core::PyriteError;
use pyrite_infer::svi::Svi;
use tch::Tensor;

use crate::error::{Error, Fault, Result};
use crate::group::ProcessGroup;
use crate::sync::{GradientSync, Shared};

/// Data-parallel SVI, as Pyro's `HorovodOptimizer` gives it: every rank runs the same model and
/// guide on its own rows (see [`Shard`](crate::Shard)), and before each update the gradients of
/// all ranks are averaged (one all-reduce of a flat buffer: summed, then divided by the world
/// size), so that every rank keeps identical params.
///
/// * Params created on the first step take rank 0's values, after a check that every rank has
///   the same param names, shapes and dtypes ([`Error::ParamMismatch`] names the first
///   difference, on every rank); where any rank's values changed, the step is computed again.
/// * The loss returned on every rank is the mean over the ranks.
/// * A rank whose step fails (an error, a non-finite loss or gradient) makes every rank fail at
///   that step ([`Error::PeerFailed`] on the others); a rank that dies makes the others fail
///   within the group's timeout.
/// * Rank 0 writes checkpoints ([`save`](Self::save)); every rank can [`load`](Self::load).
/// * Only rank 0 shows a progress bar.
///
/// ```no_run
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use pyrite_distributed::{DistributedSvi, ProcessGroup, Shard};
/// use tch::{Device, Kind, Tensor};
///
/// let pg = ProcessGroup::from_env()?;                      // started by torchrun
/// let x = Tensor::randn([10_000], (Kind::Float, Device::Cpu)) + 3.0; // the whole data set
/// let shard = Shard::of(&pg, x.size()[0])?;
/// let mine = shard.rows(&x)?;                              // this rank's rows
/// let model = |(x, idx): &(Tensor, Tensor)| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
///     // The plate has the whole data set's size; this rank's rows are its subsample.
///     Plate::new("data", shard.total).subsample(idx).run(|_| observe("obs", Normal::new(&mu, 1.0)?, x).map(drop))
/// };
/// let guide = AutoNormal::new(&model, &(mine.shallow_clone(), Tensor::arange(shard.len, (Kind::Int64, Device::Cpu)) + shard.start))?;
/// let svi = Svi::new(&model, &guide, Optimizer::adam(0.05), TraceElbo::new());
/// let mut svi = DistributedSvi::new(svi, &pg);
/// let mut batches = shard.minibatches(500)?;
/// for _ in 0..1000 {
///     let b = batches.next_batch();
///     svi.step(&(mine.index_select(0, &b.local), b.global))?;
/// }
/// svi.save("checkpoint.json")?;                           // written by rank 0
/// # Ok::<(), pyrite_distributed::Error>(())
/// ```
pub struct DistributedSvi<'a, A: ?Sized> {
    svi: Svi<'a, A>,
    pg: ProcessGroup,
    shared: Arc<Shared>,
}

impl<'a, A: ?Sized> DistributedSvi<'a, A> {
    /// Makes `svi` step in lockstep with the other ranks of `pg`.
    pub fn new(mut svi: Svi<'a, A>, pg: &ProcessGroup) -> Self {
        let shared = Arc::new(Shared::default());
        svi.set_sync(Box::new(GradientSync::new(pg.clone(), Arc::clone(&shared))));
        svi.progress &= pg.rank() == 0;
        DistributedSvi { svi, pg: pg.clone(), shared }
    }

    /// One step on every rank; returns the mean loss over the ranks.
    ///
    /// # Errors
    ///
    /// This rank's own step error ([`Error::Pyrite`]); [`Error::PeerFailed`] when another rank's
    /// step failed; [`Error::ParamMismatch`] when the ranks' params differ;
    /// [`Error::Timeout`], [`Error::PeerLost`] or another communication error when a rank is
    /// gone. The params are left as they were.
    pub fn step(&mut self, args: &A) -> Result<f64> {
        self.shared.take_error();
        self.svi.step(args).map_err(|e| self.typed(e))
    }

    /// `steps` steps (a progress bar on rank 0); returns the mean losses.
    ///
    /// # Errors
    ///
    /// As [`step`](Self::step).
    pub fn run(&mut self, steps: usize, args: &A) -> Result<Vec<f64>> {
        self.shared.take_error();
        self.svi.run(steps, args).map_err(|e| self.typed(e))
    }

    /// The typed error behind `e`: the hook's, when `e` came from it.
    fn typed(&self, e: PyriteError) -> Error {
        match self.shared.take_error() {
            Some(typed) if typed.to_pyrite().to_string() == e.to_string() => typed,
            _ => Error::Pyrite(e),
        }
    }

    /// Rank 0 saves the params and the optimizer state (as `Svi::save`); every rank returns once
    /// the file is written, or fails with rank 0 if it could not be.
    ///
    /// # Errors
    ///
    /// Rank 0's I/O error there ([`Error::Pyrite`]), [`Error::PeerFailed`] on the other ranks;
    /// communication errors.
    pub fn save(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let out = if self.pg.rank() == 0 { self.svi.save(path) } else { Ok(()) };
        self.together(out)
    }

    /// Every rank restores params and optimizer state from a file saved by [`save`](Self::save)
    /// (on a file system every rank sees); if any rank cannot, every rank fails.
    ///
    /// # Errors
    ///
    /// This rank's error reading the file ([`Error::Pyrite`]), [`Error::PeerFailed`] where
    /// another rank failed; communication errors.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let out = self.svi.load(path);
        self.together(out)
    }

    /// Every rank's outcome of a local action, so that all fail if any failed.
    fn together(&self, out: pyrite_core::Result<()>) -> Result<()> {
        let mut failed = Tensor::zeros([self.pg.world_size() as i64], (tch::Kind::Float, tch::Device::Cpu));
        if out.is_err() {
            let _ = failed.get(self.pg.rank() as i64).fill_(1.0);
        }
        self.pg.all_reduce_sum(&mut failed)?;
        out?;
        let failed = Vec::<f32>::try_from(&failed).map_err(|e| Error::Pyrite(e.into()))?;
        let faults: Vec<(usize, Fault)> = failed.iter().enumerate().filter(|(_, f)| **f > 0.0).map(|(r, _)| (r, Fault::Error)).collect();
        if faults.is_empty() {
            Ok(())
        } else {
            Err(Error::PeerFailed { faults })
        }
    }

    /// The SVI inside (its optimizer, `evaluate_loss` on this rank's data).
    pub fn svi(&self) -> &Svi<'a, A> {
        &self.svi
    }

    /// The SVI inside, mutably.
    pub fn svi_mut(&mut self) -> &mut Svi<'a, A> {
        &mut self.svi
    }

    /// The process group.
    pub fn group(&self) -> &ProcessGroup {
        &self.pg
    }

    /// Whether this rank writes files (checkpoints, summaries): rank 0.
    pub fn is_writer(&self) -> bool {
        self.pg.rank() == 0
    }

    /// Time spent in the steps' collectives so far, waiting for slower ranks included.
    pub fn comm_time(&self) -> Duration {
        *self.shared.comm.lock().unwrap_or_else(|e| e.into_inner())
    }
}
