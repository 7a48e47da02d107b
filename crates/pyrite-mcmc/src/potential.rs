//! The potential energy a Hamiltonian sampler moves on: `U(z) = -log p(z)` over a flat vector of
//! unconstrained reals, with its gradient.

use pyrite_core::PyriteError;

/// A potential energy and its gradient over `R^dim`.
///
/// The sampler's own arithmetic (momenta, leapfrog steps, U-turn checks, adaptation) runs in
/// `f64` on plain slices; only the potential touches tensors. A non-finite energy is allowed and
/// counts as a divergence; an `Err` stops the chain.
///
/// ```
/// use pyrite_mcmc::potential::Potential;
/// /// A standard normal in two dimensions.
/// struct Gauss;
/// impl Potential for Gauss {
///     fn dim(&self) -> usize { 2 }
///     fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64, pyrite_core::PyriteError> {
///         grad.copy_from_slice(z);
///         Ok(0.5 * z.iter().map(|x| x * x).sum::<f64>())
///     }
/// }
/// let mut g = vec![0.0; 2];
/// assert_eq!(Gauss.energy_and_grad(&[1.0, 2.0], &mut g).unwrap(), 2.5);
/// assert_eq!(g, vec![1.0, 2.0]);
/// ```
pub trait Potential {
    /// The number of unconstrained coordinates.
    fn dim(&self) -> usize;
    /// Returns `U(z)` and writes `dU/dz` into `grad` (of length `dim`).
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64, PyriteError>;
}

/// A potential given as a closure over a flat slice (`potential_fn` in Pyro and NumPyro).
pub struct FnPotential<F> {
    dim: usize,
    f: F,
}

impl<F: FnMut(&[f64], &mut [f64]) -> Result<f64, PyriteError>> FnPotential<F> {
    /// A potential of `dim` coordinates computed by `f(z, grad) -> U(z)`.
    pub fn new(dim: usize, f: F) -> Self {
        FnPotential { dim, f }
    }
}

impl<F: FnMut(&[f64], &mut [f64]) -> Result<f64, PyriteError>> Potential for FnPotential<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64, PyriteError> {
        (self.f)(z, grad)
    }
}
