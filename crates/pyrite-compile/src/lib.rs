//! pyrite's compiler: captures a log-density with libtorch's tracer ([`trace`]), lowers the
//! recorded aten graph to a small program of tensor operations on static shapes ([`lower`]),
//! differentiates it in reverse mode and writes both passes as one C function ([`codegen`]),
//! compiled once and cached ([`Kernel`]).
//!
//! What it does not know (an operation outside its set, control flow, a dynamic shape) is an
//! [`Unsupported`] naming it: callers then run eagerly.

pub mod codegen;
mod fuse;
mod gemm;
pub mod ir;
pub mod kernel;
pub mod lower;
pub mod policy;
pub mod trace;
mod views;

pub use codegen::Precision;
pub use ir::Graph;
pub use kernel::{Kernel, Real};
pub use lower::{lower, lower_with, Program, Unsupported};
pub use policy::{capture_twice, enabled_by_default, note_once, set_enabled_by_default, Captured};
pub use trace::{trace, with_rng_restored, Externals};
