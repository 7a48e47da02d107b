//! Choosing the device a model runs on: CPU, or CUDA when libtorch can reach a GPU.
//!
//! [`cuda_available`] lives in `pyrite_distributions::device` (it loads `libtorch_cuda.so`, which
//! pyrite's binaries do not link, so that libtorch sees its CUDA backend) and is re-exported
//! here; [`device_from_flag`] turns a `--device` flag into a device, refusing one that this
//! machine does not have.
//!
//! ```
//! use pyrite_core::device::{cuda_available, device_from_flag};
//! use pyrite_core::PyriteError;
//!
//! // `--device cpu` always works; no flag picks CUDA when there is a GPU.
//! assert_eq!(device_from_flag(Some("cpu"))?, tch::Device::Cpu);
//! let default = device_from_flag(None)?;
//! assert_eq!(default.is_cuda(), cuda_available());
//! // An unknown name is a typed error, and so is a GPU this machine does not have.
//! assert!(matches!(device_from_flag(Some("tpu")), Err(PyriteError::InvalidInput { .. })));
//! if !cuda_available() {
//!     assert!(matches!(device_from_flag(Some("cuda")), Err(PyriteError::Device(_))));
//! }
//! # Ok::<(), PyriteError>(())
//! ```

use tch::Device;

pub use pyrite_distributions::device::{check_device, cuda_available};

use crate::error::{PyriteError, Result};

/// The device named by a `--device` flag:
///
/// * `Some("cpu")`: [`Device::Cpu`];
/// * `Some("cuda")`: `Device::Cuda(0)` when a GPU is available, else [`PyriteError::Device`]
///   (whose message says what libtorch sees and to use `--device cpu`);
/// * `None`: CUDA when available, else the CPU;
/// * anything else: [`PyriteError::InvalidInput`].
pub fn device_from_flag(flag: Option<&str>) -> Result<Device> {
    match flag.map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(if cuda_available() { Device::Cuda(0) } else { Device::Cpu }),
        Some(s) if s == "cpu" => Ok(Device::Cpu),
        Some(s) if s == "cuda" => {
            check_device(Device::Cuda(0))?;
            Ok(Device::Cuda(0))
        }
        Some(s) => Err(PyriteError::InvalidInput { what: "device".into(), problem: format!("`{s}` is not `cpu` or `cuda`") }),
    }
}
