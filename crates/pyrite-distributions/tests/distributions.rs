//! The tests of pyrite-distributions, in one binary: golden values from torch 2.13, sample
//! moments, shapes, reparameterised gradients, transforms, errors, dtypes and
//! `TransformedDistribution`.

#[path = "distributions/util.rs"]
mod util;

#[path = "distributions/golden.rs"]
mod golden;
