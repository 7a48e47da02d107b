//! The stick-breaking transform onto the simplex.

use tch::{Kind, Tensor};

use super::Transform;
use crate::constraints::Constraint;

/// Maps `R^(K-1)` onto the `K`-simplex by stick breaking, as torch's `StickBreakingTransform`.
#[derive(Debug, Clone, Copy)]
pub struct StickBreakingTransform;

fn offset_log(n: i64, like: &Tensor) -> Tensor {
    // log([n, n-1, ..., 1])
    Tensor::arange_start_step(n, 0, -1, (like.kind(), like.device())).log()
}

fn tiny(t: &Tensor) -> f64 {
    if t.kind() == Kind::Double {
        f64::MIN_POSITIVE
    } else {
        f32::MIN_POSITIVE as f64
    }
}

impl Transform for StickBreakingTransform {
    fn name(&self) -> &'static str {
        "StickBreakingTransform"
    }
    fn domain(&self) -> Constraint {
        Constraint::Real.independent(1)
    }
    fn codomain(&self) -> Constraint {
        Constraint::Simplex
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        // Cannot fail for an input in the domain (at least one dimension): see `Transform`.
        let k1 = *x.size().last().unwrap();
        let z = (x - offset_log(k1, x)).sigmoid();
        let z_cumprod = (-&z + 1.0).cumprod(-1, z.kind());
        let ones = z.ones_like().narrow(-1, 0, 1);
        let z_pad = Tensor::cat(&[&z, &ones], -1);
        let cum_pad = Tensor::cat(&[&ones, &z_cumprod], -1);
        z_pad * cum_pad
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        // Cannot fail for an input in the domain (at least one dimension): see `Transform`.
        let k = *y.size().last().unwrap();
        let y_crop = y.narrow(-1, 0, k - 1);
        let sf = (-y_crop.cumsum(-1, y.kind()) + 1.0).clamp_min(tiny(y));
        y_crop.log() - sf.log() + offset_log(k - 1, y)
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, y: &Tensor) -> Tensor {
        // Cannot fail for an input in the domain (at least one dimension): see `Transform`.
        let k1 = *x.size().last().unwrap();
        let x = x - offset_log(k1, x);
        let y_crop = y.narrow(-1, 0, k1);
        (-&x + x.log_sigmoid() + y_crop.log()).sum_dim_intlist(-1, false, x.kind())
    }
    fn forward_shape(&self, shape: &[i64]) -> Vec<i64> {
        let mut s = shape.to_vec();
        if let Some(l) = s.last_mut() {
            *l += 1;
        }
        s
    }
    fn inverse_shape(&self, shape: &[i64]) -> Vec<i64> {
        let mut s = shape.to_vec();
        if let Some(l) = s.last_mut() {
            *l -= 1;
        }
        s
    }
}
