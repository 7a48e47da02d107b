//! The compiler's capture: host reads of traced values are seen at every entry point tch
//! offers, and tensors made inside a model from host data become constants.

mod branching;
mod fuzz;
mod host_data;
mod host_reads;
mod long_programs;
mod reductions;
