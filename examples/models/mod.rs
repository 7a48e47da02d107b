//! The tutorial models, written once for the examples, the tests, the docs and the benchmark.

pub mod gmm;
pub mod radon;
pub mod rugged;
