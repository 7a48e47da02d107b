//! The step hook of data-parallel SVI ([`StepSync`] for a [`ProcessGroup`]): every rank's loss,
//! status and param layout in one small all-reduce, then, when all is well, every gradient in
//! one flat buffer, all-reduced (summed, then divided by the world size) before the update.
//!
//! Each step:
//!
//! 1. a header of `2 * world_size + 2` doubles is summed over the ranks: each rank's status
//!    (ok, an error, a non-finite loss or gradient) and a 52-bit hash of its params' names,
//!    shapes and dtypes in its own slots, the losses and the number of ranks that created params;
//! 2. if any rank failed, every rank fails ([`Error::PeerFailed`] where the step was fine);
//! 3. if the hashes differ, rank 0's layout is broadcast, the first rank that differs names the
//!    first difference and broadcasts it, and every rank fails with [`Error::ParamMismatch`];
//! 4. if params were created, rank 0's values are broadcast to all; where any rank's values
//!    changed, the step is computed again with them;
//! 5. the flat gradient is summed over the ranks and divided by the world size.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyrite_core::PyriteError;
use pyrite_infer::svi::{LocalStep, StepSync, SyncedStep};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Fault, Result};
use crate::group::ProcessGroup;

/// What the hook and its [`DistributedSvi`](crate::DistributedSvi) share: the typed error of the
/// last failed step, and the time spent in collectives.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The typed error behind the last `PyriteError` the hook returned.
    pub last_error: Mutex<Option<Error>>,
    /// Time spent in collectives (waiting for slower ranks included).
    pub comm: Mutex<Duration>,
}

impl Shared {
    /// Takes the last typed error, leaving none.
    pub fn take_error(&self) -> Option<Error> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The hook installed in an `Svi` by [`DistributedSvi`](crate::DistributedSvi).
pub(crate) struct GradientSync {
    pg: ProcessGroup,
    shared: Arc<Shared>,
}

/// A param's name, shape and dtype: what every rank must agree on.
#[derive(Debug, Clone, PartialEq)]
struct ParamInfo {
    name: String,
    shape: Vec<i64>,
    kind: Kind,
}

impl GradientSync {
    pub(crate) fn new(pg: ProcessGroup, shared: Arc<Shared>) -> Self {
        GradientSync { pg, shared }
    }

    /// Runs a collective, adding its time to the communication time.
    fn timed<T>(&self, f: impl FnOnce(&ProcessGroup) -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let out = f(&self.pg);
        *self.shared.comm.lock().unwrap_or_else(|e| e.into_inner()) += start.elapsed();
        out
    }

    fn step(&self, local: &LocalStep<'_>) -> Result<SyncedStep> {
        let (w, rank) = (self.pg.world_size(), self.pg.rank());
        let layout: Vec<ParamInfo> = local.params.iter().map(|(name, p)| ParamInfo { name: name.clone(), shape: p.size(), kind: p.kind() }).collect();
        // A failed step has no gradient (and no params).
        let mut flat = flat_gradient(local.params, local.grads);
        let own_fault = match &local.outcome {
            Err(PyriteError::NonFinite { .. }) => Some(Fault::NonFinite),
            Err(_) => Some(Fault::Error),
            Ok(_) if !flat.sum(Kind::Double).double_value(&[]).is_finite() => Some(Fault::NonFinite),
            Ok(_) => None,
        };

        // 1. The header: statuses, layout hashes, losses, params created.
        let mut header = vec![0.0f64; 2 * w + 2];
        header[rank] = match own_fault {
            None => 0.0,
            Some(Fault::Error) => 1.0,
            Some(Fault::NonFinite) => 2.0,
        };
        header[w + rank] = layout_hash(&layout) as f64;
        header[2 * w] = *local.outcome.as_ref().unwrap_or(&0.0);
        header[2 * w + 1] = f64::from(u8::from(local.created_params));
        let mut header_t = Tensor::from_slice(&header);
        self.timed(|pg| pg.all_reduce_sum(&mut header_t))?;
        let header = Vec::<f64>::try_from(&header_t).map_err(|e| Error::Pyrite(e.into()))?;

        // 2. Every rank fails together if any failed.
        let faults: Vec<(usize, Fault)> =
            (0..w).filter(|&r| header[r] != 0.0).map(|r| (r, if header[r] == 2.0 { Fault::NonFinite } else { Fault::Error })).collect();
        if own_fault.is_some() {
            return Err(Error::Pyrite(match local.outcome {
                // `Svi` returns its own error first; this one only stands for it.
                Err(e) => PyriteError::Model(e.to_string()),
                Ok(_) => PyriteError::NonFinite { site: first_non_finite(local.params, local.grads), what: "the gradient".into() },
            }));
        }
        if !faults.is_empty() {
            return Err(Error::PeerFailed { faults });
        }

        // 3. Every rank has the same params, or every rank names the first difference.
        if let Some(first) = (1..w).find(|&r| header[w + r] != header[w]) {
            return Err(self.param_mismatch(first, &layout));
        }

        // 4. New params take rank 0's values; the step is computed again where any changed.
        if header[2 * w + 1] > 0.0 && w > 1 && self.adopt_rank0_params(local.params)? {
            return Ok(SyncedStep::Recompute);
        }

        // 5. The mean gradient.
        self.timed(|pg| pg.all_reduce_sum(&mut flat))?;
        let flat = flat / w as f64;
        Ok(SyncedStep::Update { loss: header[2 * w] / w as f64, grads: unflatten(&flat, local.params) })
    }

    /// Broadcasts rank 0's param values to every rank; true where any rank's values changed.
    fn adopt_rank0_params(&self, params: &[(String, Tensor)]) -> Result<bool> {
        let mut changed = false;
        for (_, p) in params {
            let mut value = p.detach().contiguous().copy();
            self.timed(|pg| pg.broadcast(&mut value, 0))?;
            if !value.equal(&p.detach()) {
                changed = true;
                tch::no_grad(|| p.detach().copy_(&value));
            }
        }
        let mut any = Tensor::from_slice(&[f64::from(u8::from(changed))]);
        self.timed(|pg| pg.all_reduce_sum(&mut any))?;
        Ok(any.double_value(&[0]) > 0.0)
    }

    /// The error every rank returns when rank `first` is the first whose params differ from
    /// rank 0's: rank 0 broadcasts its layout, rank `first` finds the first difference and
    /// broadcasts it.
    fn param_mismatch(&self, first: usize, layout: &[ParamInfo]) -> Error {
        let found = (|| -> Result<(String, String)> {
            let rank0 = self.broadcast_text(&describe_layout(layout), 0)?;
            let mine = if self.pg.rank() == first {
                let (name, detail) = first_difference(&parse_layout(&rank0), layout, first);
                format!("{name}\n{detail}")
            } else {
                String::new()
            };
            let text = self.broadcast_text(&mine, first)?;
            let (name, detail) = text.split_once('\n').unwrap_or((text.as_str(), ""));
            Ok((name.to_string(), detail.to_string()))
        })();
        match found {
            Ok((name, detail)) => Error::ParamMismatch { rank: first, name, detail },
            Err(e) => e,
        }
    }

    /// Rank `root`'s `text` on every rank (its length, then its bytes).
    fn broadcast_text(&self, text: &str, root: usize) -> Result<String> {
        let mut len = Tensor::from_slice(&[text.len() as i64]);
        self.timed(|pg| pg.broadcast(&mut len, root))?;
        let len = len.int64_value(&[0]).max(0);
        let mut bytes = if self.pg.rank() == root { Tensor::from_slice(text.as_bytes()) } else { Tensor::zeros([len], (Kind::Uint8, Device::Cpu)) };
        if len > 0 {
            self.timed(|pg| pg.broadcast(&mut bytes, root))?;
        }
        let bytes = Vec::<u8>::try_from(&bytes).map_err(|e| Error::Pyrite(e.into()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl StepSync for GradientSync {
    fn sync(&mut self, local: LocalStep<'_>) -> pyrite_core::Result<SyncedStep> {
        self.step(&local).map_err(|e| match e {
            Error::Pyrite(own) => own,
            other => {
                let out = other.to_pyrite();
                *self.shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(other);
                out
            }
        })
    }
}

/// All gradients in one flat buffer of the first param's dtype (zeros for a param without one),
/// on the first param's device; empty without params.
fn flat_gradient(params: &[(String, Tensor)], grads: &[Tensor]) -> Tensor {
    let Some((_, p0)) = params.first() else { return Tensor::zeros([0], (Kind::Float, Device::Cpu)) };
    let (kind, device) = (p0.kind(), p0.device());
    let parts: Vec<Tensor> = params
        .iter()
        .zip(grads)
        .map(|((_, p), g)| if g.defined() { g.detach().to_kind(kind).reshape([-1]) } else { Tensor::zeros([p.numel() as i64], (kind, device)) })
        .collect();
    Tensor::cat(&parts, 0)
}

/// The flat gradient cut back into one tensor per param, of its shape and dtype.
fn unflatten(flat: &Tensor, params: &[(String, Tensor)]) -> Vec<Tensor> {
    let sizes: Vec<i64> = params.iter().map(|(_, p)| p.numel() as i64).collect();
    flat.split_with_sizes(sizes.as_slice(), 0).into_iter().zip(params).map(|(g, (_, p))| g.reshape(p.size()).to_kind(p.kind())).collect()
}

/// The first param whose gradient is not finite (`<params>` if none is found).
fn first_non_finite(params: &[(String, Tensor)], grads: &[Tensor]) -> String {
    params
        .iter()
        .zip(grads)
        .find(|(_, g)| g.defined() && !bool::try_from(g.isfinite().all()).unwrap_or(false))
        .map(|((name, _), _)| name.clone())
        .unwrap_or_else(|| "<params>".into())
}

/// FNV-1a over the layout, cut to 52 bits so that it is exact in a double (and so in a sum
/// where every other rank adds zero).
fn layout_hash(layout: &[ParamInfo]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in describe_layout(layout).bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h & ((1 << 52) - 1)
}

/// The layout as text, one `name\tshape\tdtype` line per param.
fn describe_layout(layout: &[ParamInfo]) -> String {
    layout.iter().map(|p| format!("{}\t{:?}\t{:?}\n", p.name, p.shape, p.kind)).collect()
}

/// The `(name, shape, dtype)` lines of [`describe_layout`], as text.
fn parse_layout(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            let mut next = || parts.next().unwrap_or("").to_string();
            (next(), next(), next())
        })
        .collect()
}

/// The first param where `mine` (on rank `rank`) differs from rank 0's layout, and how.
fn first_difference(rank0: &[(String, String, String)], mine: &[ParamInfo], rank: usize) -> (String, String) {
    for i in 0..rank0.len().max(mine.len()) {
        match (rank0.get(i), mine.get(i)) {
            (Some((name0, shape0, kind0)), Some(p)) => {
                let (shape, kind) = (format!("{:?}", p.shape), format!("{:?}", p.kind));
                if *name0 != p.name {
                    return (p.name.clone(), format!("param #{i} is `{}` on rank {rank} but `{name0}` on rank 0", p.name));
                }
                if *shape0 != shape {
                    return (p.name.clone(), format!("shape {shape} on rank {rank}, {shape0} on rank 0"));
                }
                if *kind0 != kind {
                    return (p.name.clone(), format!("dtype {kind} on rank {rank}, {kind0} on rank 0"));
                }
            }
            (Some((name0, ..)), None) => return (name0.clone(), format!("rank 0 has it, rank {rank} has not")),
            (None, Some(p)) => return (p.name.clone(), format!("rank {rank} has it, rank 0 has not")),
            (None, None) => {}
        }
    }
    ("<params>".into(), "the layouts differ only in their hashes".into())
}
