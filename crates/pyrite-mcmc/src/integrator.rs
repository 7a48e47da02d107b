//! The Euclidean phase space a Hamiltonian sampler moves in: the mass matrix (momentum draws,
//! kinetic energy, velocity) and the leapfrog integrator.
//!
//! Everything is plain `f64` arithmetic on slices; the only call out is to the
//! [`Potential`] for the energy and gradient at a new position.

use pyrite_core::PyriteError;
use rand::Rng;

use crate::low_rank::LowRankMass;
use crate::potential::Potential;

/// The metric of the kinetic energy `K(p) = 0.5 p^T M^-1 p`, stored by its inverse `M^-1` (which
/// warm-up adaptation sets to an estimate of the posterior covariance).
///
/// ```
/// use pyrite_mcmc::integrator::MassMatrix;
/// let m = MassMatrix::Diagonal(vec![4.0, 1.0]);
/// let mut v = [0.0; 2];
/// m.velocity(&[1.0, 1.0], &mut v);
/// assert_eq!(v, [4.0, 1.0]);
/// assert_eq!(m.kinetic_energy(&[1.0, 1.0], &v), 2.5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum MassMatrix {
    /// The diagonal of `M^-1`; every entry must be positive and finite.
    Diagonal(Vec<f64>),
    /// A full `M^-1` with its Cholesky factor.
    Dense(DenseMass),
    /// A diagonal and a few directions (nutpie's low-rank metric).
    LowRank(LowRankMass),
}

impl MassMatrix {
    /// The identity metric, diagonal or dense.
    ///
    /// ```
    /// use pyrite_mcmc::integrator::MassMatrix;
    /// assert_eq!(MassMatrix::identity(2, false), MassMatrix::Diagonal(vec![1.0, 1.0]));
    /// assert_eq!(MassMatrix::identity(2, true).dim(), 2);
    /// ```
    pub fn identity(dim: usize, dense: bool) -> Self {
        if dense {
            let mut inverse = vec![0.0; dim * dim];
            for i in 0..dim {
                inverse[i * dim + i] = 1.0;
            }
            MassMatrix::Dense(DenseMass { dim, chol: inverse.clone(), inverse })
        } else {
            MassMatrix::Diagonal(vec![1.0; dim])
        }
    }

    /// The number of coordinates.
    pub fn dim(&self) -> usize {
        match self {
            MassMatrix::Diagonal(d) => d.len(),
            MassMatrix::Dense(m) => m.dim,
            MassMatrix::LowRank(m) => m.dim(),
        }
    }

    /// Draws a momentum `p ~ N(0, M)` into `p`.
    pub fn sample_momentum<R: Rng + ?Sized>(&self, rng: &mut R, p: &mut [f64]) {
        match self {
            MassMatrix::Diagonal(inv) => {
                for (pi, &mi) in p.iter_mut().zip(inv) {
                    *pi = standard_normal(rng) / mi.sqrt();
                }
            }
            MassMatrix::Dense(m) => {
                // With M^-1 = L L^T, p = L^-T xi has covariance (L L^T)^-1 = M.
                for pi in p.iter_mut() {
                    *pi = standard_normal(rng);
                }
                solve_upper_transposed(&m.chol, m.dim, p);
            }
            MassMatrix::LowRank(m) => m.sample_momentum(rng, p),
        }
    }

    /// Writes the velocity `M^-1 p` into `out`.
    pub fn velocity(&self, p: &[f64], out: &mut [f64]) {
        match self {
            MassMatrix::Diagonal(inv) => {
                for ((o, &pi), &mi) in out.iter_mut().zip(p).zip(inv) {
                    *o = mi * pi;
                }
            }
            MassMatrix::Dense(m) => {
                for (o, row) in out.iter_mut().zip(m.inverse.chunks_exact(m.dim)) {
                    *o = dot(row, p);
                }
            }
            MassMatrix::LowRank(m) => m.velocity(p, out),
        }
    }

    /// The kinetic energy `0.5 p^T M^-1 p`, given `p` and its velocity `M^-1 p`.
    pub fn kinetic_energy(&self, p: &[f64], velocity: &[f64]) -> f64 {
        0.5 * dot(p, velocity)
    }
}

/// A dense inverse mass matrix `M^-1` (row-major, symmetric positive definite) with the lower
/// Cholesky factor `L` of `M^-1 = L L^T`, which turns standard normals into momenta.
///
/// ```
/// use pyrite_mcmc::integrator::DenseMass;
/// let m = DenseMass::new(vec![4.0, 2.0, 2.0, 2.0], 2).unwrap();
/// assert_eq!(m.cholesky(), &[2.0, 0.0, 1.0, 1.0]);
/// assert!(DenseMass::new(vec![1.0, 2.0, 2.0, 1.0], 2).is_err()); // not positive definite
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DenseMass {
    dim: usize,
    inverse: Vec<f64>,
    chol: Vec<f64>,
}

impl DenseMass {
    /// Checks and factors a row-major `dim x dim` inverse mass matrix; `InvalidInput` when it is
    /// the wrong size, not symmetric, or not positive definite.
    pub fn new(inverse: Vec<f64>, dim: usize) -> Result<Self, PyriteError> {
        let invalid = |problem: &str| PyriteError::InvalidInput { what: "inverse_mass_matrix".to_string(), problem: problem.to_string() };
        if inverse.len() != dim * dim {
            return Err(invalid(&format!("has {} entries, expected {dim} x {dim}", inverse.len())));
        }
        for i in 0..dim {
            for j in 0..i {
                let (a, b) = (inverse[i * dim + j], inverse[j * dim + i]);
                if (a - b).abs() > 1e-10 * (a.abs() + b.abs()).max(f64::MIN_POSITIVE) {
                    return Err(invalid("is not symmetric"));
                }
            }
        }
        let chol = cholesky(&inverse, dim).ok_or_else(|| invalid("is not positive definite (or not finite)"))?;
        Ok(DenseMass { dim, inverse, chol })
    }

    /// `M^-1`, row-major.
    pub fn inverse(&self) -> &[f64] {
        &self.inverse
    }

    /// The lower Cholesky factor `L` of `M^-1 = L L^T`, row-major with zeros above the diagonal.
    pub fn cholesky(&self) -> &[f64] {
        &self.chol
    }
}

/// A point of phase space with what the integrator caches about it: position `z`, momentum `p`,
/// the gradient of the potential at `z` and the potential energy `U(z)`.
///
/// ```
/// use pyrite_mcmc::integrator::PhasePoint;
/// let x = PhasePoint::new(3);
/// assert_eq!(x.z, vec![0.0; 3]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PhasePoint {
    /// Position.
    pub z: Vec<f64>,
    /// Momentum.
    pub p: Vec<f64>,
    /// `dU/dz` at `z`.
    pub grad: Vec<f64>,
    /// `U(z)`.
    pub potential_energy: f64,
}

impl PhasePoint {
    /// The origin of a `dim`-dimensional phase space, with zero gradient and energy.
    pub fn new(dim: usize) -> Self {
        PhasePoint { z: vec![0.0; dim], p: vec![0.0; dim], grad: vec![0.0; dim], potential_energy: 0.0 }
    }

    /// Copies `other` into `self` without allocating (both of the same dimension).
    pub fn copy_from(&mut self, other: &PhasePoint) {
        self.z.copy_from_slice(&other.z);
        self.p.copy_from_slice(&other.p);
        self.grad.copy_from_slice(&other.grad);
        self.potential_energy = other.potential_energy;
    }
}

/// One velocity-Verlet (leapfrog) step of size `step_size` (negative to go back in time), in
/// place: half a momentum step, a full position step, the gradient at the new position, half a
/// momentum step. `velocity` is scratch of length `dim`. Returns the potential's error, if any; a
/// non-finite energy is not an error (the caller sees a divergence).
///
/// ```
/// use pyrite_mcmc::integrator::{leapfrog, MassMatrix, PhasePoint};
/// use pyrite_mcmc::potential::FnPotential;
/// let mut u = FnPotential::new(1, |z: &[f64], g: &mut [f64]| { g[0] = z[0]; Ok(0.5 * z[0] * z[0]) });
/// let mut x = PhasePoint::new(1);
/// x.p[0] = 1.0;
/// let mut scratch = [0.0];
/// leapfrog(&mut u, &MassMatrix::identity(1, false), 0.1, &mut x, &mut scratch).unwrap();
/// assert!((x.z[0] - 0.1).abs() < 1e-12);
/// assert!((x.p[0] - (1.0 - 0.5 * 0.1 * 0.1)).abs() < 1e-12);
/// ```
pub fn leapfrog(potential: &mut dyn Potential, mass: &MassMatrix, step_size: f64, point: &mut PhasePoint, velocity: &mut [f64]) -> Result<(), PyriteError> {
    let half = 0.5 * step_size;
    for (p, g) in point.p.iter_mut().zip(&point.grad) {
        *p -= half * g;
    }
    mass.velocity(&point.p, velocity);
    for (z, v) in point.z.iter_mut().zip(velocity.iter()) {
        *z += step_size * v;
    }
    point.potential_energy = potential.energy_and_grad(&point.z, &mut point.grad)?;
    for (p, g) in point.p.iter_mut().zip(&point.grad) {
        *p -= half * g;
    }
    Ok(())
}

/// The dot product of two slices of the same length.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A standard normal draw (Marsaglia's polar method).
pub(crate) fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    loop {
        let u = 2.0 * rng.gen::<f64>() - 1.0;
        let v = 2.0 * rng.gen::<f64>() - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * (-2.0 * s.ln() / s).sqrt();
        }
    }
}

/// The lower Cholesky factor of a row-major symmetric `n x n` matrix, or `None` when it is not
/// (numerically) positive definite or not finite.
pub(crate) fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s = a[i * n + j] - dot(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `L^T x = b` in place (`b` becomes `x`) for a row-major lower-triangular `L`.
fn solve_upper_transposed(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn dense_momenta_have_covariance_m() {
        // M^-1 = [[2, 0.6], [0.6, 0.5]]  =>  M = [[0.5, -0.6], [-0.6, 2]] / (1 - 0.36)
        let m = MassMatrix::Dense(DenseMass::new(vec![2.0, 0.6, 0.6, 0.5], 2).unwrap());
        let mut rng = StdRng::seed_from_u64(1);
        let n = 200_000;
        let (mut s00, mut s01, mut s11) = (0.0, 0.0, 0.0);
        let mut p = [0.0; 2];
        for _ in 0..n {
            m.sample_momentum(&mut rng, &mut p);
            s00 += p[0] * p[0];
            s01 += p[0] * p[1];
            s11 += p[1] * p[1];
        }
        let nf = n as f64;
        let det = 1.0 - 0.36;
        assert!((s00 / nf - 0.5 / det).abs() < 0.02);
        assert!((s01 / nf + 0.6 / det).abs() < 0.03);
        assert!((s11 / nf - 2.0 / det).abs() < 0.05);
    }

    #[test]
    fn leapfrog_is_reversible() {
        let mut u = crate::potential::FnPotential::new(2, |z: &[f64], g: &mut [f64]| {
            g[0] = z[0] * z[0] * z[0];
            g[1] = 2.0 * z[1];
            Ok(0.25 * z[0].powi(4) + z[1] * z[1])
        });
        let mass = MassMatrix::Dense(DenseMass::new(vec![1.0, 0.3, 0.3, 2.0], 2).unwrap());
        let mut x = PhasePoint::new(2);
        x.z.copy_from_slice(&[0.7, -0.4]);
        x.potential_energy = u.energy_and_grad(&x.z.clone(), &mut x.grad).unwrap();
        x.p.copy_from_slice(&[0.3, 1.1]);
        let start = x.clone();
        let mut v = [0.0; 2];
        for _ in 0..10 {
            leapfrog(&mut u, &mass, 0.05, &mut x, &mut v).unwrap();
        }
        for _ in 0..10 {
            leapfrog(&mut u, &mass, -0.05, &mut x, &mut v).unwrap();
        }
        for i in 0..2 {
            assert!((x.z[i] - start.z[i]).abs() < 1e-12);
            assert!((x.p[i] - start.p[i]).abs() < 1e-12);
        }
    }
}
