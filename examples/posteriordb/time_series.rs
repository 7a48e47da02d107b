//! Time series of posteriordb, written as their Stan programs: arK (an autoregression of order
//! K, the mean at each step a Rust loop over the lags).

use pyrite::prelude::*;

use super::{c, Build, Data, Model};

/// The ported posteriors of this family.
pub const POSTERIORS: &[(&str, Build)] = &[("arK-arK", ar_k)];

/// `alpha ~ normal(0, 10)`, `beta ~ normal(0, 10)`, `sigma ~ cauchy(0, 2.5)` on `real<lower=0>`,
/// `y[t] ~ normal(alpha + sum_k beta[k] * y[t - k], sigma)` for `t > K`.
fn ar_k(d: &Data) -> Result<Model> {
    let (k, t) = (d.int("K")?, d.int("T")?);
    let y = d.vector_of("y", t)?;
    Ok(Box::new(move |_: &()| {
        let alpha = sample("alpha", Normal::new(c(0.0), c(10.0))?)?;
        let beta = sample("beta", Normal::new(c(0.0), c(10.0))?.expand(&[k])?.to_event(1)?)?;
        let sigma = sample("sigma", HalfCauchy::new(c(2.5))?)?;
        // mu[t] = alpha + beta[1] * y[t - 1] + ... + beta[K] * y[t - K], for t = K + 1, ..., T.
        let mu = (1..=k).fold(alpha.expand([t - k], false), |mu, lag| mu + beta.get(lag - 1) * y.narrow(0, k - lag, t - k));
        plate("steps", t - k, |_| observe("y", Normal::new(&mu, &sigma)?, &y.narrow(0, k, t - k)).map(drop))
    }))
}
