//! Discrete latent variables: `TraceEnumElbo` against brute-force summation over every discrete
//! assignment (loss and gradients), `infer_discrete` against brute-force MAP and exact
//! posteriors, the iris Gaussian mixture end to end, and the typed errors for bad input.

mod common;

mod discrete;
mod elbo;
mod errors;
mod iris;
