//! `ode::rk4`: the classical Runge–Kutta solution against closed forms (exponential decay and
//! its gradient by autograd, fourth-order convergence, first-order absorption switched on at
//! `t0`), a conserved quantity (Lotka–Volterra's), and the errors for bad input.

use pyrite::prelude::*;

#[test]
fn exponential_decay_its_gradient_and_fourth_order_convergence() {
    let k = Tensor::from(0.7f64).set_requires_grad(true);
    let y0 = Tensor::from_slice(&[3.0f64]);
    let times = [0.5, 2.0, 5.0];
    let y = ode::rk4(|_t, y: &Tensor| -(&k * y), &y0, 0.0, &times, 0.01).unwrap();
    assert_eq!(y.size(), [3, 1]);
    for (i, t) in times.iter().enumerate() {
        let exact = 3.0 * (-0.7 * t).exp();
        assert!((y.double_value(&[i as i64, 0]) - exact).abs() < 1e-9, "t = {t}");
    }
    // d y(5) / dk = -5 * 3 exp(-5k).
    y.get(2).sum(Kind::Double).backward();
    let want = -5.0 * 3.0 * (-3.5f64).exp();
    assert!((k.grad().double_value(&[]) - want).abs() < 1e-8, "gradient {} against {want}", k.grad().double_value(&[]));
    // Halving the step divides the error by about 2^4.
    let error = |h: f64| {
        let y = ode::rk4(|_t, y: &Tensor| y * -2.0, &y0, 0.0, &[3.0], h).unwrap();
        (y.double_value(&[0, 0]) - 3.0 * (-6.0f64).exp()).abs()
    };
    let ratio = error(0.2) / error(0.1);
    assert!((13.0..19.0).contains(&ratio), "error ratio {ratio}");
}

/// Along a Lotka–Volterra orbit `delta u - gamma ln u + beta v - alpha ln v` is constant; the
/// time argument reaches `f` (y' = t: y = t^2 / 2, which the method integrates exactly).
#[test]
fn lotka_volterra_keeps_its_invariant() {
    let (alpha, beta, gamma, delta) = (0.55, 0.028, 0.8, 0.024);
    let f = |_t: f64, z: &Tensor| {
        let (u, v) = (z.get(0), z.get(1));
        Tensor::stack(&[(-(&v * beta) + alpha) * &u, (&u * delta - gamma) * &v], 0)
    };
    let invariant = |u: f64, v: f64| delta * u - gamma * u.ln() + beta * v - alpha * v.ln();
    let times: Vec<f64> = (1..=20).map(f64::from).collect();
    let z = ode::rk4(f, &Tensor::from_slice(&[33.0f64, 6.0]), 0.0, &times, 0.02).unwrap();
    let start = invariant(33.0, 6.0);
    for i in 0..20 {
        let (u, v) = (z.double_value(&[i, 0]), z.double_value(&[i, 1]));
        assert!((invariant(u, v) - start).abs() < 1e-7, "t = {}: drift {}", i + 1, invariant(u, v) - start);
    }
    let forced = ode::rk4(|t, y: &Tensor| y.ones_like() * t, &Tensor::from_slice(&[0.0f64]), 0.0, &[1.0, 3.0], 0.3).unwrap();
    assert!((forced.double_value(&[1, 0]) - 4.5).abs() < 1e-12);
}

/// One compartment with first-order absorption from `t = 0` and linear elimination, `C' = (D
/// k_a / V) exp(-k_a t) - k C`, `C(0) = 0`: `C(t) = (D k_a / V) (exp(-k_a t) - exp(-k t)) /
/// (k - k_a)`. Written as Stan's one_comp_mm_elim_abs writes its dose (`if (t > 0)`), the
/// first step's first stage sits on the jump and leaves the dose out: a first-order error, 1%
/// at t = 0.5 with steps of 0.025; given its limit from the right there, the solution is the
/// closed form's to 1e-8.
#[test]
fn a_dose_switched_on_at_t0_needs_its_right_limit_there() {
    let (dose, k_a, k) = (15.0, 0.76, 0.2);
    let times = [0.5, 1.0, 5.0];
    let exact = |t: f64| dose * k_a * ((-k_a * t).exp() - (-k * t).exp()) / (k - k_a);
    let solve = |dose_at_t0: bool| {
        let f = move |t: f64, c: &Tensor| {
            let elimination = c * k;
            if t > 0.0 || dose_at_t0 {
                elimination.ones_like() * (dose * k_a * (-k_a * t).exp()) - elimination
            } else {
                -elimination
            }
        };
        ode::rk4(f, &Tensor::from_slice(&[0.0f64]), 0.0, &times, 0.025).unwrap()
    };
    let (with_limit, without) = (solve(true), solve(false));
    for (i, &t) in times.iter().enumerate() {
        let relative = |y: &Tensor| (y.double_value(&[i as i64, 0]) / exact(t) - 1.0).abs();
        assert!(relative(&with_limit) < 1e-8, "t = {t}: {}", relative(&with_limit));
        assert!(relative(&without) > 1e-3, "t = {t}: {}", relative(&without));
    }
}

#[test]
fn bad_times_steps_or_shapes_are_errors() {
    let y0 = Tensor::from_slice(&[1.0f64]);
    let decay = |_t: f64, y: &Tensor| -y;
    let problem = |r: Result<Tensor>| match r {
        Err(PyriteError::InvalidInput { what, problem }) if what == "ode" => problem,
        other => panic!("not an ode input error: {other:?}"),
    };
    assert!(problem(ode::rk4(decay, &y0, 0.0, &[], 0.1)).contains("no output times"));
    assert!(problem(ode::rk4(decay, &y0, 0.0, &[1.0, 0.5], 0.1)).contains("increase"));
    assert!(problem(ode::rk4(decay, &y0, 1.0, &[1.0], 0.1)).contains("increase"));
    assert!(problem(ode::rk4(decay, &y0, 0.0, &[f64::NAN], 0.1)).contains("finite"));
    assert!(problem(ode::rk4(decay, &y0, 0.0, &[1.0], 0.0)).contains("max_step"));
    assert!(problem(ode::rk4(|_t, y: &Tensor| y.repeat([2]), &y0, 0.0, &[1.0], 0.1)).contains("shape"));
}
