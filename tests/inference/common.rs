//! Helpers shared by the inference tests.

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

/// A 1-d `f64` tensor.
pub fn t64(xs: &[f64]) -> Tensor {
    Tensor::from_slice(xs)
}

/// A 0-d `f64` tensor (distribution parameters given as `f64` numbers become `f32`).
pub fn c64(x: f64) -> Tensor {
    Tensor::from(x)
}

/// `|a - b| <= tol`, with a message naming what is compared.
#[track_caller]
pub fn assert_near(what: &str, a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tolerance {tol}, off by {})", (a - b).abs());
}

/// `|a / b - 1| <= tol`.
#[track_caller]
pub fn assert_rel(what: &str, a: f64, b: f64, tol: f64) {
    assert!((a / b - 1.0).abs() <= tol, "{what}: {a} vs {b} (relative tolerance {tol}, off by {:.4})", (a / b - 1.0).abs());
}

/// Runs `f` with a fresh, empty param store and libtorch's generator seeded.
///
/// libtorch runs on one intra-op thread here: the tests' tensors are tiny, and on a small,
/// busy machine the OpenMP/MKL pool's waiting makes each small matmul or triangular solve (as
/// in `MultivariateNormal`) cost milliseconds instead of microseconds.
pub fn seeded<R>(s: u64, f: impl FnOnce() -> R) -> R {
    tch::set_num_threads(1);
    seed(s, || {
        set_rng_seed(s);
        with_param_store(&new_param_store(), f)
    })
}

/// The constrained value of a param of the current store.
pub fn param_value(name: &str) -> Tensor {
    let store = get_param_store();
    let v = pyrite::core::param_store::lock(&store).get(name).unwrap_or_else(|e| panic!("{e}"));
    v
}

/// A snapshot of every param of the current store: name → unconstrained values (bitwise copies).
pub fn snapshot() -> Vec<(String, Vec<f64>)> {
    let store = get_param_store();
    let s = pyrite::core::param_store::lock(&store);
    s.iter().map(|(n, e)| (n.clone(), to_vec(&e.unconstrained))).collect()
}

/// SVI with Adam whose learning rate decays exponentially from `lr` to `lr * final_fraction` over
/// `steps` steps (so that the last iterates sit close to the optimum), and `particles`
/// vectorised particles. Returns the losses.
pub fn fit<A: ?Sized, R>(
    model: &impl Fn(&A) -> Result<R>,
    guide: &impl Guide<A>,
    args: &A,
    steps: usize,
    lr: f64,
    final_fraction: f64,
    particles: usize,
) -> Vec<f64> {
    let gamma = final_fraction.powf(1.0 / steps as f64);
    let optim = Optimizer::adam(lr).with_schedule(LrSchedule::Exponential { gamma });
    let elbo = if particles > 1 { TraceElbo::with_particles(particles, true) } else { TraceElbo::new() };
    let mut svi = Svi::new(model, |a: &A| guide.call(a), optim, elbo);
    svi.progress = false;
    svi.run(steps, args).unwrap_or_else(|e| panic!("SVI failed: {e}"))
}

/// A new empty directory under the system's temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pyrite-tests-{}-inference-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn join(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A compiled-or-eager run's losses, params, and whether its last step ran compiled.
pub type Run = (Vec<f64>, Vec<(String, Vec<f64>)>, bool);

/// That `other` took `eager`'s steps: losses and params equal within `tol` relative.
pub fn assert_same_steps(what: &str, eager: &Run, other: &Run, tol: f64) {
    for (k, (a, b)) in eager.0.iter().zip(&other.0).enumerate() {
        assert!((a - b).abs() <= tol * a.abs().max(1.0), "{what}: loss of step {k}: eager {a}, compiled {b}");
    }
    assert_eq!(eager.1.len(), other.1.len(), "{what}: the params");
    for ((name, a), (_, b)) in eager.1.iter().zip(&other.1) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * x.abs().max(1.0), "{what}: param {name}: eager {x}, compiled {y}");
        }
    }
}
