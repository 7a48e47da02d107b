//! KL divergences between two distributions of one univariate family (and `Categorical`,
//! `Dirichlet`, `Independent`), as torch's `_kl_<family>_<family>`.

use std::any::Any;

use tch::Tensor;

use super::{inf_where, pair, same_size};
use crate::distribution::Distribution;
use crate::error::{DistError, Result};
use crate::families::common::sum_rightmost;
use crate::{
    Bernoulli, Beta, Binomial, Categorical, Cauchy, Dirichlet, Exponential, Gamma, HalfCauchy, HalfNormal, Independent, InverseGamma, Laplace, LogNormal,
    Normal, OneHotCategorical, Poisson, Uniform,
};

/// The KL divergence of `p` and `q` when both are of one family handled here.
pub(super) fn dispatch(p: &dyn Any, q: &dyn Any) -> Option<Result<Tensor>> {
    pair(p, q, independent)
        .or_else(|| pair(p, q, normal))
        .or_else(|| pair(p, q, log_normal))
        .or_else(|| pair(p, q, half_normal))
        .or_else(|| pair(p, q, laplace))
        .or_else(|| pair(p, q, cauchy))
        .or_else(|| pair(p, q, half_cauchy))
        .or_else(|| pair(p, q, uniform))
        .or_else(|| pair(p, q, exponential))
        .or_else(|| pair(p, q, gamma))
        .or_else(|| pair(p, q, inverse_gamma))
        .or_else(|| pair(p, q, beta))
        .or_else(|| pair(p, q, dirichlet))
        .or_else(|| pair(p, q, bernoulli))
        .or_else(|| pair(p, q, binomial))
        .or_else(|| pair(p, q, categorical))
        .or_else(|| pair(p, q, one_hot_categorical))
        .or_else(|| pair(p, q, poisson))
}

/// The KL of the bases, summed over the reinterpreted dims; both must reinterpret as many.
fn independent(p: &Independent, q: &Independent) -> Result<Tensor> {
    let n = p.reinterpreted_dims();
    if n != q.reinterpreted_dims() {
        return Err(DistError::Unsupported { dist: "Independent", op: "kl_divergence (of Independents that reinterpret different numbers of dims)" });
    }
    Ok(sum_rightmost(&super::kl_divergence(&*p.base, &*q.base)?, n))
}

/// `(sp^2 + (mp - mq)^2) / (2 sq^2) + log(sq / sp) - 1/2` for `Normal(mp, sp)`, `Normal(mq, sq)`.
fn normal_normal(p_loc: &Tensor, p_scale: &Tensor, q_loc: &Tensor, q_scale: &Tensor) -> Tensor {
    let var_ratio = (p_scale / q_scale).square();
    let t1 = ((p_loc - q_loc) / q_scale).square();
    (&var_ratio + t1 - 1.0 - var_ratio.log()) * 0.5
}

fn normal(p: &Normal, q: &Normal) -> Result<Tensor> {
    Ok(normal_normal(&p.loc, &p.scale, &q.loc, &q.scale))
}

/// The KL of the underlying Normals (torch: two transformed distributions with equal transforms).
fn log_normal(p: &LogNormal, q: &LogNormal) -> Result<Tensor> {
    Ok(normal_normal(&p.loc, &p.scale, &q.loc, &q.scale))
}

/// The KL of the underlying `Normal(0, scale)`s.
fn half_normal(p: &HalfNormal, q: &HalfNormal) -> Result<Tensor> {
    let var_ratio = (&p.scale / &q.scale).square();
    Ok((&var_ratio - 1.0 - var_ratio.log()) * 0.5)
}

fn laplace(p: &Laplace, q: &Laplace) -> Result<Tensor> {
    let scale_ratio = &p.scale / &q.scale;
    let loc_abs_diff = (&p.loc - &q.loc).abs();
    let t1 = -scale_ratio.log();
    let t2 = &loc_abs_diff / &q.scale;
    let t3 = &scale_ratio * (-(&loc_abs_diff / &p.scale)).exp();
    Ok(t1 + t2 + t3 - 1.0)
}

/// `log(((sp + sq)^2 + (mp - mq)^2) / (4 sp sq))`.
fn cauchy(p: &Cauchy, q: &Cauchy) -> Result<Tensor> {
    let t1 = ((&p.scale + &q.scale).square() + (&p.loc - &q.loc).square()).log();
    let t2 = (&p.scale * &q.scale * 4.0).log();
    Ok(t1 - t2)
}

/// The KL of the underlying `Cauchy(0, scale)`s (torch: transformed distributions with equal
/// transforms).
fn half_cauchy(p: &HalfCauchy, q: &HalfCauchy) -> Result<Tensor> {
    let t1 = (&p.scale + &q.scale).square().log();
    let t2 = (&p.scale * &q.scale * 4.0).log();
    Ok(t1 - t2)
}

/// `log((hq - lq) / (hp - lp))`, `inf` where `[lp, hp]` is not inside `[lq, hq]`.
fn uniform(p: &Uniform, q: &Uniform) -> Result<Tensor> {
    let result = ((&q.high - &q.low) / (&p.high - &p.low)).log();
    let outside = q.low.gt_tensor(&p.low).logical_or(&q.high.lt_tensor(&p.high));
    Ok(inf_where(&result, &outside))
}

fn exponential(p: &Exponential, q: &Exponential) -> Result<Tensor> {
    let rate_ratio = &q.rate / &p.rate;
    Ok(-rate_ratio.log() + rate_ratio - 1.0)
}

/// `KL(Gamma(ap, bp) || Gamma(aq, bq))` from the shapes `a` and rates `b`.
fn gamma_gamma(p_conc: &Tensor, p_rate: &Tensor, q_conc: &Tensor, q_rate: &Tensor) -> Tensor {
    let t1 = q_conc * (p_rate / q_rate).log();
    let t2 = q_conc.lgamma() - p_conc.lgamma();
    let t3 = (p_conc - q_conc) * p_conc.digamma();
    let t4 = (q_rate - p_rate) * (p_conc / p_rate);
    t1 + t2 + t3 + t4
}

fn gamma(p: &Gamma, q: &Gamma) -> Result<Tensor> {
    Ok(gamma_gamma(&p.concentration, &p.rate, &q.concentration, &q.rate))
}

/// The KL of the Gammas of `1 / X` (torch: transformed distributions with equal transforms).
fn inverse_gamma(p: &InverseGamma, q: &InverseGamma) -> Result<Tensor> {
    Ok(gamma_gamma(&p.concentration, &p.rate, &q.concentration, &q.rate))
}

fn beta(p: &Beta, q: &Beta) -> Result<Tensor> {
    let sum_p = &p.concentration1 + &p.concentration0;
    let sum_q = &q.concentration1 + &q.concentration0;
    let t1 = q.concentration1.lgamma() + q.concentration0.lgamma() + sum_p.lgamma();
    let t2 = p.concentration1.lgamma() + p.concentration0.lgamma() + sum_q.lgamma();
    let t3 = (&p.concentration1 - &q.concentration1) * p.concentration1.digamma();
    let t4 = (&p.concentration0 - &q.concentration0) * p.concentration0.digamma();
    let t5 = (&sum_q - &sum_p) * sum_p.digamma();
    Ok(t1 - t2 + t3 + t4 + t5)
}

fn dirichlet(p: &Dirichlet, q: &Dirichlet) -> Result<Tensor> {
    same_size("Dirichlet", p.event_shape(), q.event_shape())?;
    let (cp, cq) = (&p.concentration, &q.concentration);
    let sum_p = cp.sum_dim_intlist(-1, false, cp.kind());
    let sum_q = cq.sum_dim_intlist(-1, false, cq.kind());
    let t1 = sum_p.lgamma() - sum_q.lgamma();
    let t2 = cp.lgamma() - cq.lgamma();
    let t3 = cp - cq;
    let t4 = cp.digamma() - sum_p.digamma().unsqueeze(-1);
    let t34 = t3 * t4;
    Ok(t1 - t2.sum_dim_intlist(-1, false, t2.kind()) + t34.sum_dim_intlist(-1, false, t34.kind()))
}

/// Sums over the two outcomes, with `0 log 0 = 0` and `inf` where `q` gives probability zero to
/// an outcome that `p` does not.
fn bernoulli(p: &Bernoulli, q: &Bernoulli) -> Result<Tensor> {
    let t1 = &p.probs * (q.logits.neg().softplus() - p.logits.neg().softplus());
    let t1 = inf_where(&t1, &q.probs.eq(0.0)).masked_fill(&p.probs.eq(0.0), 0.0);
    let t2 = (-&p.probs + 1.0) * (q.logits.softplus() - p.logits.softplus());
    let t2 = inf_where(&t2, &q.probs.eq(1.0)).masked_fill(&p.probs.eq(1.0), 0.0);
    Ok(t1 + t2)
}

/// `n_p (pp (logit pp - logit pq) + log(1 - pp) - log(1 - pq))`, `inf` where `p` has more trials
/// than `q`. torch implements no case where `q` has more trials than `p`: an error.
fn binomial(p: &Binomial, q: &Binomial) -> Result<Tensor> {
    if bool::try_from(p.total_count.lt_tensor(&q.total_count).any()).unwrap_or(false) {
        return Err(DistError::Unsupported { dist: "Binomial", op: "kl_divergence (where q.total_count > p.total_count)" });
    }
    let t = &p.probs * (&p.logits - &q.logits) + p.probs.neg().log1p() - q.probs.neg().log1p();
    let kl = &p.total_count * t;
    Ok(inf_where(&kl, &p.total_count.gt_tensor(&q.total_count)))
}

/// `sum_k pp_k (log pp_k - log pq_k)`, with `0 log 0 = 0` and `inf` where `q` gives probability
/// zero to a category that `p` does not.
fn categorical(p: &Categorical, q: &Categorical) -> Result<Tensor> {
    same_size("Categorical", &[p.num_categories()], &[q.num_categories()])?;
    let t = &p.probs * (&p.logits - &q.logits);
    let t = inf_where(&t, &q.probs.eq(0.0)).masked_fill(&p.probs.eq(0.0), 0.0);
    Ok(t.sum_dim_intlist(-1, false, t.kind()))
}

fn one_hot_categorical(p: &OneHotCategorical, q: &OneHotCategorical) -> Result<Tensor> {
    categorical(p.categorical(), q.categorical())
}

fn poisson(p: &Poisson, q: &Poisson) -> Result<Tensor> {
    Ok(&p.rate * (p.rate.log() - q.rate.log()) - (&p.rate - &q.rate))
}
