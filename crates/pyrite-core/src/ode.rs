//! Ordinary differential equations inside a model: `dy/dt = f(t, y)` solved with tensor
//! operations, so that the solution's gradient with respect to the parameters `f` reads (and to
//! the initial state) comes from autograd, and a model using it compiles (the steps are a fixed
//! sequence of operations: the compiler sees an unrolled loop). Stan's `integrate_ode_rk45` and
//! `integrate_ode_bdf` pick their steps adaptively from error estimates (values read on the
//! host, which a trace cannot follow); here the steps are fixed, no longer than `max_step`, so
//! the accuracy is set by the caller (the classical fourth-order Runge–Kutta method: the global
//! error shrinks as `max_step^4`). That order needs a smooth `f`: a jump, even at one instant,
//! costs accuracy where a step's stage lands on it (a dose term switched on "for t > 0" and
//! evaluated at `t0 = 0` is off by a first-order amount; give `f` the value the solution sees,
//! its limit from the right, there).
//!
//! ```
//! use pyrite_core::ode::rk4;
//! use tch::Tensor;
//!
//! // y' = -0.5 y, y(0) = 2: y(t) = 2 exp(-t / 2).
//! let y = rk4(|_t, y: &Tensor| y * -0.5, &Tensor::from_slice(&[2.0f64]), 0.0, &[1.0, 4.0], 0.05)?;
//! assert_eq!(y.size(), [2, 1]);
//! assert!((y.double_value(&[1, 0]) - 2.0 * (-2.0f64).exp()).abs() < 1e-7);
//! # Ok::<(), pyrite_core::PyriteError>(())
//! ```

use tch::Tensor;

use crate::error::{PyriteError, Result};

/// The solution of `dy/dt = f(t, y)`, `y(t0) = y0`, at each of `times` (increasing, after
/// `t0`): a tensor of shape `[times.len(), ...y0's shape]`. A `y0` and an `f` that index the
/// state from the right (`y.select(-1, k)`, `Tensor::stack(.., -1)`) solve a batch of systems
/// at once (vectorised chains give a model's values batch dims on the left): the times then
/// come before the batch dims; move them to the plate of times' dim (`transpose(0, -2)` for a
/// vector state, as posteriordb's Lotka–Volterra port does). Each interval between consecutive
/// output times is split into equal steps no longer than `max_step`, so that the solution lands
/// on every output time, and each step is one classical fourth-order Runge–Kutta step (four
/// evaluations of `f`).
///
/// # Errors
///
/// [`PyriteError::InvalidInput`] for no output times, times that do not increase from `t0`, a
/// time or `max_step` that is not finite and positive, or an `f` whose value's shape is not
/// `y`'s.
pub fn rk4(f: impl Fn(f64, &Tensor) -> Tensor, y0: &Tensor, t0: f64, times: &[f64], max_step: f64) -> Result<Tensor> {
    let invalid = |problem: String| PyriteError::InvalidInput { what: "ode".into(), problem };
    if !(max_step.is_finite() && max_step > 0.0) {
        return Err(invalid(format!("max_step must be finite and positive, got {max_step}")));
    }
    if times.is_empty() {
        return Err(invalid("no output times".into()));
    }
    let mut t = t0;
    let mut y = y0.shallow_clone();
    let mut out = Vec::with_capacity(times.len());
    for &next in times {
        if !(next.is_finite() && t0.is_finite() && next > t) {
            return Err(invalid(format!("output times must be finite and increase from t0 = {t0}, got {next} after {t}")));
        }
        let steps = ((next - t) / max_step).ceil().max(1.0);
        let h = (next - t) / steps;
        for i in 0..steps as usize {
            let s = t + h * i as f64;
            let k1 = f(s, &y);
            if k1.size() != y.size() {
                return Err(invalid(format!("f(t, y) must have y's shape {:?}, got {:?}", y.size(), k1.size())));
            }
            let k2 = f(s + h / 2.0, &(&y + &k1 * (h / 2.0)));
            let k3 = f(s + h / 2.0, &(&y + &k2 * (h / 2.0)));
            let k4 = f(s + h, &(&y + &k3 * h));
            y = &y + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0);
        }
        t = next;
        out.push(y.shallow_clone());
    }
    Ok(Tensor::stack(&out, 0))
}
