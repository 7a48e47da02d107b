//! A model's potential compiled to native code (`pyrite-compile`): the log-density is captured
//! once with libtorch's tracer, differentiated and generated as C, and every later evaluation
//! is one call with no tensor operation. The data the model reads are constants of the capture,
//! which is right for MCMC: a chain's model and arguments do not change during the run.

use pyrite_compile::policy::{close, first_disagreement, tolerance};
use pyrite_compile::{capture_twice, note_once, Captured, Kernel};
use pyrite_core::prelude::*;
use tch::Kind;

use crate::model_potential::ModelPotential;
use crate::potential::Potential;

/// A potential evaluated by a compiled kernel.
pub struct CompiledPotential {
    kernel: Kernel,
    /// The relative tolerance of the checks against the eager potential.
    tolerance: f64,
}

impl CompiledPotential {
    /// Compiles `eager`'s potential at `z` and checks it there and at a second point against
    /// `eager` (energy and every gradient). `Ok(None)`, with a one-line note on stderr naming
    /// what stopped it, when the model cannot be compiled (an operation the compiler does not
    /// know, no C compiler) or when the compiled potential disagrees with the eager one beyond
    /// rounding (a compiler bug, to report: the run goes on eagerly, never with a wrong answer).
    ///
    /// # Errors
    ///
    /// The model's errors.
    pub fn new(eager: &mut ModelPotential<'_>, z: &[f64]) -> Result<Option<CompiledPotential>> {
        // Traced at `z` and at a second point: a model whose operations or constants differ
        // between the two cannot be captured. The second point moves each coordinate by 0.7, or
        // by 0.1 where the model fails there (a covariance that is no longer positive definite).
        let moved = |by: f64| -> Vec<f64> { z.iter().enumerate().map(|(i, x)| x + if i % 2 == 0 { by } else { -by }).collect() };
        let mut other = moved(0.7);
        let captured = capture_twice(|second| {
            if !second {
                return Ok(Captured::lower(&eager.trace_log_density(z)?, false, 0));
            }
            for by in [0.7, 0.1] {
                other = moved(by);
                if let Ok(graph) = eager.trace_log_density(&other) {
                    return Ok(Captured::lower(&graph, false, 0));
                }
            }
            Ok(Err("the model fails at every second point tried near the first".into()))
        })?;
        let eager_note = |why: &str| note_once("compiled potential", &format!("not compiled, running eagerly: {why}"));
        let captured = match captured {
            Ok(c) => c,
            Err(why) => {
                eager_note(&why);
                return Ok(None);
            }
        };
        let tolerance = tolerance(!captured.float32 && eager.layout().kind() == Kind::Double);
        let kernel = match Kernel::new(captured.program) {
            Ok(k) => k,
            Err(e) => {
                eager_note(&e.to_string());
                return Ok(None);
            }
        };
        let mut compiled = CompiledPotential { kernel, tolerance };
        for at in [z, &other] {
            if let Some(detail) = compiled.disagreement(eager, at)? {
                eager_note(&format!("the compiled potential disagrees with the eager one ({detail}): please report this model"));
                return Ok(None);
            }
        }
        Ok(Some(compiled))
    }

    /// Whether the kernel came from the cache, and the seconds it took to build or load.
    pub fn build_info(&self) -> (bool, f64) {
        (self.kernel.cached, self.kernel.build_seconds)
    }

    /// This potential, which at a point where its energy is not finite asks `eager` why: the
    /// model's error there (a covariance with no Cholesky factor, which the kernel marks with
    /// NaNs where libtorch raises) is returned, so that the point is counted and named as a
    /// failure exactly as in an eager run. Everywhere else, the kernel's value alone.
    pub fn explained_by<'a, 'm>(&'a mut self, eager: &'a mut ModelPotential<'m>) -> Explained<'a, 'm> {
        Explained { compiled: self, eager }
    }

    /// Compares energy and gradient with the eager potential at `z`: what differs, if anything.
    fn disagreement(&mut self, eager: &mut ModelPotential<'_>, z: &[f64]) -> Result<Option<String>> {
        let (mut g_eager, mut g_compiled) = (vec![0.0; z.len()], vec![0.0; z.len()]);
        let e_eager = eager.energy_and_grad(z, &mut g_eager)?;
        let e_compiled = self.energy_and_grad(z, &mut g_compiled)?;
        // At a point where the model is not defined (an ODE solution that overflowed) NUTS
        // rejects either way and the gradients mean nothing (eager ones may be zeros, compiled
        // ones NaN): the two must only agree that the energy is not finite.
        let energies = format!("energy: eager {e_eager}, compiled {e_compiled}");
        Ok(if !e_eager.is_finite() {
            (e_compiled.is_finite()).then_some(energies)
        } else {
            match first_disagreement(&g_eager, &g_compiled, self.tolerance) {
                Some(i) => Some(format!("gradient {i}: eager {}, compiled {}", g_eager[i], g_compiled[i])),
                None if !close(e_eager, e_compiled, 0.0, self.tolerance) => Some(energies),
                None => None,
            }
        })
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

/// A compiled potential whose non-finite values are explained by the eager one
/// ([`CompiledPotential::explained_by`]).
pub struct Explained<'a, 'm> {
    compiled: &'a mut CompiledPotential,
    eager: &'a mut ModelPotential<'m>,
}

impl Potential for Explained<'_, '_> {
    fn dim(&self) -> usize {
        self.compiled.dim()
    }
    fn energy_and_grad(&mut self, z: &[f64], grad: &mut [f64]) -> Result<f64> {
        let energy = self.compiled.energy_and_grad(z, grad)?;
        if energy.is_finite() {
            return Ok(energy);
        }
        // Rare (a proposal outside where the model is defined): one eager evaluation for its
        // error, if it has one; unvalidated, as the run's evaluations after its first.
        let mut scratch = vec![0.0; grad.len()];
        pyrite_distributions::without_validation(|| self.eager.energy_and_grad(z, &mut scratch))?;
        Ok(energy)
    }
}
