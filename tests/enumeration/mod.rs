//! Discrete latent variables: `TraceEnumElbo` against brute-force summation over every discrete
//! assignment (loss and gradients), `infer_discrete` against brute-force MAP and exact
//! posteriors, the iris Gaussian mixture end to end, and the typed errors for bad input.

// `plate` and `observe` return tensors that a model often does not use.
#![allow(unused_must_use)]

mod chain;
mod common;

mod discrete;
mod elbo;
mod errors;
mod guide;
mod iris;
