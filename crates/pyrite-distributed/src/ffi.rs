//! The C interface of `csrc/c10d_shim.cpp`, and the conversion of its status codes and messages
//! into [`Error`]s. Without Gloo's headers at build time the shim is not compiled and every
//! function here answers [`Error::Unavailable`].

use std::ffi::CString;
#[cfg(pyrite_gloo)]
use std::ffi::{c_char, CStr};
use std::time::Duration;

use crate::error::Error;
#[cfg(pyrite_gloo)]
use crate::error::Op;

/// The shim's process group (a `c10d::ProcessGroupGloo` and its timeout).
#[repr(C)]
pub(crate) struct RawGroup {
    _private: [u8; 0],
}

#[cfg(pyrite_gloo)]
mod sys {
    use std::ffi::c_char;

    use super::RawGroup;

    extern "C" {
        pub fn pyrite_c10d_free_message(message: *mut c_char);
        #[allow(clippy::too_many_arguments)]
        pub fn pyrite_c10d_group_tcp(
            host: *const c_char,
            port: u16,
            is_server: i32,
            prefix: *const c_char,
            rank: i32,
            world_size: i32,
            timeout_ms: i64,
            out: *mut *mut RawGroup,
            message: *mut *mut c_char,
        ) -> i32;
        pub fn pyrite_c10d_group_file(
            path: *const c_char,
            prefix: *const c_char,
            rank: i32,
            world_size: i32,
            timeout_ms: i64,
            out: *mut *mut RawGroup,
            message: *mut *mut c_char,
        ) -> i32;
        pub fn pyrite_c10d_group_free(group: *mut RawGroup);
        pub fn pyrite_c10d_all_reduce_sum(group: *mut RawGroup, tensor: *mut torch_sys::C_tensor, message: *mut *mut c_char) -> i32;
        pub fn pyrite_c10d_broadcast(group: *mut RawGroup, tensor: *mut torch_sys::C_tensor, root: i32, message: *mut *mut c_char) -> i32;
        pub fn pyrite_c10d_barrier(group: *mut RawGroup, message: *mut *mut c_char) -> i32;
    }
}

/// Whether this build carries the c10d shim (Gloo's headers were found at build time).
pub const AVAILABLE: bool = cfg!(pyrite_gloo);

/// Where the ranks of a group meet.
#[cfg_attr(not(pyrite_gloo), allow(dead_code))]
pub(crate) enum Rendezvous<'a> {
    /// A TCPStore at `host:port`, hosted by this process when `server`.
    Tcp { host: &'a str, port: u16, server: bool },
    /// A FileStore at this path.
    File(&'a str),
}

fn c_string(what: &str, s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::InvalidArgument { what: what.into(), problem: format!("{s:?} holds a NUL byte") })
}

/// Turns a status and the shim's message into a result, freeing the message.
#[cfg(pyrite_gloo)]
fn check(op: Op, timeout: Duration, status: i32, message: *mut c_char) -> Result<(), Error> {
    if status == 0 {
        return Ok(());
    }
    let detail = if message.is_null() {
        String::from("(no message)")
    } else {
        // SAFETY: the shim returns a NUL-terminated string from malloc, which we own.
        let text = unsafe { CStr::from_ptr(message) }.to_string_lossy().trim().to_string();
        unsafe { sys::pyrite_c10d_free_message(message) };
        text
    };
    Err(Error::from_status(op, timeout, status, detail))
}

/// Creates a Gloo process group.
pub(crate) fn new_group(at: &Rendezvous<'_>, prefix: &str, rank: usize, world_size: usize, timeout: Duration) -> Result<*mut RawGroup, Error> {
    let prefix = c_string("store prefix", prefix)?;
    let (rank, world) = (rank as i32, world_size as i32);
    let timeout_ms = timeout.as_millis().min(i64::MAX as u128) as i64;
    #[cfg(pyrite_gloo)]
    {
        let mut out: *mut RawGroup = std::ptr::null_mut();
        let mut message: *mut c_char = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the shim catches every exception.
        let status = match at {
            Rendezvous::Tcp { host, port, server } => {
                let host = c_string("MASTER_ADDR", host)?;
                unsafe {
                    sys::pyrite_c10d_group_tcp(host.as_ptr(), *port, i32::from(*server), prefix.as_ptr(), rank, world, timeout_ms, &mut out, &mut message)
                }
            }
            Rendezvous::File(path) => {
                let path = c_string("store path", path)?;
                unsafe { sys::pyrite_c10d_group_file(path.as_ptr(), prefix.as_ptr(), rank, world, timeout_ms, &mut out, &mut message) }
            }
        };
        check(Op::Rendezvous, timeout, status, message)?;
        Ok(out)
    }
    #[cfg(not(pyrite_gloo))]
    {
        let _ = (at, prefix, rank, world, timeout_ms);
        Err(Error::Unavailable)
    }
}

/// Frees a group created by [`new_group`].
pub(crate) fn free_group(group: *mut RawGroup) {
    #[cfg(pyrite_gloo)]
    // SAFETY: `group` came from `new_group` and is freed once (by `ProcessGroup`'s drop).
    unsafe {
        sys::pyrite_c10d_group_free(group)
    };
    #[cfg(not(pyrite_gloo))]
    let _ = group;
}

/// A collective, with the tensor it works on in place.
#[cfg_attr(not(pyrite_gloo), allow(dead_code))]
pub(crate) enum Call<'t> {
    /// Sum over the ranks.
    AllReduceSum(&'t mut tch::Tensor),
    /// Rank `root`'s value everywhere.
    Broadcast(&'t mut tch::Tensor, usize),
    /// Wait for every rank.
    Barrier,
}

impl Call<'_> {
    /// The operation, for errors.
    #[cfg(pyrite_gloo)]
    pub(crate) fn op(&self) -> Op {
        match self {
            Call::AllReduceSum(_) => Op::AllReduce,
            Call::Broadcast(..) => Op::Broadcast,
            Call::Barrier => Op::Barrier,
        }
    }
}

/// Runs one collective on `group` (a live group from [`new_group`]).
pub(crate) fn collective(group: *mut RawGroup, timeout: Duration, call: Call<'_>) -> Result<(), Error> {
    #[cfg(pyrite_gloo)]
    {
        let op = call.op();
        let mut message: *mut c_char = std::ptr::null_mut();
        // SAFETY: `group` is live, a tensor pointer is a valid `at::Tensor*` for the call, and
        // the shim catches every exception.
        let status = unsafe {
            match call {
                Call::AllReduceSum(t) => sys::pyrite_c10d_all_reduce_sum(group, t.as_mut_ptr(), &mut message),
                Call::Broadcast(t, root) => sys::pyrite_c10d_broadcast(group, t.as_mut_ptr(), root as i32, &mut message),
                Call::Barrier => sys::pyrite_c10d_barrier(group, &mut message),
            }
        };
        check(op, timeout, status, message)
    }
    #[cfg(not(pyrite_gloo))]
    {
        let _ = (group, timeout, call);
        Err(Error::Unavailable)
    }
}
