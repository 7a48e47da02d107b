//! The device on which numbers become tensors: the CPU unless a thread says otherwise.
//!
//! A model writes constant parameters as numbers (`Normal::new(0.0, 10.0)`); pyrite turns them
//! into 0-dim tensors on this thread's default device, so that a site whose parameters are all
//! numbers draws its value there. Plates create their indices there too. This is the role of
//! `torch.set_default_device` in a Pyro program, and like it the setting belongs to the thread.
//!
//! ```
//! use pyrite_distributions::device::{default_device, set_default_device};
//! use pyrite_distributions::prelude::*;
//! use tch::Device;
//!
//! assert_eq!(default_device(), Device::Cpu);
//! set_default_device(Device::Cpu); // `Device::Cuda(0)` on a GPU machine
//! let x = Normal::new(0.0, 1.0)?.sample(&[3])?;
//! assert_eq!(x.device(), default_device());
//! # Ok::<(), DistError>(())
//! ```

use std::cell::Cell;

use tch::Device;

thread_local! {
    static DEFAULT_DEVICE: Cell<Device> = const { Cell::new(Device::Cpu) };
}

/// This thread's default device (the CPU unless [`set_default_device`] changed it).
pub fn default_device() -> Device {
    DEFAULT_DEVICE.with(|d| d.get())
}

/// Sets this thread's default device for numbers used as parameters and for plate indices.
pub fn set_default_device(device: Device) {
    DEFAULT_DEVICE.with(|d| d.set(device));
}
