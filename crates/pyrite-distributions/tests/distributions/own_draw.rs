//! `Normal` scores its own reparameterised draw from the draw's noise. That shortcut must give
//! the general formula's value and gradients in every case; these tests score values that are
//! and are not the draw (sampled without gradient, detached, cloned, re-wrapped, transposed,
//! modified in place, made a new leaf) and compare with the closed form
//! `d/dloc = (x - loc) / scale^2`, `d/dscale = -1 / scale + (x - loc)^2 / scale^3` (torch's
//! values) or, where the value depends on the parameters, with a fresh Normal that never drew.

use pyrite_distributions::prelude::*;
use tch::{Kind, Tensor};

use crate::util::*;

const LOC: [f64; 3] = [0.5, -1.0, 2.0];
const SCALE: [f64; 3] = [2.0, 0.3, 1.5];

fn params() -> (Tensor, Tensor) {
    (Tensor::from_slice(&LOC).set_requires_grad(true), Tensor::from_slice(&SCALE).set_requires_grad(true))
}

/// Gradients of `lp.sum()`; a tensor the sum does not depend on gets zeros.
fn grads(lp: &Tensor, of: &[&Tensor]) -> Vec<Tensor> {
    let g = Tensor::run_backward(&[lp.sum(Kind::Double)], of, true, true);
    g.into_iter().zip(of).map(|(g, x)| if g.defined() { g } else { x.zeros_like() }).collect()
}

/// The closed-form log density and its partial derivatives at a constant `x`.
fn closed_form(x: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut lp = vec![];
    let mut dloc = vec![];
    let mut dscale = vec![];
    for i in 0..3 {
        let (m, s) = (LOC[i], SCALE[i]);
        let z = (x[i] - m) / s;
        lp.push(-0.5 * z * z - s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln());
        dloc.push(z / s);
        dscale.push(-1.0 / s + z * z / s);
    }
    (lp, dloc, dscale)
}

fn assert_close(what: &str, actual: &Tensor, expected: &[f64]) {
    let a = vals(actual);
    for (i, (x, y)) in a.iter().zip(expected).enumerate() {
        assert!(close(*x, *y, 1e-10, 1e-12), "{what}[{i}]: {x} vs {y}");
    }
}

/// A value that does not depend on the parameters: scored with the partial derivatives.
fn check_constant_value(what: &str, d: &Normal, x: &Tensor, loc: &Tensor, scale: &Tensor) {
    let (lp, dloc, dscale) = closed_form(&vals(x));
    let got = d.log_prob(x).unwrap();
    assert_close(&format!("{what}: log_prob"), &got, &lp);
    let g = grads(&got, &[loc, scale]);
    assert_close(&format!("{what}: d/dloc"), &g[0], &dloc);
    assert_close(&format!("{what}: d/dscale"), &g[1], &dscale);
}

/// A value that depends on the parameters: the same value and total gradients as a Normal that
/// never drew it.
fn check_against_fresh(what: &str, d: &Normal, x: &Tensor, loc: &Tensor, scale: &Tensor) {
    let fresh = Normal::new(loc, scale).unwrap();
    let (a, b) = (d.log_prob(x).unwrap(), fresh.log_prob(x).unwrap());
    assert_close(&format!("{what}: log_prob"), &a, &vals(&b));
    let (ga, gb) = (grads(&a, &[loc, scale]), grads(&b, &[loc, scale]));
    assert_close(&format!("{what}: d/dloc"), &ga[0], &vals(&gb[0]));
    assert_close(&format!("{what}: d/dscale"), &ga[1], &vals(&gb[1]));
}

#[test]
fn an_rsampled_value_and_its_views_score_as_the_general_formula() {
    let _g = seeded(11);
    let (loc, scale) = params();
    let d = Normal::new(&loc, &scale).unwrap();
    let x = d.rsample(&[]).unwrap();
    check_against_fresh("rsampled", &d, &x, &loc, &scale);
    check_against_fresh("shallow clone", &d, &x.shallow_clone(), &loc, &scale);
    check_against_fresh("view", &d, &x.view([3]), &loc, &scale);
    check_against_fresh("copy", &d, &x.copy(), &loc, &scale);
    // the total derivative of log N(loc + scale * eps) is 0 in loc and -1/scale in scale
    let g = grads(&d.log_prob(&x).unwrap(), &[&loc, &scale]);
    assert_close("rsampled: total d/dloc", &g[0], &[0.0; 3]);
    assert_close("rsampled: total d/dscale", &g[1], &SCALE.map(|s| -1.0 / s));
}

#[test]
fn a_value_drawn_without_gradient_gets_the_partial_derivatives() {
    let _g = seeded(12);
    let (loc, scale) = params();
    let d = Normal::new(&loc, &scale).unwrap();
    // `sample` (a non-reparameterised guide's draw) used to lose both gradients
    let x = d.sample(&[]).unwrap();
    check_constant_value("sampled", &d, &x, &loc, &scale);
    let x = d.rsample(&[]).unwrap();
    check_constant_value("detached", &d, &x.detach(), &loc, &scale);
    let leaf = x.detach().set_requires_grad(true);
    check_constant_value("new leaf from the draw", &d, &leaf, &loc, &scale);
    let gx = grads(&d.log_prob(&leaf).unwrap(), &[&leaf]);
    let expected: Vec<f64> = (0..3).map(|i| -(vals(&leaf)[i] - LOC[i]) / (SCALE[i] * SCALE[i])).collect();
    assert_close("new leaf: d/dx", &gx[0], &expected);
}

#[test]
fn a_value_changed_in_place_or_transposed_is_not_the_draw() {
    let _g = seeded(13);
    let (loc, scale) = params();
    let d = Normal::new(&loc, &scale).unwrap();
    let mut x = d.rsample(&[]).unwrap();
    tch::no_grad(|| {
        let _ = x.g_add_scalar_(0.75);
    });
    check_against_fresh("modified in place", &d, &x, &loc, &scale);
    let (lp, _, _) = closed_form(&vals(&x));
    assert_close("modified in place: value", &d.log_prob(&x).unwrap(), &lp);

    // parameters without gradient: a recorded draw, modified in place
    let c = Normal::new(Tensor::from_slice(&LOC), Tensor::from_slice(&SCALE)).unwrap();
    let mut y = c.rsample(&[]).unwrap();
    let _ = y.g_mul_scalar_(3.0);
    assert_close("constant parameters, modified in place", &c.log_prob(&y).unwrap(), &closed_form(&vals(&y)).0);

    // a square batch: the transposed draw has the same storage and shape but other values
    let m = Normal::new(t64(&[0.0, 1.0, 2.0, 3.0], &[2, 2]), t64(&[1.0, 2.0, 3.0, 4.0], &[2, 2])).unwrap();
    let z = m.rsample(&[]).unwrap();
    let general = Normal::new(t64(&[0.0, 1.0, 2.0, 3.0], &[2, 2]), t64(&[1.0, 2.0, 3.0, 4.0], &[2, 2])).unwrap();
    assert_tensors("transposed draw", &m.log_prob(&z.tr()).unwrap(), &general.log_prob(&z.tr().contiguous()).unwrap(), 1e-12, 1e-12);
}

/// The other shortcuts: number parameters (scalar arithmetic), the expanded prior (a batch
/// larger than the value) and `Delta` scoring its own draw give the general formula's value and
/// gradients.
#[test]
fn number_parameters_expanded_priors_and_delta_match_the_general_formula() {
    let _g = seeded(14);
    let x = Tensor::from_slice(&[0.3f64, -1.2, 2.5]).set_requires_grad(true);
    let numbers = Normal::new(0.5, 2.0).unwrap();
    let tensors = Normal::new(Tensor::from(0.5f64), Tensor::from(2.0f64)).unwrap();
    let (a, b) = (numbers.log_prob(&x).unwrap(), tensors.log_prob(&x).unwrap());
    assert_tensors("numbers: log_prob", &a, &b, 1e-6, 1e-6);
    assert_tensors("numbers: d/dx", &grads(&a, &[&x])[0], &grads(&b, &[&x])[0], 1e-6, 1e-6);

    // an expanded prior scoring a smaller value: broadcast to the batch shape
    let prior = Normal::new(0.0, 1.0).unwrap().expand(&[2, 3]).unwrap();
    let lp = prior.log_prob(&x).unwrap();
    assert_eq!(lp.size(), vec![2, 3]);
    let general = Normal::new(Tensor::zeros([2, 3], (Kind::Double, tch::Device::Cpu)), 1.0).unwrap().log_prob(&x).unwrap();
    assert_tensors("expanded prior", &lp, &general, 1e-6, 1e-6);
    assert_tensors("expanded prior: d/dx", &grads(&lp, &[&x])[0], &grads(&general, &[&x])[0], 1e-6, 1e-6);

    // Delta at its own draw: log_density, with its gradient; elsewhere -inf
    let v = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
    let ld = Tensor::from(0.7f64).set_requires_grad(true);
    let d = Delta::with_log_density(&v, &ld, 1).unwrap();
    let own = d.rsample(&[]).unwrap();
    let copy = own.detach().copy();
    let (a, b) = (d.log_prob(&own).unwrap(), d.log_prob(&copy).unwrap());
    assert_tensors("delta at its draw", &a, &b, 0.0, 0.0);
    assert_tensors("delta: d/dlog_density", &grads(&a, &[&ld])[0], &grads(&b, &[&ld])[0], 0.0, 0.0);
    assert_eq!(scalar(&d.log_prob(&Tensor::from_slice(&[1.0f64, 2.5])).unwrap()), f64::NEG_INFINITY);
}
