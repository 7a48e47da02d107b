//! A user's potential function over a flat tensor (`potential_fn` in Pyro and NumPyro), with
//! its gradient from autograd.

use pyrite_core::prelude::*;
use pyrite_core::runtime::catch_panics;
use tch::{Device, Kind, Tensor};

use crate::potential::Potential;

/// `U(z)` given as a function of a 1-dim tensor `z` of the initial point's dtype and device.
pub struct TensorPotential<'a> {
    potential: &'a dyn Fn(&Tensor) -> Result<Tensor>,
    kind: Kind,
    device: Device,
    dim: usize,
}

impl<'a> TensorPotential<'a> {
    /// The potential `potential` over vectors shaped like `init` (1-dim).
    pub fn new(potential: &'a dyn Fn(&Tensor) -> Result<Tensor>, init: &Tensor) -> Self {
        TensorPotential { potential, kind: init.kind(), device: init.device(), dim: init.numel() }
    }
}

impl Potential for TensorPotential<'_> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64> {
        let zt = Tensor::f_from_slice(z)?.f_to_kind(self.kind)?.f_to_device(self.device)?.set_requires_grad(true);
        let u = catch_panics(|| (self.potential)(&zt))?;
        if u.numel() != 1 {
            return Err(PyriteError::InvalidInput {
                what: "potential_fn".into(),
                problem: format!("must return one number (the potential energy), got a tensor of shape {:?}", u.size()),
            });
        }
        let u = u.reshape([]);
        let energy = u.f_double_value(&[])?;
        if !energy.is_finite() || !u.requires_grad() {
            grad.fill(0.0);
            return Ok(energy);
        }
        let g = Tensor::run_backward(&[&u], &[&zt], false, false);
        g[0].to_kind(Kind::Double).to_device(Device::Cpu).f_copy_data(grad, grad.len())?;
        Ok(energy)
    }
}
