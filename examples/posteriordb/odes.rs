//! Ordinary differential equations of posteriordb, written as their Stan programs with
//! `ode::rk4` in place of Stan's adaptive solvers (`integrate_ode_rk45`, `integrate_ode_bdf`):
//! fixed steps, short enough that the solution's error is far below the measurement noise (and
//! the solve compiles, an unrolled loop). hudson_lynx_hare's Lotka–Volterra predator–prey
//! model and one_comp_mm_elim_abs's one-compartment pharmacokinetics with Michaelis–Menten
//! elimination.

use pyrite::prelude::*;

use super::{c, flat_positive_of, Build, Data, Model};

/// The ported posteriors of this family.
pub const POSTERIORS: &[(&str, Build)] =
    &[("hudson_lynx_hare-lotka_volterra", lotka_volterra), ("one_comp_mm_elim_abs-one_comp_mm_elim_abs", one_comp_mm_elim_abs)];

/// Numbers of an array field, as Rust numbers (output times).
fn times(d: &Data, name: &str, n: i64) -> Result<Vec<f64>> {
    Vec::<f64>::try_from(d.vector_of(name, n)?).map_err(|e| PyriteError::InvalidInput { what: name.into(), problem: e.to_string() })
}

/// `theta = {alpha, beta, gamma, delta}` on `real<lower=0>` with `theta[{1, 3}] ~ normal(1,
/// 0.5)`, `theta[{2, 4}] ~ normal(0.05, 0.05)`; `z_init ~ lognormal(log(10), 1)`, `sigma ~
/// lognormal(-1, 1)`; `z` the solution of `u' = (alpha - beta v) u`, `v' = (-gamma + delta u)
/// v` from `z_init` at the measurement times; the populations `y_init ~ lognormal(log(z_init),
/// sigma)`, `y[, k] ~ lognormal(log(z[, k]), sigma[k])`.
fn lotka_volterra(d: &Data) -> Result<Model> {
    let n = d.int("N")?;
    let ts = times(d, "ts", n)?;
    let (y_init, y) = (d.vector_of("y_init", 2)?, d.matrix("y")?);
    if y.size() != [n, 2] {
        return Err(PyriteError::InvalidInput { what: "y".into(), problem: format!("must be N x 2 = {n} x 2") });
    }
    let (prior_loc, prior_scale) = (Tensor::from_slice(&[1.0f64, 0.05, 1.0, 0.05]), Tensor::from_slice(&[0.5f64, 0.05, 0.5, 0.05]));
    // Indexed from the right (`[..., k]`), so that the model broadcasts over a batch of chains
    // (vectorised chains, whose values come with batch dims `[chains, 1]` on the left).
    Ok(Box::new(move |_: &()| {
        let theta = sample("theta", flat_positive_of(&[4])?)?;
        factor("theta_prior", &Normal::new(&prior_loc, &prior_scale)?.to_event(1)?.log_prob(&theta)?)?;
        let z_init = sample("z_init", LogNormal::new(c(10f64.ln()), c(1.0))?.expand(&[2])?.to_event(1)?)?;
        let sigma = sample("sigma", LogNormal::new(c(-1.0), c(1.0))?.expand(&[2])?.to_event(1)?)?;
        let (alpha, beta, gamma, delta) = (theta.select(-1, 0), theta.select(-1, 1), theta.select(-1, 2), theta.select(-1, 3));
        let dz_dt = |_t: f64, z: &Tensor| {
            let (u, v) = (z.select(-1, 0), z.select(-1, 1));
            Tensor::stack(&[(&alpha - &beta * &v) * &u, (&delta * &u - &gamma) * &v], -1)
        };
        // `[times, 2]`; over a batch of chains the solver's `[times, chains, 1, 2]` becomes
        // `[1, chains, times, 2]`, the times in the plate's dim
        let z = ode::rk4(dz_dt, &z_init, 0.0, &ts, 0.1)?.transpose(0, -2);
        let _ = observe("y_init", LogNormal::new(z_init.log(), &sigma)?.to_event(1)?, &y_init)?;
        plate("times", n, |_| observe("y", LogNormal::new(z.log(), &sigma)?.to_event(1)?, &y).map(drop))
    }))
}

/// `k_a, K_m, V_m, sigma ~ cauchy(0, 1)` on `real<lower=0>`; the concentration `C` from `C(t0)
/// = 0` by `C' = exp(-k_a t) D k_a / V - (V_m / V) C / (K_m + C)` (the dose term from t > 0);
/// `C_hat[n] ~ lognormal(log(C[n]), sigma)`. At `t = 0` itself the dose term takes its limit
/// from the right: the solution does not depend on one instant, which Stan's adaptive solver
/// steps past, but a fixed-step solver's first stage sits on it, and the jump left out there put
/// the early concentrations 1% low (against scipy's solution to 1e-11; 1e-8 with the limit).
fn one_comp_mm_elim_abs(d: &Data) -> Result<Model> {
    let n = d.int("N_t")?;
    let ts = times(d, "times", n)?;
    let (t0, dose, volume) = (d.real("t0")?, d.real("D")?, d.real("V")?);
    let c_hat = d.vector_of("C_hat", n)?;
    Ok(Box::new(move |_: &()| {
        let half_cauchy = || -> Result<HalfCauchy> { Ok(HalfCauchy::new(c(1.0))?) };
        let k_a = sample("k_a", half_cauchy()?)?;
        let k_m = sample("K_m", half_cauchy()?)?;
        let v_m = sample("V_m", half_cauchy()?)?;
        let sigma = sample("sigma", half_cauchy()?)?;
        let dc_dt = |t: f64, y: &Tensor| {
            let elimination = &v_m / volume * y / (&k_m + y);
            if t >= 0.0 {
                (-(&k_a) * t).exp() * &k_a * (dose / volume) - elimination
            } else {
                -elimination
            }
        };
        // `C(t0) = 0`, one per chain over a batch of chains (`[chains, 1]`), whose solution
        // `[times, chains, 1]` becomes `[1, chains, times]`, the times in the plate's dim
        let concentration = ode::rk4(dc_dt, &k_a.zeros_like(), t0, &ts, 0.025)?.transpose(0, -1);
        plate("times", n, |_| observe("C_hat", LogNormal::new(concentration.log(), &sigma)?, &c_hat).map(drop))
    }))
}
