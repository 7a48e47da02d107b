//! Mixtures of posteriordb, written as their Stan programs: low_dim_gauss_mix (two normal
//! components with ordered locations, `log_mix` over the data).

use pyrite::prelude::*;

use super::{c, Build, Data, Model};

/// The ported posteriors of this family.
pub const POSTERIORS: &[(&str, Build)] = &[("low_dim_gauss_mix-low_dim_gauss_mix", low_dim_gauss_mix)];

/// `ordered[2] mu ~ normal(0, 2)`, `array[2] real<lower=0> sigma ~ normal(0, 2)`,
/// `theta ~ beta(5, 5)`, `y[n] ~ log_mix(theta, normal(mu[1], sigma[1]), normal(mu[2], sigma[2]))`.
fn low_dim_gauss_mix(d: &Data) -> Result<Model> {
    let n = d.int("N")?;
    let y = d.vector_of("y", n)?;
    Ok(Box::new(move |_: &()| {
        // An ordered vector (its support), with the normal density added as Stan's `~` does.
        let mu = sample("mu", ImproperUniform::new(Constraint::Ordered, &[], &[2])?)?;
        factor("mu_prior", &Normal::new(c(0.0), c(2.0))?.log_prob(&mu)?.sum(Kind::Double))?;
        let sigma = sample("sigma", HalfNormal::new(c(2.0))?.expand(&[2])?.to_event(1)?)?;
        let theta = sample("theta", Beta::new(c(5.0), c(5.0))?)?;
        let component = |k: i64| -> Result<Tensor> { Ok(Normal::new(mu.get(k), sigma.get(k))?.log_prob(&y)?) };
        // log_mix(theta, a, b) = log(theta exp(a) + (1 - theta) exp(b)).
        let log_mix = Tensor::stack(&[theta.log() + component(0)?, (-&theta).log1p() + component(1)?], 0).logsumexp([0], false);
        factor("y", &log_mix.sum(Kind::Double))
    }))
}
