//! Composition of transforms.

use tch::Tensor;

use super::{Transform, TransformRef};
use crate::constraints::Constraint;
use crate::families::common::sum_rightmost;

/// `f_n ∘ ... ∘ f_1`: applies the parts in order; log-Jacobians add up, each summed over the
/// event dims of the chain at its position (torch's `ComposeTransform`).
#[derive(Debug, Clone)]
pub struct ComposeTransform {
    /// The transforms, applied in order: `parts[0]` first.
    pub parts: Vec<TransformRef>,
    codomain: Option<Constraint>,
}

impl ComposeTransform {
    /// Composes `parts`, the first applied first.
    pub fn new(parts: Vec<TransformRef>) -> Self {
        ComposeTransform { parts, codomain: None }
    }
    /// Composes `parts` and reports `codomain` as the target set (as `biject_to` does, e.g. an
    /// interval rather than the reals its final affine part maps into).
    pub fn with_codomain(parts: Vec<TransformRef>, codomain: Constraint) -> Self {
        ComposeTransform { parts, codomain: Some(codomain) }
    }
}

impl Transform for ComposeTransform {
    fn name(&self) -> &'static str {
        "ComposeTransform"
    }
    /// The first part's domain, widened (as torch does) to the event dims the whole chain needs:
    /// `[CorrCholesky, Affine]` takes vectors although the affine part is elementwise.
    fn domain(&self) -> Constraint {
        match self.parts.first() {
            None => Constraint::Real,
            Some(first) => {
                let d = first.domain();
                let extra = self.domain_event_dim().saturating_sub(d.event_dim());
                d.independent(extra)
            }
        }
    }
    /// The last part's codomain, widened to the event dims the chain produces.
    fn codomain(&self) -> Constraint {
        if let Some(c) = &self.codomain {
            return c.clone();
        }
        match self.parts.last() {
            None => Constraint::Real,
            Some(last) => {
                let c = last.codomain();
                let extra = self.codomain_event_dim().saturating_sub(c.event_dim());
                c.independent(extra)
            }
        }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        self.parts.iter().fold(x.shallow_clone(), |acc, p| p.forward(&acc))
    }
    fn inverse(&self, y: &Tensor) -> Tensor {
        self.parts.iter().rev().fold(y.shallow_clone(), |acc, p| p.inverse(&acc))
    }
    fn log_abs_det_jacobian(&self, x: &Tensor, y: &Tensor) -> Tensor {
        // As torch: each part's term is summed over the event dims the chain has at that point
        // beyond the part's own, and a part may change the number of event dims
        // (CorrCholesky: 1 -> 2).
        let mut event_dim = self.domain_event_dim() as i64;
        let mut total: Option<Tensor> = None;
        let mut cur = x.shallow_clone();
        let n = self.parts.len();
        for (i, p) in self.parts.iter().enumerate() {
            let next = if i + 1 == n { y.shallow_clone() } else { p.forward(&cur) };
            let (pd, pc) = (p.domain_event_dim() as i64, p.codomain_event_dim() as i64);
            let ld = sum_rightmost(&p.log_abs_det_jacobian(&cur, &next), (event_dim - pd).max(0) as usize);
            event_dim += pc - pd;
            total = Some(match total {
                None => ld,
                Some(t) => t + ld,
            });
            cur = next;
        }
        total.unwrap_or_else(|| x.zeros_like())
    }
    fn domain_event_dim(&self) -> usize {
        // torch's ComposeTransform.domain: walk back from the last codomain.
        let Some(last) = self.parts.last() else { return 0 };
        let mut event_dim = last.codomain_event_dim() as i64;
        for p in self.parts.iter().rev() {
            let (pd, pc) = (p.domain_event_dim() as i64, p.codomain_event_dim() as i64);
            event_dim = (event_dim + pd - pc).max(pd);
        }
        event_dim as usize
    }
    fn codomain_event_dim(&self) -> usize {
        // torch's ComposeTransform.codomain: walk forward from the first domain.
        let Some(first) = self.parts.first() else { return 0 };
        let mut event_dim = first.domain_event_dim() as i64;
        for p in &self.parts {
            let (pd, pc) = (p.domain_event_dim() as i64, p.codomain_event_dim() as i64);
            event_dim = (event_dim + pc - pd).max(pc);
        }
        event_dim as usize
    }
    fn forward_shape(&self, shape: &[i64]) -> Vec<i64> {
        self.parts.iter().fold(shape.to_vec(), |s, p| p.forward_shape(&s))
    }
    fn inverse_shape(&self, shape: &[i64]) -> Vec<i64> {
        self.parts.iter().rev().fold(shape.to_vec(), |s, p| p.inverse_shape(&s))
    }
}
