//! Tests of inference (`pyrite-infer`): SVI with Trace_ELBO against closed-form posteriors and
//! ELBOs, the score-function path, optimizers and their saved state, `Predictive`, autoguides and
//! the typed errors raised on bad input.
//!
//! Every test seeds libtorch's generator inside `seed(...)` and uses a fresh param store; runs are
//! short (vectorised particles, a few hundred steps) so that the module stays fast in debug.

// `sample`, `param` and `plate` return tensors that a model often does not use.
#![allow(unused_must_use)]

mod common;

mod autoguide_list;
mod autoguides;
mod checkpoints;
mod compiled_minibatch;
mod compiled_network;
mod compiled_svi;
mod elbo;
mod errors;
mod mean_field;
mod optim;
mod posteriors;
mod predictive;
mod safetensors_checkpoints;
mod svi_control;
