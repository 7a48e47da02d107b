//! # pyrite-distributed
//!
//! Data-parallel SVI for pyrite on c10d, the collective-communication engine inside libtorch
//! that PyTorch's own data-parallel training uses (its Gloo backend), in the manner of Pyro's
//! `HorovodOptimizer`:
//!
//! * [`ProcessGroup`]: the ranks, met through torchrun's environment
//!   ([`ProcessGroup::from_env`]) or a file ([`ProcessGroup::with_file_store`]), with in-place
//!   [`all_reduce_sum`](ProcessGroup::all_reduce_sum), [`broadcast`](ProcessGroup::broadcast)
//!   and [`barrier`](ProcessGroup::barrier), each bounded by a timeout;
//! * [`DistributedSvi`]: SVI on the mean gradient of all ranks, with identical params on every
//!   rank;
//! * [`Shard`]: each rank's rows of the data and its minibatches, with the indices of a plate of
//!   the whole data set's size.
//!
//! Every failure is an [`Error`]: C++ exceptions of c10d and Gloo are caught in the C++ shim and
//! never cross into Rust. The crate builds without Gloo's headers too (Debian's
//! `libgloo-dev`); it then has no process groups ([`AVAILABLE`] is false and every group is
//! [`Error::Unavailable`]). See `docs/distributed.md`.

#![warn(missing_docs)]

mod env;
mod error;
mod ffi;
mod group;
mod shard;
mod svi;
mod sync;

pub use env::LaunchEnv;
pub use error::{Error, Fault, Op, Result};
pub use ffi::AVAILABLE;
pub use group::{GroupBuilder, ProcessGroup, DEFAULT_TIMEOUT};
pub use shard::{Minibatch, Minibatches, Shard};
pub use svi::DistributedSvi;
