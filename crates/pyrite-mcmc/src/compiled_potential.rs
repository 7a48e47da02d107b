//! A model's potential compiled to native code (`pyrite-compile`): the log-density is captured
//! once with libtorch's tracer, differentiated and generated as C, and every later evaluation
//! is one call with no tensor operation. The data the model reads are constants of the capture,
//! which is right for MCMC: a chain's model and arguments do not change during the run.

use pyrite_compile::{lower, note_once, Kernel};
use pyrite_core::prelude::*;
use tch::Kind;

use crate::model_potential::ModelPotential;
use crate::potential::Potential;

/// The relative tolerance of the check against the eager potential: float32 models (or float64
/// models with float32 values inside) are computed in float64 by the kernel, so they agree to
/// float32's rounding.
fn tolerance(kind: Kind) -> f64 {
    if kind == Kind::Double {
        1e-10
    } else {
        1e-5
    }
}

/// A potential evaluated by a compiled kernel.
pub struct CompiledPotential {
    kernel: Kernel,
    /// The relative tolerance of the checks against the eager potential.
    tolerance: f64,
}

impl CompiledPotential {
    /// Compiles `eager`'s potential at `z` and checks it there against `eager` (energy and every
    /// gradient). `Ok(None)`, with a one-line note on stderr naming what stopped it, when the
    /// model cannot be compiled (an operation the compiler does not know, no C compiler).
    ///
    /// # Errors
    ///
    /// The model's errors; [`PyriteError::Model`] if the compiled potential disagrees with the
    /// eager one beyond float rounding (a compiler bug: never a wrong answer).
    pub fn new(eager: &mut ModelPotential<'_>, z: &[f64]) -> Result<Option<CompiledPotential>> {
        // Traced at `z` and at a second point: a model whose operations or constants differ
        // between the two (control flow on a value read on the host) cannot be captured.
        let other: Vec<f64> = z.iter().enumerate().map(|(i, x)| x + if i % 2 == 0 { 0.7 } else { -0.7 }).collect();
        let lowered = |at: &[f64]| -> Result<std::result::Result<(pyrite_compile::Program, bool), String>> {
            let graph = eager.trace_log_density(at)?;
            Ok(lower(&graph).map(|p| (p, graph.computes_in_float32())).map_err(|why| why.0))
        };
        let (program, float32) = match (lowered(z)?, lowered(&other)?) {
            (Ok(p), Ok(q)) if p == q => p,
            (Ok(_), Ok(_)) => {
                note_once("compiled potential", "not compiled, running eagerly: the model's operations depend on the values of its latent sites");
                return Ok(None);
            }
            (Err(why), _) | (_, Err(why)) => {
                note_once("compiled potential", &format!("not compiled, running eagerly: {why}"));
                return Ok(None);
            }
        };
        let kernel = match Kernel::new(program) {
            Ok(k) => k,
            Err(e) => {
                note_once("compiled potential", &format!("not compiled, running eagerly: {e}"));
                return Ok(None);
            }
        };
        let tolerance = if float32 { tolerance(Kind::Float) } else { tolerance(eager.layout().kind()) };
        let mut compiled = CompiledPotential { kernel, tolerance };
        compiled.check(eager, z)?;
        compiled.check(eager, &other)?;
        Ok(Some(compiled))
    }

    /// Whether the kernel came from the cache, and the seconds it took to build or load.
    pub fn build_info(&self) -> (bool, f64) {
        (self.kernel.cached, self.kernel.build_seconds)
    }

    /// Compares energy and gradient with the eager potential at `z`.
    fn check(&mut self, eager: &mut ModelPotential<'_>, z: &[f64]) -> Result<()> {
        let tol = self.tolerance;
        let (mut g_eager, mut g_compiled) = (vec![0.0; z.len()], vec![0.0; z.len()]);
        let e_eager = eager.energy_and_grad(z, &mut g_eager)?;
        let e_compiled = self.energy_and_grad(z, &mut g_compiled)?;
        let close = |a: f64, b: f64, scale: f64| (a - b).abs() <= tol * scale.max(a.abs()).max(b.abs()).max(1.0) || (a == b);
        let g_scale = g_eager.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        let bad_grad = g_eager.iter().zip(&g_compiled).position(|(a, b)| !close(*a, *b, g_scale));
        if !close(e_eager, e_compiled, 0.0) || bad_grad.is_some() {
            let detail = match bad_grad {
                Some(i) => format!("gradient {i}: eager {}, compiled {}", g_eager[i], g_compiled[i]),
                None => format!("energy: eager {e_eager}, compiled {e_compiled}"),
            };
            return Err(PyriteError::Model(format!("the compiled potential disagrees with the eager one ({detail}): please report this model")));
        }
        Ok(())
    }
}

impl Potential for CompiledPotential {
    fn dim(&self) -> usize {
        self.kernel.input_len()
    }
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64> {
        let lp = self.kernel.value_and_grad(z, &[], grad);
        for g in grad.iter_mut() {
            *g = -*g;
        }
        Ok(-lp)
    }
}
