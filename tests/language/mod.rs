//! Tests of the language (`pyrite-core`): primitives, plates, traces, effect handlers, the
//! handler stack, the param store and rendering, ported from Pyro's poutine tests.

// `sample`, `param` and `plate` return tensors that a model often does not use.
#![allow(unused_must_use)]

mod common;

mod api;
mod enumeration;
mod gmm;
mod handlers;
mod ode;
mod param_files;
mod params;
mod plates;
mod render;
mod sites;
mod stack;
mod threads;
mod traces;
mod validation;
