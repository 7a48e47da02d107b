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

/// Lotka–Volterra's predator–prey right-hand side in `steps` classical Runge–Kutta steps, as
/// posteriordb's port writes it: each evaluation selects the two populations and stacks their
/// two derivatives. `theta` holds the four rates' logs, then the two initial populations' logs.
fn predator_prey_log_density(theta: &Tensor, steps: usize) -> Tensor {
    let rates = theta.narrow(0, 0, 4).exp();
    let (alpha, beta, gamma, delta) = (rates.get(0) * 0.5, rates.get(1) * 0.02, rates.get(2) * 0.8, rates.get(3) * 0.02);
    let f = |_t: f64, z: &Tensor| {
        let (u, v) = (z.select(-1, 0), z.select(-1, 1));
        Tensor::stack(&[(&alpha - &beta * &v) * &u, (&delta * &u - &gamma) * &v], -1)
    };
    let z0 = theta.narrow(0, 4, 2).exp() * 30.0;
    let z = ode::rk4(f, &z0, 0.0, &[1.0, 2.0, 3.0], 3.0 / steps as f64).unwrap();
    (z.log() - 3.3).square().sum(Kind::Double) * -0.5
}

/// Statements that only copy elements from one place in the workspace to another (forward, or
/// adding an adjoint into another).
fn copies(c_source: &str) -> usize {
    c_source
        .lines()
        .filter(|l| {
            let body = l.trim_start().split_once(") ").map_or("", |(_, b)| b);
            l.trim_start().starts_with("for (long i = 0;")
                && body.starts_with("w[")
                && (body.contains("] = w[") || body.contains("] += w["))
                && body.matches("w[").count() == 2
        })
        .count()
}

/// The populations selected from the state and the derivatives stacked into the next are read
/// and written where they are: the kernel copies nothing per step (it did: two selections and
/// two stacked parts per evaluation, each a copy forward and one backward), and its value and
/// gradient are libtorch's.
#[test]
fn selections_and_stacked_parts_are_not_copied() {
    let steps = 30;
    let x0 = Tensor::zeros([6], (Kind::Double, Device::Cpu));
    let graph = trace(&[x0.shallow_clone()], || Ok(predator_prey_log_density(&x0, steps))).unwrap();
    let program = lower(&graph).unwrap();
    let selections = program.nodes.iter().filter(|n| matches!(n.op, Op::Select(..))).count();
    assert!(selections >= 8 * steps, "{selections} selections");
    let c = pyrite::compile::codegen::generate(&program, pyrite::compile::Precision::F64);
    let copied = copies(&c);
    assert!(copied < 10, "{copied} copy statements for {selections} selections");
    compiles_and_matches("Lotka–Volterra", 6, |theta| predator_prey_log_density(&(theta * 0.2), steps));
}

/// Views that are not contiguous blocks (a matrix's column, every other element) are still
/// copied, and a join of joins, a slice of a join and a reshape of a selection compute
/// libtorch's value and gradient.
#[test]
fn strided_selections_and_nested_joins_match_libtorch() {
    compiles_and_matches("views", 6, |x| {
        let m = x.view([2, 3]);
        let column = m.select(1, 2);
        let every_other = x.slice(0, 0, 6, 2);
        let row = m.select(0, 1).reshape([3, 1]);
        let inner = Tensor::cat(&[x.narrow(0, 0, 2).exp(), column.sigmoid()], 0);
        let outer = Tensor::stack(&[Tensor::cat(&[inner.shallow_clone(), every_other.square()], 0), Tensor::cat(&[x.tanh() * 2.0, x.narrow(0, 5, 1)], 0)], 0);
        let part = outer.narrow(1, 1, 4).select(0, 0);
        (part.square().sum(Kind::Double) + row.exp().sum(Kind::Double) * outer.sum(Kind::Double)) * 0.1
    });
}

/// Two overlapping slices of one vector (an autoregression's `x[1:] - x[:-1]`) are both read
/// where the vector is, and one fused backward loop adds into both: pass `i`'s adjoint for
/// `x[1 + i]` lands where pass `i + 1`'s for `x[i + 1]` does, so the loop is not declared free
/// of such overlaps to the C compiler. Its value and gradient are libtorch's.
#[test]
fn overlapping_slices_of_one_value_add_their_adjoints_up() {
    compiles_and_matches("differences", 64, |x| (x.narrow(0, 1, 63) - x.narrow(0, 0, 63) * 0.7).square().sum(Kind::Double) * -0.5);
}
