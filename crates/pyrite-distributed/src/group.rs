//! `ProcessGroup`: the ranks of a data-parallel run, met through a store, with in-place
//! collectives on tensors (Gloo, inside libtorch), each bounded by the group's timeout.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tch::{Device, Kind, Tensor};

use crate::env::LaunchEnv;
use crate::error::{Error, Result};
use crate::ffi::{self, Call, RawGroup, Rendezvous};

/// The timeout of a group when none is given: every collective, and the rendezvous, fails with
/// [`Error::Timeout`] after this long.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The groups this process created so far through each store (by its path or address): each
/// takes its own key prefix in the store, in the same order on every rank.
static GROUPS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// The key prefix of the next group meeting through the store at `place`.
fn next_prefix(place: String) -> String {
    let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    let count = groups.get_or_insert_with(HashMap::new).entry(place).or_insert(0);
    *count += 1;
    format!("pyrite/{}", *count - 1)
}

/// The processes of a data-parallel run: this one's rank, the world size, and collectives
/// (all-reduce, broadcast, barrier) on tensors through c10d's Gloo backend, in place. Gloo
/// reduces CPU tensors; CUDA tensors are handed to it too (it stages them through host memory;
/// not run here, for want of a GPU), since c10d's NCCL backend is not built (see
/// `docs/distributed.md`).
///
/// Collectives must be called in the same order on every rank. Each waits at most the group's
/// timeout; a collective that fails (timeout, a rank gone) leaves the group unusable
/// ([`Error::Broken`] afterwards), since the ranks are out of step. Clones share the group.
///
/// ```no_run
/// use pyrite_distributed::ProcessGroup;
/// // Started by `torchrun --standalone --nproc-per-node 2 --no-python ./program`.
/// let pg = ProcessGroup::from_env()?;
/// let mut t = tch::Tensor::from_slice(&[pg.rank() as f32 + 1.0]);
/// pg.all_reduce_sum(&mut t)?;
/// assert_eq!(f32::try_from(&t).unwrap(), 3.0); // 1 + 2 on two ranks
/// # Ok::<(), pyrite_distributed::Error>(())
/// ```
#[derive(Clone)]
pub struct ProcessGroup {
    inner: Arc<Inner>,
}

struct Inner {
    raw: Mutex<State>,
    rank: usize,
    world_size: usize,
    local_rank: usize,
    timeout: Duration,
}

/// The shim's group, or why it can no longer be used.
enum State {
    Live(*mut RawGroup),
    Broken(*mut RawGroup, String),
}

// SAFETY: the raw group is only used under the mutex, and c10d's process groups may be used
// from any thread.
unsafe impl Send for State {}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.raw.get_mut().unwrap_or_else(|e| e.into_inner());
        let (State::Live(raw) | State::Broken(raw, _)) = *state;
        ffi::free_group(raw);
    }
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGroup")
            .field("rank", &self.inner.rank)
            .field("world_size", &self.inner.world_size)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// Options for creating a [`ProcessGroup`]: the timeout.
///
/// ```no_run
/// use std::time::Duration;
/// use pyrite_distributed::ProcessGroup;
/// let pg = ProcessGroup::builder().timeout(Duration::from_secs(30)).file_store("/tmp/run/store", 0, 2)?;
/// # Ok::<(), pyrite_distributed::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GroupBuilder {
    timeout: Duration,
}

impl Default for GroupBuilder {
    fn default() -> Self {
        GroupBuilder { timeout: DEFAULT_TIMEOUT }
    }
}

impl GroupBuilder {
    /// How long the rendezvous and each collective may take before failing with
    /// [`Error::Timeout`] (default [`DEFAULT_TIMEOUT`]). It bounds how long the other ranks wait
    /// for one that died or hangs, and must exceed the longest step of the slowest rank.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The group a launcher describes in the environment (see [`LaunchEnv`]): with torchrun's
    /// agent store (`TORCHELASTIC_USE_AGENT_STORE=True`) every rank connects to the store as a
    /// client, as torch does; otherwise rank 0 hosts the store at `MASTER_ADDR:MASTER_PORT`.
    ///
    /// # Errors
    ///
    /// [`Error::Env`] for a missing or malformed variable; [`Error::Timeout`] or
    /// [`Error::Store`] if the ranks do not all arrive within the timeout.
    pub fn from_env(self) -> Result<ProcessGroup> {
        let env = LaunchEnv::from_env()?;
        let at = Rendezvous::Tcp { host: &env.master_addr, port: env.master_port, server: env.rank == 0 && !env.agent_store };
        self.create(&at, env.rank, env.world_size, env.local_rank)
    }

    /// The group whose `world_size` ranks meet through a FileStore at `path`, a file (absent, or
    /// left by no other run) on a file system that every rank sees: a temporary directory on one
    /// machine, a shared file system across machines.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a rank outside the group or a path that is not UTF-8;
    /// [`Error::Timeout`] if the other ranks do not arrive within the timeout.
    pub fn file_store(self, path: impl AsRef<Path>, rank: usize, world_size: usize) -> Result<ProcessGroup> {
        let path = path.as_ref();
        let path = path.to_str().ok_or_else(|| Error::InvalidArgument { what: "store path".into(), problem: format!("{} is not UTF-8", path.display()) })?;
        self.create(&Rendezvous::File(path), rank, world_size, rank)
    }

    fn create(self, at: &Rendezvous<'_>, rank: usize, world_size: usize, local_rank: usize) -> Result<ProcessGroup> {
        if rank >= world_size {
            return Err(Error::InvalidArgument { what: "rank".into(), problem: format!("{rank} is not below the world size {world_size}") });
        }
        if self.timeout.is_zero() {
            return Err(Error::InvalidArgument { what: "timeout".into(), problem: "must be positive".into() });
        }
        let prefix = next_prefix(match at {
            Rendezvous::Tcp { host, port, .. } => format!("{host}:{port}"),
            Rendezvous::File(path) => path.to_string(),
        });
        let raw = ffi::new_group(at, &prefix, rank, world_size, self.timeout)?;
        let inner = Inner { raw: Mutex::new(State::Live(raw)), rank, world_size, local_rank, timeout: self.timeout };
        Ok(ProcessGroup { inner: Arc::new(inner) })
    }
}

impl ProcessGroup {
    /// Options (the timeout) for a new group.
    pub fn builder() -> GroupBuilder {
        GroupBuilder::default()
    }

    /// The group a launcher (torchrun) describes in the environment, with the default timeout:
    /// see [`GroupBuilder::from_env`].
    pub fn from_env() -> Result<Self> {
        GroupBuilder::default().from_env()
    }

    /// The group of `world_size` ranks meeting through a FileStore at `path`, with the default
    /// timeout: see [`GroupBuilder::file_store`].
    pub fn with_file_store(path: impl AsRef<Path>, rank: usize, world_size: usize) -> Result<Self> {
        GroupBuilder::default().file_store(path, rank, world_size)
    }

    /// This process's rank, `0..world_size()`.
    pub fn rank(&self) -> usize {
        self.inner.rank
    }

    /// The number of processes.
    pub fn world_size(&self) -> usize {
        self.inner.world_size
    }

    /// This process's rank on its machine (`LOCAL_RANK` under torchrun; the rank for a
    /// FileStore group).
    pub fn local_rank(&self) -> usize {
        self.inner.local_rank
    }

    /// The timeout of the rendezvous and of each collective.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Sums `tensor` over all ranks, in place: afterwards every rank holds the sum.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a tensor Gloo cannot carry (not contiguous, sparse,
    /// undefined); [`Error::Timeout`], [`Error::PeerLost`] or another communication error if
    /// the ranks do not all take part in time; [`Error::Broken`] after an earlier failure.
    pub fn all_reduce_sum(&self, tensor: &mut Tensor) -> Result<()> {
        check_tensor(tensor)?;
        self.call(Call::AllReduceSum(tensor))
    }

    /// Replaces `tensor` on every rank with its value on rank `root`, in place. Every rank's
    /// tensor must have the same shape and dtype.
    ///
    /// # Errors
    ///
    /// As [`all_reduce_sum`](Self::all_reduce_sum), and [`Error::InvalidArgument`] for a root
    /// outside the group.
    pub fn broadcast(&self, tensor: &mut Tensor, root: usize) -> Result<()> {
        if root >= self.world_size() {
            return Err(Error::InvalidArgument { what: "root".into(), problem: format!("rank {root} is not below the world size {}", self.world_size()) });
        }
        check_tensor(tensor)?;
        self.call(Call::Broadcast(tensor, root))
    }

    /// Returns once every rank has called it.
    ///
    /// # Errors
    ///
    /// As [`all_reduce_sum`](Self::all_reduce_sum).
    pub fn barrier(&self) -> Result<()> {
        self.call(Call::Barrier)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.raw.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn call(&self, call: Call<'_>) -> Result<()> {
        let mut state = self.lock();
        let raw = match &*state {
            State::Live(raw) => *raw,
            State::Broken(_, why) => return Err(Error::Broken(why.clone())),
        };
        let out = ffi::collective(raw, self.inner.timeout, call);
        if let Err(e) = &out {
            if e.breaks_group() {
                *state = State::Broken(raw, e.to_string());
            }
        }
        out
    }
}

/// Checks that Gloo can carry `t`: defined, dense, contiguous, of a numeric or bool dtype.
fn check_tensor(t: &Tensor) -> Result<()> {
    let bad = |problem: String| Err(Error::InvalidArgument { what: "tensor".into(), problem });
    if !t.defined() {
        return bad("it is undefined".into());
    }
    if t.is_sparse() {
        return bad("it is sparse; collectives take dense tensors".into());
    }
    if !t.is_contiguous() {
        return bad(format!("it is not contiguous (shape {:?}, strides {:?}); pass `.contiguous()`", t.size(), t.stride()));
    }
    if !matches!(t.device(), Device::Cpu | Device::Cuda(_)) {
        return bad(format!("it is on {:?}; collectives take CPU or CUDA tensors", t.device()));
    }
    match t.kind() {
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16 | Kind::Int | Kind::Int64 | Kind::Int8 | Kind::Uint8 | Kind::Bool => Ok(()),
        k => bad(format!("its dtype {k:?} is not one Gloo reduces")),
    }
}
