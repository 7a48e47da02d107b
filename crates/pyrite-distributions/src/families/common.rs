//! Small numeric helpers shared by the families.

use tch::{Kind, Tensor};

pub(crate) const LN_2PI_HALF: f64 = 0.918_938_533_204_672_8; // 0.5 * ln(2 pi)
pub(crate) const LN_PI: f64 = 1.144_729_885_849_400_2;

/// `x * log(y)` with `0 * log(0) = 0`.
pub(crate) fn xlogy(x: &Tensor, y: &Tensor) -> Tensor {
    x.xlogy(y)
}

/// Sums the `n` rightmost dimensions.
pub(crate) fn sum_rightmost(t: &Tensor, n: usize) -> Tensor {
    if n == 0 {
        return t.shallow_clone();
    }
    let dims: Vec<i64> = (1..=n as i64).map(|i| -i).collect();
    t.sum_dim_intlist(dims.as_slice(), false, t.kind())
}

/// Standard normal noise of `shape` with the given dtype and device.
pub(crate) fn randn(shape: &[i64], opts: (Kind, tch::Device)) -> Tensor {
    Tensor::randn(shape, opts)
}

/// Uniform noise in `[0, 1)`.
pub(crate) fn rand(shape: &[i64], opts: (Kind, tch::Device)) -> Tensor {
    Tensor::rand(shape, opts)
}

/// Differentiable Gamma(concentration, 1) samples of `shape` (concentration broadcasts to it).
pub(crate) fn standard_gamma(concentration: &Tensor, shape: &[i64]) -> Tensor {
    let c = concentration.expand(shape, false).contiguous();
    c.internal_standard_gamma()
}

/// Tensor of `-inf` where `ok` is false, else `lp`.
pub(crate) fn where_or_neg_inf(ok: &Tensor, lp: &Tensor) -> Tensor {
    lp.masked_fill(&ok.logical_not(), f64::NEG_INFINITY)
}

/// torch's `probs_to_logits` for binary families: `log(p) - log1p(-p)` with `p` clamped away
/// from 0 and 1.
pub(crate) fn binary_logits(probs: &Tensor) -> Tensor {
    let eps = if probs.kind() == Kind::Double { f64::EPSILON } else { f32::EPSILON as f64 };
    let p = probs.clamp(eps, 1.0 - eps);
    p.log() - (-&p).log1p()
}

/// An integer tensor `0..n` shaped `[n, 1, ..., 1]` with `rank` trailing ones, or expanded to
/// `[n] ++ batch_shape` (the layout of `enumerate_support`).
pub(crate) fn enumerate_range(n: i64, batch_shape: &[i64], expand: bool, opts: (Kind, tch::Device)) -> Tensor {
    let values = Tensor::arange(n, opts);
    let mut view = vec![n];
    view.extend(std::iter::repeat_n(1, batch_shape.len()));
    let values = values.view(view.as_slice());
    if expand {
        let mut full = vec![n];
        full.extend_from_slice(batch_shape);
        values.expand(full.as_slice(), false)
    } else {
        values
    }
}
