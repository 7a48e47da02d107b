//! The crate's error type: every failure of the launcher environment, the rendezvous, a
//! collective (a C++ exception of c10d or Gloo, caught in the shim) or a data-parallel step.

use std::fmt;
use std::time::Duration;

use pyrite_core::PyriteError;

/// The operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Meeting the other ranks (store and Gloo connections).
    Rendezvous,
    /// An all-reduce (sum).
    AllReduce,
    /// A broadcast.
    Broadcast,
    /// A barrier.
    Barrier,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Rendezvous => "the rendezvous",
            Op::AllReduce => "an all-reduce",
            Op::Broadcast => "a broadcast",
            Op::Barrier => "a barrier",
        })
    }
}

/// What can go wrong in distributed pyrite.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The crate was built without Gloo's headers, so it has no process groups.
    #[error("pyrite-distributed was built without Gloo's headers: install them (sudo apt-get install -y libgloo-dev) and rebuild")]
    Unavailable,
    /// A launcher environment variable (`RANK`, `WORLD_SIZE`, `MASTER_ADDR`, ...) is missing or
    /// malformed.
    #[error("environment variable {var}: {problem}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An argument that cannot be used (a rank outside the group, a tensor Gloo cannot carry).
    #[error("invalid {what}: {problem}")]
    InvalidArgument {
        /// The argument.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An operation did not finish within the group's timeout: another rank is gone, stuck, or
    /// slower than the timeout allows.
    #[error("{op} did not finish within the timeout of {} s: {detail}", timeout.as_secs_f64())]
    Timeout {
        /// The operation.
        op: Op,
        /// The group's timeout.
        timeout: Duration,
        /// c10d's or Gloo's message.
        detail: String,
    },
    /// Another rank closed its connections (it exited or was killed).
    #[error("{op} failed because another rank is gone: {detail}")]
    PeerLost {
        /// The operation.
        op: Op,
        /// c10d's or Gloo's message.
        detail: String,
    },
    /// The store the ranks meet through failed.
    #[error("{op} failed in the store: {detail}")]
    Store {
        /// The operation.
        op: Op,
        /// c10d's message.
        detail: String,
    },
    /// Any other failure inside c10d, Gloo or libtorch.
    #[error("{op} failed: {detail}")]
    Backend {
        /// The operation.
        op: Op,
        /// The exception's message.
        detail: String,
    },
    /// The group failed before and can no longer be used: the ranks are out of step.
    #[error("the process group is unusable after an earlier failure: {0}")]
    Broken(String),
    /// The ranks do not have the same params (names, shapes, dtypes): they run different models
    /// or guides. Every rank gets the same error, naming the first difference.
    #[error("param `{name}`: rank {rank} differs from rank 0: {detail}")]
    ParamMismatch {
        /// The first rank that differs from rank 0.
        rank: usize,
        /// The first param that differs.
        name: String,
        /// How it differs.
        detail: String,
    },
    /// Other ranks' steps failed (an error, a non-finite loss or gradient), so every rank stops
    /// at this step.
    #[error("this step failed on {}: every rank stops at it", describe_faults(faults))]
    PeerFailed {
        /// The ranks that failed, with what failed there.
        faults: Vec<(usize, Fault)>,
    },
    /// This rank's own step failed; the other ranks were told and stop too.
    #[error(transparent)]
    Pyrite(#[from] PyriteError),
}

/// What failed in a rank's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The model, the guide or the loss returned an error.
    Error,
    /// The loss or a gradient was NaN or infinite.
    NonFinite,
}

fn describe_faults(faults: &[(usize, Fault)]) -> String {
    let parts: Vec<String> = faults
        .iter()
        .map(|(rank, fault)| match fault {
            Fault::Error => format!("rank {rank} (an error)"),
            Fault::NonFinite => format!("rank {rank} (a non-finite loss or gradient)"),
        })
        .collect();
    parts.join(", ")
}

/// The shim's status codes (see `csrc/c10d_shim.cpp`).
#[cfg(pyrite_gloo)]
const TIMEOUT: i32 = 1;
#[cfg(pyrite_gloo)]
const NETWORK: i32 = 2;
#[cfg(pyrite_gloo)]
const STORE: i32 = 3;

impl Error {
    /// The error for a failed shim call: its status code and the exception's message.
    #[cfg(pyrite_gloo)]
    pub(crate) fn from_status(op: Op, timeout: Duration, status: i32, detail: String) -> Self {
        match status {
            TIMEOUT => Error::Timeout { op, timeout, detail },
            NETWORK => Error::PeerLost { op, detail },
            STORE => Error::Store { op, detail },
            _ => Error::Backend { op, detail },
        }
    }

    /// Whether this error leaves the process group unusable (the ranks may be out of step).
    pub(crate) fn breaks_group(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::PeerLost { .. } | Error::Store { .. } | Error::Backend { .. })
    }
}

/// Into pyrite's error type: a rank's own step error as it was, a param mismatch as
/// [`PyriteError::Param`], an environment or argument problem as [`PyriteError::InvalidInput`],
/// and every communication failure as [`PyriteError::Io`] on the process group.
impl From<Error> for PyriteError {
    fn from(e: Error) -> Self {
        match e {
            Error::Pyrite(e) => e,
            e => e.to_pyrite(),
        }
    }
}

impl Error {
    /// pyrite's error for this one, as the `From` conversion gives it (a rank's own step error,
    /// which `From` moves out, becomes a model error with its message).
    pub(crate) fn to_pyrite(&self) -> PyriteError {
        match self {
            Error::Pyrite(e) => PyriteError::Model(e.to_string()),
            Error::ParamMismatch { rank, name, detail } => {
                PyriteError::Param { name: name.clone(), problem: format!("rank {rank} differs from rank 0: {detail}") }
            }
            Error::Env { var, problem } => PyriteError::InvalidInput { what: var.clone(), problem: problem.clone() },
            Error::InvalidArgument { what, problem } => PyriteError::InvalidInput { what: what.clone(), problem: problem.clone() },
            e => PyriteError::Io { path: "<process group>".into(), problem: e.to_string() },
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
