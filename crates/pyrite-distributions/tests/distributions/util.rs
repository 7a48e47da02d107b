//! Helpers shared by the test modules.

use std::sync::{Mutex, MutexGuard};

use tch::{Kind, Tensor};

static RNG: Mutex<()> = Mutex::new(());

/// Serialises the tests that seed libtorch's global generator and then draw from it, so that
/// each sees the stream its seed promises although the harness runs tests on several threads.
pub fn seeded(seed: i64) -> MutexGuard<'static, ()> {
    let guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    guard
}

/// An f64 tensor of `shape` from row-major `data`.
pub fn t64(data: &[f64], shape: &[i64]) -> Tensor {
    Tensor::from_slice(data).reshape(shape)
}

/// The elements of a tensor as f64, row-major.
pub fn vals(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).reshape([-1]).contiguous()).unwrap()
}

/// One number out of a one-element tensor.
pub fn scalar(t: &Tensor) -> f64 {
    assert_eq!(t.numel(), 1, "expected one element, got shape {:?}", t.size());
    vals(t)[0]
}

/// Whether `a` and `b` agree: equal non-finite values (NaN with NaN, inf with inf of the same
/// sign) or `|a - b| <= atol + rtol |b|`.
pub fn close(a: f64, b: f64, rtol: f64, atol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= atol + rtol * b.abs()
}

/// Asserts that `actual` has `shape` and agrees elementwise with `expected`.
pub fn assert_values(what: &str, actual: &Tensor, shape: &[i64], expected: &[f64], rtol: f64, atol: f64) {
    assert_eq!(actual.size(), shape, "{what}: shape");
    let got = vals(actual);
    assert_eq!(got.len(), expected.len(), "{what}: number of elements");
    for (i, (&a, &e)) in got.iter().zip(expected).enumerate() {
        assert!(close(a, e, rtol, atol), "{what}: element {i}: got {a:e}, expected {e:e}\n  all got:      {got:?}\n  all expected: {expected:?}");
    }
}

/// Asserts that two tensors have the same shape and agree elementwise.
pub fn assert_tensors(what: &str, actual: &Tensor, expected: &Tensor, rtol: f64, atol: f64) {
    assert_values(what, actual, &expected.size(), &vals(expected), rtol, atol);
}
