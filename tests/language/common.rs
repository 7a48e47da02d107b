//! Helpers shared by the language tests.

use std::path::PathBuf;

use pyrite::prelude::*;

/// The value of a one-element tensor.
pub fn scalar(t: &Tensor) -> f64 {
    t.double_value(&[])
}

/// The elements of a tensor, flattened, as `f64`.
pub fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

/// A 1-d `f32` tensor.
pub fn t32(xs: &[f32]) -> Tensor {
    Tensor::from_slice(xs)
}

/// `log N(x; mu, s)`, computed by hand in `f64`.
pub fn normal_lp(x: f64, mu: f64, s: f64) -> f64 {
    -0.5 * ((x - mu) / s).powi(2) - s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// `|a - b| <= tol * (1 + |b|)`.
#[track_caller]
pub fn assert_close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{a} != {b} (tolerance {tol})");
}

/// Runs `f` with a fresh, empty param store.
pub fn fresh<R>(f: impl FnOnce() -> R) -> R {
    with_param_store(&new_param_store(), f)
}

/// A new empty directory under the system's temporary directory, unique to this test run,
/// removed when dropped (also when the test fails).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pyrite-tests-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The total log-density of a trace as `f64`.
pub fn lps(tr: &Trace) -> f64 {
    scalar(&tr.log_prob_sum().unwrap())
}
