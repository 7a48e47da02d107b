//! Composition of transforms.

use tch::Tensor;

use super::{Transform, TransformRef};
use crate::constraints::Constraint;
use crate::families::common::sum_rightmost;

/// `f_n ∘ ... ∘ f_1`: applies the parts in order; log-Jacobians add up (summed to the widest
/// event dimension among the parts).
#[derive(Debug, Clone)]
pub struct ComposeTransform {
    pub parts: Vec<TransformRef>,
}

impl ComposeTransform {
    /// Composes `parts`, the first applied first.
    pub fn new(parts: Vec<TransformRef>) -> Self {
        ComposeTransform { parts }
    }
}

impl Transform for ComposeTransform {
    fn name(&self) -> &'static str {
        "ComposeTransform"
    }
    fn domain(&self) -> Constraint {
        self.parts.first().map(|p| p.domain()).unwrap_or(Constraint::Real)
    }
    fn codomain(&self) -> Constraint {
        self.parts.last().map(|p| p.codomain()).unwrap_or(Constraint::Real)
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        self.parts.iter().fold(x.shallow_clone(), |acc, p| p.forward(&acc))
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        self.parts.iter().rev().fold(y.shallow_clone(), |acc, p| p.inverse(&acc))
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let event_dim = self.domain_event_dim();
        let mut total: Option<Tensor> = None;
        let mut cur = x.shallow_clone();
        let n = self.parts.len();
        for (i, p) in self.parts.iter().enumerate() {
            let next = if i + 1 == n { y.shallow_clone() } else { p.forward(&cur) };
            let ld = p.log_abs_det_jacobian(&cur, &next);
            let ld = sum_rightmost(&ld, event_dim.saturating_sub(p.domain_event_dim()));
            total = Some(match total {
                None => ld,
                Some(t) => t + ld,
            });
            cur = next;
        }
        total.unwrap_or_else(|| x.zeros_like())
    }
    fn domain_event_dim(&self) -> usize {
        self.parts.iter().map(|p| p.domain_event_dim()).max().unwrap_or(0)
    }
    fn forward_shape(&self, shape: &[i64]) -> Vec<i64> {
        self.parts.iter().fold(shape.to_vec(), |s, p| p.forward_shape(&s))
    }
    fn inverse_shape(&self, shape: &[i64]) -> Vec<i64> {
        self.parts.iter().rev().fold(shape.to_vec(), |s, p| p.inverse_shape(&s))
    }
}
