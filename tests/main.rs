//! The workspace's cross-crate test binary: one `mod` per area.

mod inference;
mod enumeration;
mod language;
mod docs;
mod bnn;
mod devices;
mod glmm;
mod examples_cli;
mod errors_catalogue;
mod compare;
