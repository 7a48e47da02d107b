//! KL divergences between distributions of two different families, as torch's
//! `_kl_<p family>_<q family>`: closed forms (mostly `-H(p) - E_p[log q]`), and `inf` where the
//! support of `p` is not inside that of `q`.

use std::any::Any;
use std::f64::consts::PI;

use tch::Tensor;

use super::{broadcast_batch, inf_where, pair};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::{Bernoulli, Beta, Binomial, Exponential, Gamma, Laplace, Normal, Poisson, Uniform};

/// The Euler–Mascheroni constant (torch's `euler_constant`).
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// The KL divergence of `p` and `q` when torch registers their pair of families.
pub(super) fn dispatch(p: &dyn Any, q: &dyn Any) -> Option<Result<Tensor>> {
    closed_form(p, q).or_else(|| infinite_pairs(p, q))
}

fn closed_form(p: &dyn Any, q: &dyn Any) -> Option<Result<Tensor>> {
    pair(p, q, bernoulli_poisson)
        .or_else(|| pair(p, q, beta_exponential))
        .or_else(|| pair(p, q, beta_gamma))
        .or_else(|| pair(p, q, beta_normal))
        .or_else(|| pair(p, q, beta_uniform))
        .or_else(|| pair(p, q, exponential_gamma))
        .or_else(|| pair(p, q, exponential_normal))
        .or_else(|| pair(p, q, gamma_exponential))
        .or_else(|| pair(p, q, gamma_normal))
        .or_else(|| pair(p, q, laplace_normal))
        .or_else(|| pair(p, q, normal_laplace))
        .or_else(|| pair(p, q, uniform_beta))
        .or_else(|| pair(p, q, uniform_exponential))
        .or_else(|| pair(p, q, uniform_gamma))
        .or_else(|| pair(p, q, uniform_normal))
}

/// The pairs where `p` has mass outside the support of `q` for all parameters.
fn infinite_pairs(p: &dyn Any, q: &dyn Any) -> Option<Result<Tensor>> {
    pair(p, q, infinite::<Exponential, Beta>)
        .or_else(|| pair(p, q, infinite::<Exponential, Uniform>))
        .or_else(|| pair(p, q, infinite::<Gamma, Beta>))
        .or_else(|| pair(p, q, infinite::<Gamma, Uniform>))
        .or_else(|| pair(p, q, infinite::<Laplace, Beta>))
        .or_else(|| pair(p, q, infinite::<Laplace, Exponential>))
        .or_else(|| pair(p, q, infinite::<Laplace, Gamma>))
        .or_else(|| pair(p, q, infinite::<Laplace, Uniform>))
        .or_else(|| pair(p, q, infinite::<Normal, Beta>))
        .or_else(|| pair(p, q, infinite::<Normal, Exponential>))
        .or_else(|| pair(p, q, infinite::<Normal, Gamma>))
        .or_else(|| pair(p, q, infinite::<Normal, Uniform>))
        .or_else(|| pair(p, q, infinite::<Poisson, Bernoulli>))
        .or_else(|| pair(p, q, infinite::<Poisson, Binomial>))
}

/// `inf` of the broadcast batch shape, in `p`'s dtype and device.
fn infinite<P: Distribution, Q: Distribution>(p: &P, q: &Q) -> Result<Tensor> {
    Ok(Tensor::full(broadcast_batch(p, q)?.as_slice(), f64::INFINITY, p.options()))
}

/// `x log x`, with `0 log 0 = 0`.
fn x_log_x(x: &Tensor) -> Tensor {
    x.xlogy(x)
}

/// The mean `a / (a + b)` of a Beta.
fn beta_mean(p: &Beta) -> Tensor {
    &p.concentration1 / (&p.concentration1 + &p.concentration0)
}

fn bernoulli_poisson(p: &Bernoulli, q: &Poisson) -> Result<Tensor> {
    Ok(-p.entropy()? - (&p.probs * q.rate.log() - &q.rate))
}

fn beta_exponential(p: &Beta, q: &Exponential) -> Result<Tensor> {
    Ok(-p.entropy()? - q.rate.log() + &q.rate * beta_mean(p))
}

fn beta_gamma(p: &Beta, q: &Gamma) -> Result<Tensor> {
    let (a, b) = (&p.concentration1, &p.concentration0);
    let t1 = -p.entropy()?;
    let t2 = q.concentration.lgamma() - &q.concentration * q.rate.log();
    let t3 = (&q.concentration - 1.0) * (a.digamma() - (a + b).digamma());
    let t4 = &q.rate * a / (a + b);
    Ok(t1 + t2 - t3 + t4)
}

fn beta_normal(p: &Beta, q: &Normal) -> Result<Tensor> {
    let e_beta = beta_mean(p);
    let var_normal = q.scale.square();
    let t1 = -p.entropy()?;
    let t2 = (&var_normal * (2.0 * PI)).log() * 0.5;
    let total = &p.concentration1 + &p.concentration0 + 1.0;
    let t3 = (&e_beta * (-&e_beta + 1.0) / total + e_beta.square()) * 0.5;
    let t4 = &q.loc * &e_beta;
    let t5 = q.loc.square() * 0.5;
    Ok(t1 + t2 + (t3 - t4 + t5) / var_normal)
}

/// `-H(p) + log(high - low)`, `inf` where `[0, 1]` is not inside `[low, high]`.
fn beta_uniform(p: &Beta, q: &Uniform) -> Result<Tensor> {
    let result = -p.entropy()? + (&q.high - &q.low).log();
    Ok(inf_where(&result, &q.low.gt(0.0).logical_or(&q.high.lt(1.0))))
}

fn exponential_gamma(p: &Exponential, q: &Gamma) -> Result<Tensor> {
    let ratio = &q.rate / &p.rate;
    let t1 = -&q.concentration * ratio.log();
    Ok(t1 + ratio + q.concentration.lgamma() + &q.concentration * EULER_GAMMA - (1.0 + EULER_GAMMA))
}

fn exponential_normal(p: &Exponential, q: &Normal) -> Result<Tensor> {
    let var_normal = q.scale.square();
    let rate_sqr = p.rate.square();
    let t1 = (&rate_sqr * &var_normal * (2.0 * PI)).log() * 0.5;
    let t2 = rate_sqr.reciprocal();
    let t3 = &q.loc / &p.rate;
    let t4 = q.loc.square() * 0.5;
    Ok(t1 - 1.0 + (t2 - t3 + t4) / var_normal)
}

fn gamma_exponential(p: &Gamma, q: &Exponential) -> Result<Tensor> {
    Ok(-p.entropy()? - q.rate.log() + &q.rate * &p.concentration / &p.rate)
}

fn gamma_normal(p: &Gamma, q: &Normal) -> Result<Tensor> {
    let a = &p.concentration;
    let var_normal = q.scale.square();
    let beta_sqr = p.rate.square();
    let t1 = (&beta_sqr * &var_normal * (2.0 * PI)).log() * 0.5 - a - a.lgamma();
    let t2 = (a.square() + a) * 0.5 / beta_sqr;
    let t3 = &q.loc * a / &p.rate;
    let t4 = q.loc.square() * 0.5;
    Ok(t1 + (a - 1.0) * a.digamma() + (t2 - t3 + t4) / var_normal)
}

fn laplace_normal(p: &Laplace, q: &Normal) -> Result<Tensor> {
    let var_normal = q.scale.square();
    let scale_sqr_var_ratio = p.scale.square() / &var_normal;
    let t1 = (&scale_sqr_var_ratio * (2.0 / PI)).log() * 0.5;
    let t2 = p.loc.square() * 0.5;
    let t3 = &p.loc * &q.loc;
    let t4 = q.loc.square() * 0.5;
    Ok(-t1 + scale_sqr_var_ratio + (t2 - t3 + t4) / var_normal - 1.0)
}

fn normal_laplace(p: &Normal, q: &Laplace) -> Result<Tensor> {
    let loc_diff = &p.loc - &q.loc;
    let scale_ratio = &p.scale / &q.scale;
    let loc_diff_scale_ratio = &loc_diff / &p.scale;
    let t1 = scale_ratio.log();
    let t2 = &p.scale * (loc_diff_scale_ratio.square() * -0.5).exp() * (2.0 / PI).sqrt();
    let t3 = &loc_diff * (&loc_diff_scale_ratio * 0.5f64.sqrt()).erf();
    Ok(-t1 + (t2 + t3) / &q.scale - 0.5 * (1.0 + (0.5 * PI).ln()))
}

/// `inf` where `[low, high]` is not inside `[0, 1]`.
fn uniform_beta(p: &Uniform, q: &Beta) -> Result<Tensor> {
    let (low, high) = (&p.low, &p.high);
    let width = high - low;
    let t1 = width.log();
    let t2 = (&q.concentration1 - 1.0) * (x_log_x(high) - x_log_x(low) - &width) / &width;
    let t3 = (&q.concentration0 - 1.0) * (x_log_x(&(-high + 1.0)) - x_log_x(&(-low + 1.0)) + &width) / &width;
    let t4 = q.concentration1.lgamma() + q.concentration0.lgamma() - (&q.concentration1 + &q.concentration0).lgamma();
    let result = t3 + t4 - t1 - t2;
    Ok(inf_where(&result, &high.gt(1.0).logical_or(&low.lt(0.0))))
}

/// `inf` where `low < 0`.
fn uniform_exponential(p: &Uniform, q: &Exponential) -> Result<Tensor> {
    let result = &q.rate * (&p.high + &p.low) / 2.0 - ((&p.high - &p.low) * &q.rate).log();
    Ok(inf_where(&result, &p.low.lt(0.0)))
}

/// `inf` where `low < 0`.
fn uniform_gamma(p: &Uniform, q: &Gamma) -> Result<Tensor> {
    let (low, high, a) = (&p.low, &p.high, &q.concentration);
    let width = high - low;
    let t1 = width.log();
    let t2 = a.lgamma() - a * q.rate.log();
    let t3 = (-a + 1.0) * (x_log_x(high) - x_log_x(low) - &width) / &width;
    let t4 = &q.rate * (high + low) / 2.0;
    let result = -t1 + t2 + t3 + t4;
    Ok(inf_where(&result, &low.lt(0.0)))
}

fn uniform_normal(p: &Uniform, q: &Normal) -> Result<Tensor> {
    let width = &p.high - &p.low;
    let t1 = (&q.scale * (2.0 * PI).sqrt() / &width).log();
    let t2 = width.square() / 12.0;
    let t3 = ((&p.high + &p.low - &q.loc * 2.0) / 2.0).square();
    Ok(t1 + (t2 + t3) * 0.5 / q.scale.square())
}
