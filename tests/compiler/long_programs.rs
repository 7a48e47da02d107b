//! Long unrolled programs (an ODE solved in fixed steps): a value the code recomputes is
//! computed once, and the kernel's value and gradient are libtorch's.

use pyrite::compile::lower::{Op, Unary};
use pyrite::compile::{lower, trace};
use pyrite::prelude::*;

use super::compiles_and_matches;

/// The one-compartment model's concentration (first-order absorption, Michaelis–Menten
/// elimination) from `theta = log(k_a, K_m, V_m)`, in `steps` fixed steps over 4 time units: the
/// closure recomputes `-k_a` and `V_m / 2` at each of the four stages of every step, as a model
/// written like its Stan program does.
fn concentration_log_density(theta: &Tensor, steps: usize) -> Tensor {
    let (k_a, k_m, v_m) = (theta.get(0).exp(), theta.get(1).exp(), theta.get(2).exp());
    let f = |t: f64, c: &Tensor| (-(&k_a) * t).exp() * &k_a * 15.0 - &v_m / 2.0 * c / (&k_m + c);
    let times = [1.0, 2.0, 3.0, 4.0];
    let c = ode::rk4(f, &Tensor::zeros([1], (Kind::Double, Device::Cpu)), 0.0, &times, 4.0 / steps as f64).unwrap();
    (c.log() - Tensor::from_slice(&[2.0f64, 2.2, 2.1, 1.9])).square().sum(Kind::Double) * -0.5
}

#[test]
fn a_value_recomputed_at_every_stage_is_computed_once() {
    let x0 = Tensor::from_slice(&[-0.3f64, 0.9, 0.0]);
    let graph = trace(&[x0.shallow_clone()], || Ok(concentration_log_density(&x0, 100))).unwrap();
    let program = lower(&graph).unwrap();
    let count = |pred: &dyn Fn(&Op) -> bool| program.nodes.iter().filter(|n| pred(&n.op)).count();
    // `-k_a` is traced 400 times (four stages of 100 steps) and `V_m / 2` as often.
    assert_eq!(graph.nodes.iter().filter(|n| n.op == "aten::neg").count(), 400);
    assert_eq!(count(&|op| matches!(op, Op::Unary(Unary::Neg, _))), 1);
    assert_eq!(count(&|op| matches!(op, Op::Unary(Unary::DivBy(d), _) if *d == 2.0)), 1);
    // `exp(-k_a t)` differs with `t`: one per distinct stage time (201 in exact arithmetic, a
    // few more where `s + h` and the next step's `s` round apart), not one per evaluation (400),
    // and three more for the parameters.
    let exps = count(&|op| matches!(op, Op::Unary(Unary::Exp, _)));
    assert!((201 + 3..300).contains(&exps), "{exps} exponentials");

    // At random points, halved: log(V_m / K_m) stays far below log(139), where a step of 0.04
    // would be unstable.
    compiles_and_matches("the one-compartment ODE", 3, |theta| concentration_log_density(&(theta * 0.5), 100));
}

/// A view of a boolean mask and a cast of it to doubles are both reshapes of the mask: they are
/// not one value, and indexing by the view is still refused as a mask (merged, the index would
/// read the cast's dtype and gather elements 1, 1, 1).
#[test]
fn a_view_of_a_mask_and_a_cast_of_it_stay_apart() {
    let x0 = Tensor::from_slice(&[0.5f64, 1.0, 2.0]);
    let f = |x: &Tensor| {
        let mask = x.gt(0.0);
        let view = mask.view([3]);
        let weights = mask.to_kind(Kind::Double);
        (x * weights).sum(Kind::Double) + x.index(&[Some(view)]).sum(Kind::Double)
    };
    let graph = trace(&[x0.shallow_clone()], || Ok(f(&x0))).unwrap();
    let refused = lower(&graph).expect_err("a boolean mask is not an index");
    assert!(refused.0.contains("a boolean mask"), "{}", refused.0);
}
