//! The workspace's cross-crate test binary: one `mod` per area.

mod bnn;
mod compare;
mod compiler;
mod devices;
mod docs;
mod enumeration;
mod errors_catalogue;
mod examples_cli;
mod glmm;
mod inference;
mod language;
