//! The tests of pyrite-distributions, in one binary: golden values from torch 2.13, sample
//! moments, shapes, reparameterised gradients, transforms, errors, dtypes,
//! `TransformedDistribution` and closed-form KL divergences.

#[path = "distributions/util.rs"]
mod util;

#[path = "distributions/golden.rs"]
mod golden;

#[path = "distributions/moments.rs"]
mod moments;

#[path = "distributions/shapes.rs"]
mod shapes;

#[path = "distributions/grads.rs"]
mod grads;

#[path = "distributions/transforms.rs"]
mod transforms;

#[path = "distributions/errors.rs"]
mod errors;

#[path = "distributions/dtypes.rs"]
mod dtypes;

#[path = "distributions/transformed.rs"]
mod transformed;

#[path = "distributions/kl.rs"]
mod kl;

#[path = "distributions/own_draw.rs"]
mod own_draw;
