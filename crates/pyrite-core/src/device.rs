//! Choosing the device a model runs on: CPU, or CUDA when libtorch can reach a GPU.
//!
//! pyrite's binaries link `libtorch_cpu` and `libtorch`, not `libtorch_cuda`: the linker drops
//! the CUDA library because no symbol of it is referenced, and then libtorch reports no CUDA
//! device even on a GPU machine. [`cuda_available`] loads `libtorch_cuda.so` at run time (once,
//! `RTLD_GLOBAL`), which registers libtorch's CUDA backend, and then asks libtorch.
//! On a machine without the library or without a GPU it returns `false`.
//!
//! ```
//! use pyrite_core::device::{cuda_available, device_from_flag};
//! use pyrite_core::PyriteError;
//!
//! // `--device cpu` always works; no flag picks CUDA when there is a GPU.
//! assert_eq!(device_from_flag(Some("cpu"))?, tch::Device::Cpu);
//! let default = device_from_flag(None)?;
//! assert_eq!(default.is_cuda(), cuda_available());
//! // An unknown name is a typed error.
//! assert!(matches!(device_from_flag(Some("tpu")), Err(PyriteError::InvalidInput { .. })));
//! # Ok::<(), PyriteError>(())
//! ```

use std::ffi::CString;
use std::sync::OnceLock;

use tch::Device;

use crate::error::{PyriteError, Result};

/// Loads `libtorch_cuda.so` once per process. Tries the bare name first (found through the
/// binary's rpath, `LD_LIBRARY_PATH` and the loader cache), then `$LIBTORCH/lib`. Returns
/// whether the library is loaded. The handle is never closed.
fn load_libtorch_cuda() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        let mut candidates = vec!["libtorch_cuda.so".to_string()];
        if let Ok(root) = std::env::var("LIBTORCH") {
            candidates.push(format!("{root}/lib/libtorch_cuda.so"));
        }
        // Binding every symbol up front fails when an optional CUDA library is older than the
        // one libtorch was built against (an NCCL without `ncclCommResume`, which only
        // multi-GPU collectives call); binding lazily still registers the CUDA backend.
        [libc::RTLD_NOW, libc::RTLD_LAZY].iter().any(|&binding| {
            candidates.iter().any(|name| {
                let Ok(c) = CString::new(name.as_str()) else { return false };
                // SAFETY: `c` is a valid NUL-terminated string; dlopen has no other
                // preconditions. A library that fails to load (no CUDA runtime) returns null.
                let handle = unsafe { libc::dlopen(c.as_ptr(), binding | libc::RTLD_GLOBAL) };
                !handle.is_null()
            })
        })
    })
}

/// Whether libtorch can use a CUDA GPU. Loads `libtorch_cuda.so` first (see the module
/// documentation), so that `tch::Cuda::is_available()` sees the CUDA backend.
pub fn cuda_available() -> bool {
    load_libtorch_cuda() && tch::Cuda::is_available()
}

/// The device named by a `--device` flag:
///
/// * `Some("cpu")`: [`Device::Cpu`];
/// * `Some("cuda")`: `Device::Cuda(0)` when a GPU is available, else [`PyriteError::Device`];
/// * `None`: CUDA when available, else the CPU;
/// * anything else: [`PyriteError::InvalidInput`].
pub fn device_from_flag(flag: Option<&str>) -> Result<Device> {
    match flag.map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(if cuda_available() { Device::Cuda(0) } else { Device::Cpu }),
        Some(s) if s == "cpu" => Ok(Device::Cpu),
        Some(s) if s == "cuda" => {
            if cuda_available() {
                Ok(Device::Cuda(0))
            } else {
                Err(PyriteError::Device("cuda".into()))
            }
        }
        Some(s) => Err(PyriteError::InvalidInput { what: "device".into(), problem: format!("`{s}` is not `cpu` or `cuda`") }),
    }
}
