//! Tests of the Bayesian-neural-network and VAE machinery: minibatch ELBOs on subsampled plates
//! are unbiased estimates of the full-data ELBO, the `DataLoader` visits each row once per epoch,
//! a small BNN learns the 8x8 digits, a small VAE improves its test ELBO, `device_from_flag`, and
//! the typed errors raised on bad images, labels and devices.
//!
//! Tests that touch tensors run on every available device: the CPU always, CUDA when
//! `cuda_available()` (each such test says on standard error when it skips CUDA).

// `sample`, `param` and `plate` return tensors that a model often does not use.
#![allow(unused_must_use)]

mod common;

mod elbo;
mod errors;
mod loader;
mod pyro_module;
mod training;
