//! `TransformedDistribution`: agreement with the closed-form families it can express, the
//! cache of the last draw, and shapes.

use std::rc::Rc;

use pyrite_distributions::constraints::Bound;
use pyrite_distributions::prelude::*;
use pyrite_distributions::transforms::*;
use tch::{Device, Kind, Tensor};

use crate::util::*;

const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

#[test]
fn normal_through_exp_is_log_normal() {
    let _g = seeded(11_000);
    let loc = Tensor::from_slice(&[0.0, 0.5, -1.0]);
    let scale = Tensor::from_slice(&[1.0, 0.3, 2.0]);
    let td = TransformedDistribution::new(Normal::new(&loc, &scale).unwrap(), vec![Rc::new(ExpTransform)]).unwrap();
    let ln = LogNormal::new(&loc, &scale).unwrap();
    assert_eq!(td.batch_shape(), &[3]);
    assert_eq!(td.event_shape(), &[] as &[i64]);
    assert_eq!(td.support(), Constraint::Positive);
    assert!(td.has_rsample());
    let y = Tensor::from_slice(&[0.1, 1.0, 5.0, 2.0, 0.3, 0.01]).reshape([2, 3]);
    assert_tensors("log_prob vs LogNormal", &td.log_prob(&y).unwrap(), &ln.log_prob(&y).unwrap(), 1e-12, 1e-12);
    let x = td.sample(&[4]).unwrap();
    assert_eq!(x.size(), vec![4, 3]);
    assert!(!x.requires_grad());
    assert_tensors("log_prob of samples vs LogNormal", &td.log_prob(&x).unwrap(), &ln.log_prob(&x).unwrap(), 1e-10, 1e-10);
    // Validation applies through the transform's codomain.
    assert!(matches!(td.log_prob(&Tensor::from_slice(&[-1.0, 1.0, 1.0])), Err(DistError::InvalidValue { .. })));

    // Normal + Affine + Exp: LogNormal(a + b loc, |b| scale).
    let aff = Rc::new(AffineTransform::new(Bound::Scalar(0.5), Bound::Scalar(-2.0), 0)) as TransformRef;
    let td2 = TransformedDistribution::new(Normal::new(&loc, &scale).unwrap(), vec![aff, Rc::new(ExpTransform)]).unwrap();
    let ln2 = LogNormal::new(&loc * -2.0 + 0.5, &scale * 2.0).unwrap();
    assert_tensors("Affine then Exp", &td2.log_prob(&y).unwrap(), &ln2.log_prob(&y).unwrap(), 1e-12, 1e-12);
}

#[test]
fn cached_path_equals_inverted_path() {
    let _g = seeded(11_001);
    let loc = Tensor::from_slice(&[0.0, 0.5, -1.0]).set_requires_grad(true);
    let base = Normal::new(&loc, 1.5f64).unwrap();
    let transforms: Vec<TransformRef> = vec![Rc::new(AffineTransform::new(Bound::Scalar(0.3), Bound::Scalar(2.0), 0)), Rc::new(SigmoidTransform)];
    let td = TransformedDistribution::new(base, transforms).unwrap();
    let y = td.rsample(&[5]).unwrap();
    assert!(y.requires_grad());
    let cached = td.log_prob(&y).unwrap();
    // A copy has other storage, so it goes through the inverses.
    let inverted = td.log_prob(&y.detach().copy()).unwrap();
    assert_tensors("cached vs inverted log_prob", &cached, &inverted, 1e-9, 1e-9);
    // The cached path is differentiable back to the parameters.
    let g = Tensor::run_backward(&[cached.sum(Kind::Double)], &[&loc], false, false);
    assert_eq!(g[0].size(), vec![3]);
    assert!(vals(&g[0]).iter().all(|v| v.is_finite()));
    // After another draw the first value is no longer cached, but still evaluates the same.
    let y2 = td.sample(&[5]).unwrap();
    assert_tensors("old value after a new draw", &td.log_prob(&y).unwrap(), &inverted, 1e-9, 1e-9);
    assert_tensors("new draw", &td.log_prob(&y2).unwrap(), &td.log_prob(&y2.copy()).unwrap(), 1e-9, 1e-9);

    // Where the inverse loses precision, the cache keeps log_prob exact: x so large that
    // sigmoid(x) rounds to 1 - eps.
    let base = Normal::new(Tensor::from_slice(&[60.0]), 1.0f64).unwrap();
    let td = TransformedDistribution::new(base, vec![Rc::new(SigmoidTransform) as TransformRef]).unwrap();
    let y = td.rsample(&[3]).unwrap();
    let lp = td.log_prob(&y).unwrap();
    assert!(vals(&lp).iter().all(|v| v.is_finite()), "cached log_prob near the boundary: {:?}", vals(&lp));
}

#[test]
fn shapes_with_event_changing_transforms() {
    let _g = seeded(11_002);
    // A batch of 3 Normals pushed through stick breaking: one event on the 4-simplex.
    let base = Normal::new(Tensor::zeros([3], F64), 1.0f64).unwrap();
    let td = TransformedDistribution::new(base, vec![Rc::new(StickBreakingTransform) as TransformRef]).unwrap();
    assert_eq!(td.batch_shape(), &[] as &[i64]);
    assert_eq!(td.event_shape(), &[4]);
    assert_eq!(td.support(), Constraint::Simplex);
    let y = td.sample(&[5]).unwrap();
    assert_eq!(y.size(), vec![5, 4]);
    assert!(Constraint::Simplex.contains_all(&y));
    let lp = td.log_prob(&y).unwrap();
    assert_eq!(lp.size(), vec![5]);
    // By hand: base log density of the inverse minus log|det J|.
    let x = StickBreakingTransform.inverse(&y);
    let by_hand = Normal::new(Tensor::zeros([3], F64), 1.0f64).unwrap().log_prob(&x).unwrap().sum_dim_intlist(-1, false, Kind::Double)
        - StickBreakingTransform.log_abs_det_jacobian(&x, &y);
    assert_tensors("stick-breaking log_prob by hand", &td.log_prob(&y.copy()).unwrap(), &by_hand, 1e-9, 1e-9);
    assert_tensors("cached", &lp, &by_hand, 1e-9, 1e-9);

    // A [2, 3] batch keeps its leading dim as batch.
    let base = Normal::new(Tensor::zeros([2, 3], F64), 1.0f64).unwrap();
    let td = TransformedDistribution::new(base, vec![Rc::new(StickBreakingTransform) as TransformRef]).unwrap();
    assert_eq!(td.batch_shape(), &[2]);
    assert_eq!(td.event_shape(), &[4]);
    let e = td.expand(&[6, 2]).unwrap();
    assert_eq!(e.batch_shape(), &[6, 2]);
    assert_eq!(e.event_shape(), &[4]);
    let y = e.sample(&[]).unwrap();
    assert_eq!(y.size(), vec![6, 2, 4]);
    assert_eq!(e.log_prob(&y).unwrap().size(), vec![6, 2]);

    // CorrCholesky: vectors of 3 become 3x3 factors.
    let base = Normal::new(Tensor::zeros([5, 3], F64), 1.0f64).unwrap();
    let td = TransformedDistribution::new(base, vec![Rc::new(CorrCholeskyTransform) as TransformRef]).unwrap();
    assert_eq!(td.batch_shape(), &[5]);
    assert_eq!(td.event_shape(), &[3, 3]);
    let y = td.rsample(&[2]).unwrap();
    assert_eq!(y.size(), vec![2, 5, 3, 3]);
    assert!(Constraint::CorrCholesky.contains_all(&y));
    let lp = td.log_prob(&y).unwrap();
    assert_eq!(lp.size(), vec![2, 5]);
    assert_tensors("CorrCholesky cached vs inverted", &lp, &td.log_prob(&y.copy()).unwrap(), 1e-8, 1e-8);

    // An elementwise transform of a to_event base keeps the event.
    let base = Normal::new(Tensor::zeros([2, 3], F64), 1.0f64).unwrap().to_event(1).unwrap();
    let td = TransformedDistribution::new(base, vec![Rc::new(ExpTransform) as TransformRef]).unwrap();
    assert_eq!(td.batch_shape(), &[2]);
    assert_eq!(td.event_shape(), &[3]);
    let y = td.sample(&[]).unwrap();
    let ln = LogNormal::new(Tensor::zeros([2, 3], F64), 1.0f64).unwrap();
    assert_tensors("to_event base", &td.log_prob(&y.copy()).unwrap(), &ln.log_prob(&y).unwrap().sum_dim_intlist(-1, false, Kind::Double), 1e-10, 1e-10);
    // Wrong value shapes are errors.
    assert!(matches!(td.log_prob(&Tensor::ones([4], F64)), Err(DistError::InvalidValue { .. })));
}

#[test]
fn delta_point_mass() {
    let v = Tensor::from_slice(&[1.0, 2.0, 3.0, 4.0]).reshape([2, 2]);
    let d = Delta::new(&v, 1).unwrap();
    assert_eq!(d.batch_shape(), &[2]);
    assert_eq!(d.event_shape(), &[2]);
    assert_eq!(d.rsample(&[3]).unwrap().size(), vec![3, 2, 2]);
    let lp = d.log_prob(&Tensor::from_slice(&[1.0, 2.0, 3.0, 5.0]).reshape([2, 2])).unwrap();
    assert_eq!(vals(&lp), vec![0.0, f64::NEG_INFINITY]);
    let d = Delta::with_log_density(&v, Tensor::from_slice(&[0.5, -1.0]), 1).unwrap();
    assert_eq!(vals(&d.log_prob(&v).unwrap()), vec![0.5, -1.0]);
    // its own draw (no comparison made) and an equal copy (compared) score alike
    let own = d.rsample(&[]).unwrap();
    assert_eq!(vals(&d.log_prob(&own).unwrap()), vals(&d.log_prob(&v.copy()).unwrap()));
    assert_eq!(d.log_prob(&own).unwrap().size(), vec![2]);
}
