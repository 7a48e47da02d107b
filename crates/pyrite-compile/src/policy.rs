//! The compiled path's decisions, shared by SVI's compiled step and MCMC's compiled potential:
//! whether to compile (by default, wherever a model can be: `PYRITE_COMPILE=0` turns it off for
//! a process, `Svi::compiled` and `Nuts::compiled` for one run), what a capture must satisfy
//! (the same program at two points), how closely the compiled result must agree with the eager
//! one, and the one note a model that cannot be compiled gets.

use std::sync::Arc;

use pyrite_core::Result;

use crate::ir::Graph;
use crate::lower::{lower_with, Program};
use crate::trace::Externals;

use std::sync::atomic::{AtomicU8, Ordering};

/// The process's choice, when one was made: 0 none, 1 on, 2 off.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// Whether SVI and MCMC compile by default: as [`set_enabled_by_default`] chose, else true
/// unless the environment variable `PYRITE_COMPILE` is `0`, `false`, `off` or `no`.
///
/// ```
/// // (The test process does not set PYRITE_COMPILE.)
/// assert_eq!(pyrite_compile::enabled_by_default(), std::env::var("PYRITE_COMPILE").map_or(true, |v| v != "0"));
/// ```
pub fn enabled_by_default() -> bool {
    match CHOSEN.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    match std::env::var("PYRITE_COMPILE") {
        Ok(v) => !matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false" | "off" | "no"),
        Err(_) => true,
    }
}

/// Sets whether the `Svi` and `Nuts`/`Hmc` made from now on in this process compile by default
/// (a program's `--eager` flag); each can still be set on its own.
pub fn set_enabled_by_default(on: bool) {
    CHOSEN.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// Prints `note: {what}: {why}` on standard error once per process for each distinct pair (a
/// model that cannot be compiled is noted once, not at every run, step or chain).
pub fn note_once(what: &str, why: &str) {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let line = format!("note: {what}: {why}");
    let fresh = SEEN.get_or_init(Default::default).lock().map(|mut seen| seen.insert(line.clone())).unwrap_or(true);
    if fresh {
        eprintln!("{line}");
    }
}

/// One capture of a model's computation, lowered: what it computes, the tensors it holds as
/// constants (watched for changes) and whether it computed values in float32.
#[derive(Debug)]
pub struct Captured {
    pub program: Program,
    pub externals: Arc<Externals>,
    /// The traced code computed some values in float32: the kernel (float64) agrees with it to
    /// float32's rounding only.
    pub float32: bool,
}

impl Captured {
    /// Lowers a traced graph (see [`lower_with`] for `noise` and `data`); `Err` with the reason
    /// when it cannot be compiled (a host read, an operation outside the set).
    pub fn lower(graph: &Graph, noise: bool, data: usize) -> std::result::Result<Captured, String> {
        let program = lower_with(graph, noise, data).map_err(|why| why.0)?;
        Ok(Captured { program, externals: graph.externals.clone(), float32: graph.computes_in_float32() })
    }
}

/// Captures at a first point and at a second one (`at(false)`, `at(true)`): a computation whose
/// operations or constants differ between the two (control flow on values the capture could not
/// see) is not compiled. Returns the first capture, or why not.
///
/// # Errors
///
/// `at`'s own errors (the model's).
pub fn capture_twice(mut at: impl FnMut(bool) -> Result<std::result::Result<Captured, String>>) -> Result<std::result::Result<Captured, String>> {
    let first = match at(false)? {
        Ok(c) => c,
        Err(why) => return Ok(Err(why)),
    };
    Ok(match at(true)? {
        Ok(second) if second.program == first.program => Ok(first),
        Ok(_) => Err("the operations depend on the values of the inputs".into()),
        Err(why) => Err(why),
    })
}

/// The relative tolerance of a compiled result against the eager one: 1e-6 when the eager code
/// computed in float64 throughout, float32's rounding (1e-5) otherwise. Not float64's epsilon:
/// linear algebra on a nearly singular matrix rounds differently in the kernel's loops and in
/// LAPACK by its condition number times that (6e-8 of the gradient on posteriordb's
/// gp_pois_regr, a Cholesky factor with a jitter of 1e-10), while a miscompiled operation is
/// off by far more.
pub fn tolerance(float64_throughout: bool) -> f64 {
    if float64_throughout {
        1e-6
    } else {
        1e-5
    }
}

/// Whether `a` and `b` agree to `tol` relative to the largest of them, `scale` and 1.
pub fn close(a: f64, b: f64, scale: f64, tol: f64) -> bool {
    a == b || (a - b).abs() <= tol * scale.max(a.abs()).max(b.abs()).max(1.0)
}

/// The first element of `compiled` that disagrees with `eager` beyond `tol`, relative to the
/// largest eager element (a gradient's scale).
pub fn first_disagreement(eager: &[f64], compiled: &[f64], tol: f64) -> Option<usize> {
    let scale = eager.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    eager.iter().zip(compiled).position(|(a, b)| !close(*a, *b, scale, tol))
}
