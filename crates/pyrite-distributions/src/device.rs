//! The device on which numbers become tensors: the CPU unless a thread says otherwise.
//!
//! A model writes constant parameters as numbers (`Normal::new(0.0, 10.0)`); pyrite turns them
//! into 0-dim tensors on this thread's default device, so that a site whose parameters are all
//! numbers draws its value there. Plates create their indices there too. This is the role of
//! `torch.set_default_device` in a Pyro program, and like it the setting belongs to the thread.
//!
//! A device is checked where it is requested: [`set_default_device`] refuses a device that
//! libtorch cannot use on this machine (a CUDA GPU where there is none, or an index past the last
//! one) with [`DistError::Device`], and leaves the default as it was.
//!
//! pyrite's binaries link `libtorch_cpu` and `libtorch`, not `libtorch_cuda`: the linker drops
//! the CUDA library because no symbol of it is referenced, and then libtorch reports no CUDA
//! device even on a GPU machine. [`cuda_available`] and [`check_device`] load
//! `libtorch_cuda.so` at run time (once, `RTLD_GLOBAL`), which registers libtorch's CUDA backend,
//! and then ask libtorch. On a machine without the library or without a GPU there is no CUDA
//! device.
//!
//! ```
//! use pyrite_distributions::device::{cuda_available, default_device, set_default_device};
//! use pyrite_distributions::prelude::*;
//! use tch::Device;
//!
//! assert_eq!(default_device(), Device::Cpu);
//! set_default_device(Device::Cpu)?; // `Device::Cuda(0)` on a GPU machine
//! let x = Normal::new(0.0, 1.0)?.sample(&[3])?;
//! assert_eq!(x.device(), default_device());
//! // A GPU this machine does not have is refused, and the default stays as it was.
//! if !cuda_available() {
//!     assert!(matches!(set_default_device(Device::Cuda(0)), Err(DistError::Device(_))));
//!     assert_eq!(default_device(), Device::Cpu);
//! }
//! # Ok::<(), DistError>(())
//! ```

use std::cell::Cell;
use std::ffi::CString;
use std::sync::OnceLock;

use tch::Device;

use crate::error::{DistError, Result};

thread_local! {
    static DEFAULT_DEVICE: Cell<Device> = const { Cell::new(Device::Cpu) };
}

/// This thread's default device (the CPU unless [`set_default_device`] changed it).
pub fn default_device() -> Device {
    DEFAULT_DEVICE.with(|d| d.get())
}

/// Sets this thread's default device for numbers used as parameters and for plate indices.
///
/// # Errors
///
/// [`DistError::Device`] when libtorch cannot use `device` on this machine (see
/// [`check_device`]); the default device is then unchanged.
pub fn set_default_device(device: Device) -> Result<()> {
    check_device(device)?;
    DEFAULT_DEVICE.with(|d| d.set(device));
    Ok(())
}

/// Whether libtorch can place tensors on `device` here: the CPU always; `Cuda(i)` when libtorch
/// sees more than `i` CUDA devices; MPS and Vulkan when this libtorch was built with them.
///
/// # Errors
///
/// [`DistError::Device`], whose message says what libtorch sees and what to use instead.
pub fn check_device(device: Device) -> Result<()> {
    let problem = match device {
        Device::Cpu => return Ok(()),
        Device::Cuda(index) => {
            let count = cuda_device_count();
            if index < count {
                return Ok(());
            }
            match count {
                0 => {
                    "no CUDA device is available: libtorch sees none (check `nvidia-smi` and that libtorch_cuda.so is installed); use --device cpu".to_string()
                }
                1 => format!("CUDA device {index} is not available: libtorch sees only CUDA device 0; use that one or --device cpu"),
                n => format!("CUDA device {index} is not available: libtorch sees CUDA devices 0 to {}; use one of those or --device cpu", n - 1),
            }
        }
        Device::Mps if tch::utils::has_mps() => return Ok(()),
        Device::Mps => "the MPS device is not available: this libtorch was built without MPS (Apple GPU) support; use --device cpu".to_string(),
        Device::Vulkan if tch::utils::has_vulkan() => return Ok(()),
        Device::Vulkan => "the Vulkan device is not available: this libtorch was built without Vulkan support; use --device cpu".to_string(),
    };
    Err(DistError::Device(problem))
}

/// Whether libtorch can use a CUDA GPU. Loads `libtorch_cuda.so` first (see the module
/// documentation), so that libtorch sees its CUDA backend.
pub fn cuda_available() -> bool {
    load_libtorch_cuda() && tch::Cuda::is_available()
}

/// The number of CUDA devices libtorch sees (0 without the CUDA library or a GPU).
fn cuda_device_count() -> usize {
    if !cuda_available() {
        return 0;
    }
    usize::try_from(tch::Cuda::device_count()).unwrap_or(0)
}

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
