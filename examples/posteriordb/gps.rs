//! Gaussian processes of posteriordb, written as their Stan programs: gp_pois_regr (a latent
//! GP through the Cholesky factor of an exponentiated-quadratic kernel, Poisson counts on its
//! log scale) and mcycle_gp's accel_gp (brms's basis-function approximations of a GP for the
//! mean and one for the log scale).

use pyrite::prelude::*;

use super::{c, Build, Data, Model};

/// The ported posteriors of this family.
pub const POSTERIORS: &[(&str, Build)] = &[("gp_pois_regr-gp_pois_regr", gp_pois_regr), ("mcycle_gp-accel_gp", accel_gp)];

/// Stan's `gp_exp_quad_cov(x, alpha, rho)` from the squared distances of the points:
/// `alpha^2 exp(-d^2 / (2 rho^2))`.
fn exp_quad_cov(squared_distances: &Tensor, alpha: &Tensor, rho: &Tensor) -> Tensor {
    alpha.square() * (-squared_distances / (rho.square() * 2.0)).exp()
}

/// `rho ~ gamma(25, 4)`, `alpha ~ normal(0, 2)` on `real<lower=0>`, `f_tilde ~ normal(0, 1)`,
/// the transformed parameter `f = cholesky_decompose(K + 1e-10 I) * f_tilde`,
/// `k ~ poisson_log(f)`.
fn gp_pois_regr(d: &Data) -> Result<Model> {
    let n = d.int("N")?;
    let (x, k) = (d.vector_of("x", n)?, d.vector_of("k", n)?);
    let squared_distances = (x.unsqueeze(1) - x.unsqueeze(0)).square();
    let jitter = Tensor::eye(n, (Kind::Double, Device::Cpu)) * 1e-10;
    Ok(Box::new(move |_: &()| {
        let rho = sample("rho", Gamma::new(c(25.0), c(4.0))?)?;
        let alpha = sample("alpha", HalfNormal::new(c(2.0))?)?;
        let f_tilde = sample("f_tilde", Normal::new(c(0.0), c(1.0))?.expand(&[n])?.to_event(1)?)?;
        let cov = exp_quad_cov(&squared_distances, &alpha, &rho) + &jitter;
        let f = deterministic("f", &cov.f_linalg_cholesky(false)?.mv(&f_tilde), 1)?;
        plate("data", n, |_| observe("k", Poisson::new(f.exp())?, &k).map(drop))
    }))
}

/// One of brms's approximate GPs (`gpa`): the basis matrix times the square root of the
/// exponentiated-quadratic kernel's spectral density at the basis' frequencies (`slambda`, one
/// dimension), times the standard normal weights `zgp`.
struct ApproximateGp {
    basis: Tensor,
    /// The frequencies squared.
    slambda_squared: Tensor,
}

impl ApproximateGp {
    fn new(d: &Data, basis: &str, slambda: &str) -> Result<ApproximateGp> {
        let basis = d.matrix(basis)?;
        let slambda = d.matrix(slambda)?;
        if slambda.size() != [basis.size()[1], 1] {
            return Err(PyriteError::InvalidInput { what: "slambda".into(), problem: "must hold one frequency per basis function".into() });
        }
        Ok(ApproximateGp { basis, slambda_squared: slambda.reshape([-1]).square() })
    }

    fn len(&self) -> i64 {
        self.basis.size()[1]
    }

    /// `X * (sqrt(spd_cov_exp_quad(slambda, sdgp, lscale)) .* zgp)`, the spectral density
    /// `sdgp^2 sqrt(2 pi) lscale exp(-lscale^2 slambda^2 / 2)`.
    fn at(&self, sdgp: &Tensor, lscale: &Tensor, zgp: &Tensor) -> Tensor {
        let spd = sdgp.square() * lscale * (2.0 * std::f64::consts::PI).sqrt() * (lscale.square() * &self.slambda_squared * -0.5).exp();
        self.basis.mv(&(spd.sqrt() * zgp))
    }
}

/// mcycle's acceleration: `Y ~ normal(mu, sigma)` with `mu = Intercept + gpa(...)` and
/// `log(sigma) = Intercept_sigma + gpa(...)`; brms's priors: Student's t intercepts, half-t GP
/// sds, inverse-gamma length scales, standard normal weights.
fn accel_gp(d: &Data) -> Result<Model> {
    let n = d.int("N")?;
    let y = d.vector_of("Y", n)?;
    let (mean_gp, scale_gp) = (ApproximateGp::new(d, "Xgp_1", "slambda_1")?, ApproximateGp::new(d, "Xgp_sigma_1", "slambda_sigma_1")?);
    Ok(Box::new(move |_: &()| {
        let weights = |name: &str, gp: &ApproximateGp| -> Result<Tensor> { sample(name, Normal::new(c(0.0), c(1.0))?.expand(&[gp.len()])?.to_event(1)?) };
        let intercept = sample("Intercept", StudentT::new(c(3.0), c(-13.0), c(36.0))?)?;
        let sdgp = sample("sdgp_1", HalfStudentT::new(c(3.0), c(36.0))?)?;
        let lscale = sample("lscale_1", InverseGamma::new(c(1.124909), c(0.0177))?)?;
        let zgp = weights("zgp_1", &mean_gp)?;
        let intercept_sigma = sample("Intercept_sigma", StudentT::new(c(3.0), c(0.0), c(10.0))?)?;
        let sdgp_sigma = sample("sdgp_sigma_1", HalfStudentT::new(c(3.0), c(36.0))?)?;
        let lscale_sigma = sample("lscale_sigma_1", InverseGamma::new(c(1.124909), c(0.0177))?)?;
        let zgp_sigma = weights("zgp_sigma_1", &scale_gp)?;
        let mu = mean_gp.at(&sdgp, &lscale, &zgp) + intercept;
        let sigma = (scale_gp.at(&sdgp_sigma, &lscale_sigma, &zgp_sigma) + intercept_sigma).exp();
        plate("data", n, |_| observe("Y", Normal::new(&mu, &sigma)?, &y).map(drop))
    }))
}
