//! A low-rank-plus-diagonal mass matrix and its estimate from warm-up draws and gradients, as
//! nutpie (crates.io `nuts-rs`) adapts it: measured on the posteriordb panel, the metric that
//! made the difference (`docs/posteriordb.md`, "nuts-rs beside pyrite's NUTS").
//!
//! The inverse mass matrix is `M^-1 = S (I + U (diag(lambda) - I) U^T) S`: `S` a diagonal of
//! scales, `U` a few orthonormal directions along which the posterior, once scaled by `S`, is
//! much wider (`lambda > 1`) or narrower (`lambda < 1`) than along the others. Velocities and
//! momentum draws cost `O(dim * rank)`, and no dense matrix is ever formed.
//!
//! The estimate: each coordinate's scale is `sqrt(sd(draws) / sd(gradients))` (for a Gaussian,
//! its standard deviation: the gradients' sd is the inverse of the draws'); in the scaled
//! coordinates, the regularised covariance of the draws `C` and that of the gradients `G` (an
//! estimate of the inverse covariance) are combined by their geometric mean, the positive-definite
//! `A` with `A G A = C`, within the span of the draws' and gradients' principal directions. Its
//! eigenvectors whose eigenvalues lie outside `[1 / CUTOFF, CUTOFF]` become `U`. The geometric
//! mean uses the gradients as well as the draws, so it is usable after a few dozen draws even in
//! many dimensions, where a dense covariance of the draws alone is not.

use rand::Rng;
use tch::{Device, Kind, Tensor};

use crate::integrator::{dot, standard_normal};

/// Eigenvalues of the scaled covariance between `1 / CUTOFF` and `CUTOFF` are left to the
/// diagonal (nutpie's default since nuts-rs 0.17; 100 before, which kept almost no direction
/// on posteriordb).
const CUTOFF: f64 = 2.0;

/// The regularisation of the two covariances: `C / GAMMA + I` (nutpie's default).
const GAMMA: f64 = 1e-5;

/// `M^-1 = S (I + U (diag(lambda) - I) U^T) S`.
///
/// ```
/// use pyrite_mcmc::low_rank::LowRankMass;
/// // Scales 2 and 1, and the direction (1, 1) / sqrt(2) nine times wider.
/// let r = std::f64::consts::FRAC_1_SQRT_2;
/// let m = LowRankMass::new(vec![2.0, 1.0], vec![r, r], vec![9.0]).unwrap();
/// let mut v = [0.0; 2];
/// m.velocity(&[1.0, 0.0], &mut v);
/// // S e1 = (2, 0); plus 8 (u . (2, 0)) u = (8, 8); times S: (20, 8).
/// assert!((v[0] - 20.0).abs() < 1e-12 && (v[1] - 8.0).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LowRankMass {
    scales: Vec<f64>,
    /// The directions, one after the other (`rank x dim`).
    directions: Vec<f64>,
    values: Vec<f64>,
}

impl LowRankMass {
    /// From the scales `S`, the orthonormal directions `U` (`rank` of them, each `dim` long, one
    /// after the other) and their eigenvalues `lambda`; `None` unless the scales and eigenvalues
    /// are positive and finite, the sizes agree and the directions are orthonormal.
    pub fn new(scales: Vec<f64>, directions: Vec<f64>, values: Vec<f64>) -> Option<LowRankMass> {
        let dim = scales.len();
        let positive = |v: &[f64]| v.iter().all(|x| x.is_finite() && *x > 0.0);
        if dim == 0 || directions.len() != values.len() * dim || !positive(&scales) || !positive(&values) {
            return None;
        }
        let u = |j: usize| &directions[j * dim..(j + 1) * dim];
        for i in 0..values.len() {
            for j in 0..=i {
                let want = if i == j { 1.0 } else { 0.0 };
                if (dot(u(i), u(j)) - want).abs() > 1e-8 {
                    return None;
                }
            }
        }
        Some(LowRankMass { scales, directions, values })
    }

    /// The number of coordinates.
    pub fn dim(&self) -> usize {
        self.scales.len()
    }

    /// The number of directions beside the diagonal.
    pub fn rank(&self) -> usize {
        self.values.len()
    }

    /// The scales `S`.
    pub fn scales(&self) -> &[f64] {
        &self.scales
    }

    /// The eigenvalues `lambda` of the directions.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    fn direction(&self, j: usize) -> &[f64] {
        let d = self.dim();
        &self.directions[j * d..(j + 1) * d]
    }

    /// `x += (f(lambda_j) - 1) (u_j . x) u_j` for every direction: `(I + U (f(diag lambda) - I)
    /// U^T) x` in place, exact one direction after the other because they are orthonormal.
    fn apply(&self, x: &mut [f64], f: impl Fn(f64) -> f64) {
        for (j, &lambda) in self.values.iter().enumerate() {
            let u = self.direction(j);
            let c = (f(lambda) - 1.0) * dot(u, x);
            for (xi, ui) in x.iter_mut().zip(u) {
                *xi += c * ui;
            }
        }
    }

    /// Writes the velocity `M^-1 p` into `out`.
    pub fn velocity(&self, p: &[f64], out: &mut [f64]) {
        for ((o, pi), s) in out.iter_mut().zip(p).zip(&self.scales) {
            *o = s * pi;
        }
        self.apply(out, |lambda| lambda);
        for (o, s) in out.iter_mut().zip(&self.scales) {
            *o *= s;
        }
    }

    /// Draws a momentum `p ~ N(0, M)`: `M = S^-1 (I + U (diag(lambda)^-1 - I) U^T) S^-1`, whose
    /// square root turns standard normals into `p`.
    pub fn sample_momentum<R: Rng + ?Sized>(&self, rng: &mut R, p: &mut [f64]) {
        for pi in p.iter_mut() {
            *pi = standard_normal(rng);
        }
        self.apply(p, |lambda| lambda.sqrt().recip());
        for (pi, s) in p.iter_mut().zip(&self.scales) {
            *pi /= s;
        }
    }

    /// The estimate from warm-up draws and the potential's gradients there (`n` of each,
    /// `dim` long, one after the other); `None` with fewer than 3 draws or when a coordinate
    /// did not move (or its gradient did not), or the linear algebra fails.
    pub fn estimate(draws: &[f64], grads: &[f64], dim: usize) -> Option<LowRankMass> {
        let n = draws.len() / dim.max(1);
        if dim == 0 || n < 3 || draws.len() != n * dim || grads.len() != n * dim {
            return None;
        }
        let opts = (Kind::Double, Device::Cpu);
        let x = Tensor::f_from_slice(draws).ok()?.reshape([n as i64, dim as i64]);
        let g = Tensor::f_from_slice(grads).ok()?.reshape([n as i64, dim as i64]);
        let centred = |t: &Tensor| t - t.mean_dim(0, true, Kind::Double);
        let (x, g) = (centred(&x), centred(&g));
        let norm = |t: &Tensor| t.square().sum_dim_intlist(0, false, Kind::Double).sqrt();
        let scales = (norm(&x) / norm(&g)).sqrt();
        let scale_values: Vec<f64> = Vec::try_from(&scales).ok()?;
        if !scale_values.iter().all(|s| s.is_finite() && *s > 0.0) {
            return None;
        }
        // Scaled, and divided by n so that `x^T x` is the covariance over n.
        let nf = n as f64;
        let x = x / (&scales * nf);
        let g = g * &scales / nf;
        // The span of both sets' principal directions (all of it when n >= dim).
        let (ux, _, _) = x.transpose(0, 1).f_svd(true, true).ok()?;
        let (ug, _, _) = g.transpose(0, 1).f_svd(true, true).ok()?;
        let (basis, _) = Tensor::f_linalg_qr(&Tensor::cat(&[ux, ug], 1), "reduced").ok()?;
        let project = |t: &Tensor| basis.transpose(0, 1).matmul(&t.transpose(0, 1));
        let (xp, gp) = (project(&x), project(&g));
        let k = basis.size()[1];
        let eye = Tensor::eye(k, opts);
        let c = xp.matmul(&xp.transpose(0, 1)) / GAMMA + &eye;
        let h = gp.matmul(&gp.transpose(0, 1)) / GAMMA + &eye;
        let mean = geometric_mean(&c, &h)?;
        let (values, vectors) = mean.f_linalg_eigh("L").ok()?;
        let keep: Vec<i64> =
            Vec::<f64>::try_from(&values).ok()?.iter().enumerate().filter(|(_, &v)| !(1.0 / CUTOFF..=CUTOFF).contains(&v)).map(|(i, _)| i as i64).collect();
        let index = Tensor::f_from_slice(&keep).ok()?;
        let values: Vec<f64> = Vec::try_from(values.index_select(0, &index)).ok()?;
        // The kept directions in the full space, one row each.
        let directions = basis.matmul(&vectors.index_select(1, &index)).transpose(0, 1).contiguous();
        let directions: Vec<f64> = Vec::try_from(directions.reshape([-1])).ok()?;
        LowRankMass::new(scale_values, directions, values)
    }
}

/// The geometric mean of positive-definite `c` and the inverse of `h`: `A = h^-1/2 (h^1/2 c
/// h^1/2)^1/2 h^-1/2`, the solution of `A h A = c`.
fn geometric_mean(c: &Tensor, h: &Tensor) -> Option<Tensor> {
    let (e, u) = h.f_linalg_eigh("L").ok()?;
    let power = |values: &Tensor, vectors: &Tensor, p: f64| vectors.matmul(&(values.pow_tensor_scalar(p).unsqueeze(1) * vectors.transpose(0, 1)));
    let h_half = power(&e, &u, 0.5);
    let inner = h_half.matmul(c).matmul(&h_half);
    let inner = (&inner + inner.transpose(0, 1)) * 0.5;
    let (ei, ui) = inner.f_linalg_eigh("L").ok()?;
    let h_inv_half = power(&e, &u, -0.5);
    let a = h_inv_half.matmul(&power(&ei, &ui, 0.5)).matmul(&h_inv_half);
    Some((&a + a.transpose(0, 1)) * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `A h A = c` for the geometric mean, and for diagonal matrices it is `sqrt(c / h)`.
    #[test]
    fn geometric_mean_solves_its_equation() {
        let c = Tensor::from_slice(&[4.0f64, 1.0, 1.0, 3.0]).reshape([2, 2]);
        let h = Tensor::from_slice(&[2.0f64, -0.5, -0.5, 1.0]).reshape([2, 2]);
        let a = geometric_mean(&c, &h).unwrap();
        let back = a.matmul(&h).matmul(&a);
        assert!(f64::try_from((back - &c).abs().max()).unwrap() < 1e-10);
        let d = geometric_mean(&Tensor::from_slice(&[1.0f64, 0.0, 0.0, 8.0]).reshape([2, 2]), &Tensor::from_slice(&[1.0f64, 0.0, 0.0, 0.5]).reshape([2, 2]))
            .unwrap();
        assert!((d.double_value(&[1, 1]) - 4.0).abs() < 1e-12 && d.double_value(&[0, 1]).abs() < 1e-12);
    }

    /// Draws of a Gaussian with scales 3 and 0.1 and correlation 0.9999 in two of four
    /// coordinates, with the gradients of its potential. The gradients' scale of a coordinate
    /// of the pair is `sd (1 - rho^2)^(1/4)`, so once scaled the pair's covariance has
    /// eigenvalues near `(1 +- rho) / sqrt(1 - rho^2)`: 141 and 0.007, both kept, and nothing
    /// else is; `M^-1` is close to the covariance.
    #[test]
    fn the_estimate_finds_a_strong_correlation() {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
        let (sd, rho) = ([3.0, 0.1, 1.0, 2.0], 0.9999);
        // Covariance and its inverse (the first pair correlated, the rest independent).
        let mut cov = [[0.0; 4]; 4];
        for i in 0..4 {
            cov[i][i] = sd[i] * sd[i];
        }
        cov[0][1] = rho * sd[0] * sd[1];
        cov[1][0] = cov[0][1];
        let det = cov[0][0] * cov[1][1] - cov[0][1] * cov[0][1];
        let mut prec = [[0.0; 4]; 4];
        prec[0][0] = cov[1][1] / det;
        prec[1][1] = cov[0][0] / det;
        prec[0][1] = -cov[0][1] / det;
        prec[1][0] = prec[0][1];
        prec[2][2] = 1.0 / cov[2][2];
        prec[3][3] = 1.0 / cov[3][3];
        let (mut draws, mut grads) = (Vec::new(), Vec::new());
        for _ in 0..200 {
            let (a, b) = (standard_normal(&mut rng), standard_normal(&mut rng));
            let x = [sd[0] * a, sd[1] * (rho * a + (1.0 - rho * rho).sqrt() * b), sd[2] * standard_normal(&mut rng), sd[3] * standard_normal(&mut rng)];
            draws.extend(x);
            grads.extend((0..4).map(|i| (0..4).map(|j| prec[i][j] * x[j]).sum::<f64>()));
        }
        let m = LowRankMass::estimate(&draws, &grads, 4).unwrap();
        assert_eq!(m.rank(), 2, "values {:?}", m.values());
        assert!(m.values().iter().any(|&v| v < 0.01) && m.values().iter().any(|&v| v > 100.0), "values {:?}", m.values());
        // M^-1 against the covariance, column by column, relative to the scales.
        for j in 0..4 {
            let mut e = [0.0; 4];
            e[j] = 1.0;
            let mut v = [0.0; 4];
            m.velocity(&e, &mut v);
            for i in 0..4 {
                let rel = (v[i] - cov[i][j]).abs() / (sd[i] * sd[j]);
                assert!(rel < 0.25, "M^-1[{i}][{j}] = {}, covariance {}", v[i], cov[i][j]);
            }
        }
        // Momenta have covariance M: p^T M^-1 p averages dim.
        let mut total = 0.0;
        let (mut p, mut v) = ([0.0; 4], [0.0; 4]);
        for _ in 0..4000 {
            m.sample_momentum(&mut rng, &mut p);
            m.velocity(&p, &mut v);
            total += dot(&p, &v);
        }
        assert!((total / 4000.0 - 4.0).abs() < 0.2, "E[p^T M^-1 p] = {}", total / 4000.0);
    }

    #[test]
    fn too_few_or_degenerate_draws_give_nothing() {
        assert!(LowRankMass::estimate(&[1.0, 2.0], &[1.0, 2.0], 1).is_none());
        assert!(LowRankMass::estimate(&[1.0; 8], &[0.5, 1.0, 1.5, 2.0, 0.5, 1.0, 1.5, 2.0], 2).is_none());
        assert!(LowRankMass::new(vec![1.0, 1.0], vec![1.0, 1.0], vec![2.0]).is_none(), "not orthonormal");
    }
}
