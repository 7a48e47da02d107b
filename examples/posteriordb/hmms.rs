//! Hidden Markov models of posteriordb (hmm_example; the basketball drives with exponential and
//! with normal emissions), written as their Stan programs: the states summed out by
//! the forward algorithm, a Rust loop over time (`gamma[t, k] = log_sum_exp_j(gamma[t - 1, j] +
//! log theta[j, k]) + emission[t, k]`), vectorised over the states.

use pyrite::prelude::*;

use super::{c, Build, Data, Model};

/// The ported posteriors of this family.
pub const POSTERIORS: &[(&str, Build)] =
    &[("hmm_example-hmm_example", hmm_example), ("bball_drive_event_0-hmm_drive_0", hmm_drive), ("bball_drive_event_1-hmm_drive_1", hmm_drive_normal)];

/// `target += log_sum_exp(gamma[N])` for the emission log-densities `emission` (`[N, K]`) and
/// the transition matrix `theta` (`[K, K]`, rows from, columns to).
fn forward(emission: &Tensor, theta: &Tensor) -> Result<()> {
    let log_theta = theta.log();
    let mut gamma = emission.get(0);
    for t in 1..emission.size()[0] {
        gamma = (gamma.unsqueeze(-1) + &log_theta).logsumexp([0], false) + emission.get(t);
    }
    factor("forward", &gamma.logsumexp([0], false))
}

/// `normal_lpdf(x | loc, 1)` as Stan's `target +=` of one element.
fn normal_prior(name: &str, x: &Tensor, loc: f64) -> Result<()> {
    factor(name, &Normal::new(c(loc), c(1.0))?.log_prob(x)?)
}

/// Two states, normal emissions with unit sd: `simplex[K] theta1, theta2` (flat),
/// `positive_ordered[K] mu` with `mu[1] ~ normal(3, 1)`, `mu[2] ~ normal(10, 1)`.
fn hmm_example(d: &Data) -> Result<Model> {
    let (n, k) = (d.int("N")?, d.int("K")?);
    let y = d.vector_of("y", n)?;
    Ok(Box::new(move |_: &()| {
        let theta1 = sample("theta1", ImproperUniform::new(Constraint::Simplex, &[], &[k])?)?;
        let theta2 = sample("theta2", ImproperUniform::new(Constraint::Simplex, &[], &[k])?)?;
        let mu = sample("mu", ImproperUniform::new(Constraint::PositiveOrdered, &[], &[k])?)?;
        normal_prior("mu1_prior", &mu.get(0), 3.0)?;
        normal_prior("mu2_prior", &mu.get(1), 10.0)?;
        let emission = Normal::new(&mu, c(1.0))?.log_prob(&y.unsqueeze(-1))?;
        forward(&emission, &Tensor::stack(&[theta1, theta2], 0))
    }))
}

/// Basketball drives: two states, exponential emissions for 1/speed (`u`, rate `phi`) and hoop
/// distance (`v`, rate `lambda`); `theta[k] ~ dirichlet(alpha[k])`, `positive_ordered[K] phi,
/// lambda` with normal priors on each element.
fn hmm_drive(d: &Data) -> Result<Model> {
    let (n, k) = (d.int("N")?, d.int("K")?);
    let (u, v, alpha) = (d.vector_of("u", n)?, d.vector_of("v", n)?, d.matrix("alpha")?);
    Ok(Box::new(move |_: &()| {
        let (theta, phi, lambda) = drive_parameters(&alpha, k, Constraint::PositiveOrdered)?;
        let emission = Exponential::new(&phi)?.log_prob(&u.unsqueeze(-1))? + Exponential::new(&lambda)?.log_prob(&v.unsqueeze(-1))?;
        forward(&emission, &theta)
    }))
}

/// Basketball drives with normal emissions: `ordered[K] phi, lambda` (locations of 1/speed and
/// hoop distance) with normal priors on each element, their sds `tau` and `rho` given as data,
/// `theta[k] ~ dirichlet(alpha[k])`.
fn hmm_drive_normal(d: &Data) -> Result<Model> {
    let (n, k) = (d.int("N")?, d.int("K")?);
    let (u, v, alpha) = (d.vector_of("u", n)?, d.vector_of("v", n)?, d.matrix("alpha")?);
    let (tau, rho) = (c(d.real("tau")?), c(d.real("rho")?));
    Ok(Box::new(move |_: &()| {
        let (theta, phi, lambda) = drive_parameters(&alpha, k, Constraint::Ordered)?;
        let emission = Normal::new(&phi, &tau)?.log_prob(&u.unsqueeze(-1))? + Normal::new(&lambda, &rho)?.log_prob(&v.unsqueeze(-1))?;
        forward(&emission, &theta)
    }))
}

/// The basketball drives' parameters: `theta[k] ~ dirichlet(alpha[k])` (the transition matrix's
/// rows), `phi` and `lambda` on `support` (`ordered` or `positive_ordered`) with `phi[1],
/// lambda[1] ~ normal(0, 1)` and `phi[2], lambda[2] ~ normal(3, 1)`.
fn drive_parameters(alpha: &Tensor, k: i64, support: Constraint) -> Result<(Tensor, Tensor, Tensor)> {
    let theta1 = sample("theta1", Dirichlet::new(alpha.get(0))?)?;
    let theta2 = sample("theta2", Dirichlet::new(alpha.get(1))?)?;
    let phi = sample("phi", ImproperUniform::new(support.clone(), &[], &[k])?)?;
    let lambda = sample("lambda", ImproperUniform::new(support, &[], &[k])?)?;
    normal_prior("phi1_prior", &phi.get(0), 0.0)?;
    normal_prior("phi2_prior", &phi.get(1), 3.0)?;
    normal_prior("lambda1_prior", &lambda.get(0), 0.0)?;
    normal_prior("lambda2_prior", &lambda.get(1), 3.0)?;
    Ok((Tensor::stack(&[theta1, theta2], 0), phi, lambda))
}
