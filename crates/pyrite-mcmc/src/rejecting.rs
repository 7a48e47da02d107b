//! Numerical failures at a proposed point reject the proposal, as Stan does: a Cholesky
//! factorisation of a matrix that is not positive definite, any error libtorch raises (counted,
//! the first one's message kept), a gradient that is not finite. The sampler sees an infinite
//! energy there, a divergent transition, and the chain goes on.
//! Only a model that fails at every initial point tried is an error (see `Mcmc::run`).

use pyrite_core::PyriteError;

use crate::potential::Potential;

/// A potential whose failures at a point become an infinite energy there.
///
/// ```
/// use pyrite_core::PyriteError;
/// use pyrite_mcmc::potential::{FnPotential, Potential};
/// use pyrite_mcmc::rejecting::Rejecting;
///
/// // A potential defined for z < 1 only.
/// let mut u = FnPotential::new(1, |z: &[f64], g: &mut [f64]| {
///     if z[0] >= 1.0 {
///         return Err(PyriteError::Model("outside the domain".into()));
///     }
///     g[0] = z[0];
///     Ok(0.5 * z[0] * z[0])
/// });
/// let mut guarded = Rejecting::new(&mut u);
/// let mut g = [0.0];
/// assert_eq!(guarded.energy_and_grad(&[2.0], &mut g).unwrap(), f64::INFINITY);
/// assert_eq!(guarded.energy_and_grad(&[0.5], &mut g).unwrap(), 0.125);
/// assert_eq!((guarded.failures(), guarded.first_failure()), (1, Some("outside the domain")));
/// assert_eq!(guarded.evaluations(), 2);
/// ```
pub struct Rejecting<'p> {
    inner: &'p mut dyn Potential,
    failures: usize,
    first: Option<String>,
    evaluations: usize,
}

impl<'p> Rejecting<'p> {
    /// Guards `inner`.
    pub fn new(inner: &'p mut dyn Potential) -> Rejecting<'p> {
        Rejecting { inner, failures: 0, first: None, evaluations: 0 }
    }

    /// How many points were rejected because the model failed there (an error).
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// How many times the potential and its gradient were evaluated (failures included).
    pub fn evaluations(&self) -> usize {
        self.evaluations
    }

    /// The first failure's message.
    pub fn first_failure(&self) -> Option<&str> {
        self.first.as_deref()
    }

    fn reject(&mut self, why: String, grad: &mut [f64]) -> f64 {
        self.failures += 1;
        self.first.get_or_insert(why);
        grad.fill(0.0);
        f64::INFINITY
    }
}

impl Potential for Rejecting<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64, PyriteError> {
        self.evaluations += 1;
        Ok(match self.inner.energy_and_grad(z, grad) {
            // Not finite at a point reached by a step far too long (early in warm-up): rejected,
            // but the model did not fail there.
            Ok(e) if e.is_finite() && !grad.iter().all(|g| g.is_finite()) => {
                grad.fill(0.0);
                f64::INFINITY
            }
            Ok(e) => e,
            Err(e) => self.reject(e.to_string(), grad),
        })
    }
}
