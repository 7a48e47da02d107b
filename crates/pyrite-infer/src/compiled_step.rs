//! A compiled SVI step (`pyrite-compile`): the loss and its gradient with respect to the
//! params, captured once with libtorch's tracer from one run of the ELBO, differentiated and
//! generated as native code. Each step then reads the params, draws the guide's standard normal
//! noise with libtorch (the same draws, in the same order, as the eager step makes), calls the
//! kernel and hands the gradients to the optimizer.
//!
//! The model's arguments are captured with the step, as constants: the step is for SVI on the
//! same arguments at every step (full-batch SVI). A step with another arguments value (another
//! address) drops the compiled step and runs eagerly. Unless the caller names the arguments'
//! tensors that change (`Svi::compiled_data`, a minibatch): those are inputs of the kernel, read
//! at every step; a step whose data have other shapes (a short last batch) runs eagerly. The
//! step after the capture is checked against the eager one again (its arguments may be others at
//! the same address, a minibatch made anew in a loop), so that a tensor that changed while held
//! as a constant is caught, not a wrong step: an error when data were named, an eager run from
//! then on otherwise.

use std::sync::Arc;
use std::time::Instant;

use pyrite_compile::policy::{close, first_disagreement, tolerance};
use pyrite_compile::{capture_twice, trace, with_rng_restored, Captured, Externals, Kernel, Precision, Program, Real};
use pyrite_core::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::elbo::Elbo;
use crate::optim::Optimizer;

/// What the kernel reads and writes, and the params it updates.
pub(crate) struct CompiledStep {
    kernel: Kernel,
    /// The params' unconstrained leaves, in the kernel's input order.
    params: Vec<(String, Tensor)>,
    /// Each param's offset in the flat input.
    offsets: Vec<usize>,
    /// The noise draws: shape and dtype, in order.
    noise: Vec<(Vec<i64>, Kind)>,
    /// The data inputs: shape and dtype, in order (their values come first in the noise vector).
    data: Vec<(Vec<i64>, Kind)>,
    data_len: usize,
    /// Whether the step has been checked against the eager one at the step after its capture
    /// (see the module's documentation).
    checked_other_args: bool,
    /// How many steps it has served.
    served: usize,
    /// The kernel's vectors, in its precision.
    vectors: Buffers,
    /// The address of the arguments the step was captured with.
    args: usize,
    /// The tensors of the arguments (and of the model's closures) the step holds as constants.
    externals: Arc<Externals>,
    /// Whether the traced step computed values in float32 (checked to float32's rounding).
    float32: bool,
    /// What the kernel computes (its constants' values included).
    program: Program,
    /// The params' dtype (one for all).
    kind: Kind,
}

/// The kernel's input, noise (data first, then draws) and gradient vectors.
struct Vectors<T> {
    z: Vec<T>,
    noise: Vec<T>,
    grad: Vec<T>,
}

/// [`Vectors`] of the kernel's precision: float32 for a float32 step (half the bytes), else
/// float64.
enum Buffers {
    F64(Vectors<f64>),
    F32(Vectors<f32>),
}

/// Runs `$body` with `$v` the vectors of either precision.
macro_rules! with_vectors {
    ($buffers:expr, $v:ident => $body:expr) => {
        match $buffers {
            Buffers::F64($v) => $body,
            Buffers::F32($v) => $body,
        }
    };
}

impl<T: Real> Vectors<T> {
    fn new(input_len: usize, noise_len: usize) -> Vectors<T> {
        Vectors { z: vec![T::default(); input_len], noise: vec![T::default(); noise_len], grad: vec![T::default(); input_len] }
    }
}

/// Reads a contiguous CPU float tensor's values into `out` (no libtorch operation).
fn read_values<T: Real>(t: &Tensor, out: &mut [T]) {
    let n = out.len();
    // SAFETY: `t` was checked to be a defined, contiguous CPU tensor of float32 or float64 with
    // `n` elements, and nothing writes it meanwhile.
    unsafe {
        match t.kind() {
            Kind::Float => {
                let v = std::slice::from_raw_parts(t.data_ptr() as *const f32, n);
                for (o, &x) in out.iter_mut().zip(v) {
                    *o = T::from_f64(f64::from(x));
                }
            }
            _ => {
                let v = std::slice::from_raw_parts(t.data_ptr() as *const f64, n);
                for (o, &x) in out.iter_mut().zip(v) {
                    *o = T::from_f64(x);
                }
            }
        }
    }
}

/// The number of float32 param values from which a step's kernel stores float32 (see
/// [`CompiledStep::build`]).
const SINGLE_MIN_PARAMS: usize = 1 << 16;

/// How much slower than the eager step a compiled step may be and still be used (timing noise).
const SLOWER: f64 = 1.25;

/// The largest integer every float32 holds exactly (2^24).
const F32_EXACT: f64 = 16_777_216.0;

/// Reads a data tensor's values (any real or integer dtype, anywhere) into `out`: false, with
/// `out` unspecified, for integers a float32 vector cannot hold exactly.
fn read_data<T: Real>(t: &Tensor, out: &mut [T]) -> Result<bool> {
    let t = if t.device() == Device::Cpu { t.shallow_clone() } else { t.f_to_device(Device::Cpu)? };
    let t = t.f_contiguous()?;
    let single = T::PRECISION == Precision::F32;
    match t.kind() {
        Kind::Float | Kind::Double => read_values(&t, out),
        Kind::Int64 => {
            // SAFETY: a contiguous CPU int64 tensor of `out.len()` elements (shape checked).
            let v = unsafe { std::slice::from_raw_parts(t.data_ptr() as *const i64, out.len()) };
            for (o, &x) in out.iter_mut().zip(v) {
                if single && (x as f64).abs() > F32_EXACT {
                    return Ok(false);
                }
                *o = T::from_f64(x as f64);
            }
        }
        _ => {
            let d = t.f_to_kind(Kind::Double)?;
            read_values(&d, out);
            if single && out.iter().any(|x| x.to_f64().abs() > F32_EXACT) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn is_readable(t: &Tensor) -> bool {
    t.defined() && t.device() == Device::Cpu && t.is_contiguous() && matches!(t.kind(), Kind::Float | Kind::Double)
}

fn kind_of(name: &str) -> Option<Kind> {
    match name {
        "float32" => Some(Kind::Float),
        "float64" => Some(Kind::Double),
        _ => None,
    }
}

/// Captures the step's surrogate loss with `params` and `data` as the graph's inputs. The
/// capture draws the guide's noise: the generator is put back afterwards. The eager step just
/// ran: an error under the tracer is the tracer's (a tensor that requires grad read as a
/// constant, for one), and the step stays eager.
fn capture(
    loss: &dyn Elbo,
    model: &dyn Fn() -> Result<()>,
    guide: &dyn Fn() -> Result<()>,
    params: &[(String, Tensor)],
    data: &[Tensor],
) -> Result<std::result::Result<Captured, String>> {
    let inputs: Vec<Tensor> = params.iter().map(|(_, p)| p).chain(data).map(Tensor::shallow_clone).collect();
    let traced = with_rng_restored(|| pyrite_distributions::without_validation(|| trace(&inputs, || Ok(loss.loss_and_params(model, guide)?.surrogate))))?;
    Ok(match traced {
        Ok(graph) => Captured::lower(&graph, true, data.len()),
        Err(e) => Err(format!("the tracer: {}", e.to_string().lines().next().unwrap_or_default())),
    })
}

/// The outcome of trying to compile a step.
pub(crate) enum Built {
    Compiled(Box<CompiledStep>),
    /// Not compiled, and why (for a one-line note).
    Eager(String),
}

impl CompiledStep {
    /// Captures `loss` over `model` and `guide` with `params` (the last eager step's, all
    /// existing) as inputs, compiles it and checks one step's loss and gradients against the
    /// eager ones with the same noise.
    ///
    /// # Errors
    ///
    /// The model's errors. A compiled step that disagrees with the eager one (a compiler bug)
    /// is not used: the steps run eagerly, with a note asking to report the model.
    pub(crate) fn build(
        loss: &dyn Elbo,
        model: &dyn Fn() -> Result<()>,
        guide: &dyn Fn() -> Result<()>,
        params: &[(String, Tensor)],
        data: &[Tensor],
        args: usize,
    ) -> Result<Built> {
        if params.is_empty() {
            return Ok(Built::Eager("the step has no params".into()));
        }
        if let Some((name, _)) = params.iter().find(|(_, p)| !is_readable(p)) {
            return Ok(Built::Eager(format!("param `{name}` is not a contiguous float tensor on the CPU")));
        }
        let kind = params[0].1.kind();
        if params.iter().any(|(_, p)| p.kind() != kind) {
            return Ok(Built::Eager("params of several dtypes".into()));
        }
        // Captured at the params, then with every param moved by 0.5 (put back afterwards): a
        // step whose operations depend on the values gives another capture, and stays eager.
        // Where the step fails there (a network's activations overflow), by 0.01.
        let captured = capture_twice(|second| {
            if !second {
                return capture(loss, model, guide, params, data);
            }
            let leaves: Vec<Tensor> = params.iter().map(|(_, p)| p.shallow_clone()).collect();
            let saved: Vec<Tensor> = leaves.iter().map(|p| p.detach().copy()).collect();
            let mut again = Ok(Err(String::new()));
            for by in [0.5, 0.01] {
                tch::no_grad(|| {
                    for p in &leaves {
                        let _ = p.detach().g_add_scalar_(by);
                    }
                });
                again = capture(loss, model, guide, params, data);
                tch::no_grad(|| {
                    for (p, v) in leaves.iter().zip(&saved) {
                        p.detach().copy_(v);
                    }
                });
                if matches!(again, Ok(Ok(_))) {
                    break;
                }
            }
            again
        })?;
        let Captured { program, externals, float32 } = match captured {
            Ok(c) => c,
            Err(why) => return Ok(Built::Eager(why)),
        };
        let mut noise = Vec::with_capacity(program.noise.len());
        for (shape, dtype) in &program.noise {
            match kind_of(dtype) {
                Some(k) => noise.push((shape.clone(), k)),
                None => return Ok(Built::Eager(format!("noise of dtype {dtype}"))),
            }
        }
        let mut data_kinds = Vec::with_capacity(data.len());
        for (t, (shape, _)) in data.iter().zip(&program.data) {
            if &t.size() != shape {
                return Ok(Built::Eager("a data tensor the model does not read whole".into()));
            }
            data_kinds.push((shape.clone(), t.kind()));
        }
        let input_len = program.input_len;
        let noise_len = program.noise_len();
        let data_len = program.data_len();
        // Many float32 params (a network's weights, whose param-sized arrays are what the step
        // moves through memory) and data a float32 vector holds: a float32 workspace, half the
        // bytes. Few params: double precision, which the loops over data rows run faster (no
        // conversion in their gathers and scatters).
        let single = kind == Kind::Float && input_len >= SINGLE_MIN_PARAMS && data.iter().all(|t| t.kind() != Kind::Double);
        let precision = if single { Precision::F32 } else { Precision::F64 };
        let kernel = match Kernel::with_precision(program.clone(), precision) {
            Ok(k) => k,
            Err(e) => return Ok(Built::Eager(e.to_string())),
        };
        let mut offsets = Vec::with_capacity(params.len());
        let mut at = 0;
        for (_, p) in params {
            offsets.push(at);
            at += p.numel();
        }
        if at != input_len {
            return Ok(Built::Eager(format!("the capture has {input_len} param values, the params {at}")));
        }
        let params = params.iter().map(|(n, p)| (n.clone(), p.shallow_clone())).collect();
        let mut step = CompiledStep {
            kernel,
            params,
            offsets,
            noise,
            data: data_kinds,
            data_len,
            checked_other_args: false,
            served: 0,
            vectors: if single { Buffers::F32(Vectors::new(input_len, noise_len)) } else { Buffers::F64(Vectors::new(input_len, noise_len)) },
            args,
            externals,
            float32,
            program,
            kind,
        };
        if !step.set_data(data)? {
            return Ok(Built::Eager("the data tensors' shapes".into()));
        }
        if let Err(why) = step.check(loss, model, guide)? {
            return Ok(Built::Eager(why));
        }
        // Compiled where it is faster: a network's step, whose time is its matrix products, can
        // run slower as single-threaded loops around them than eagerly on libtorch's threads.
        let (compiled, eager) = step.timings(loss, model, guide)?;
        if compiled > SLOWER * eager {
            return Ok(Built::Eager(format!("the compiled step is slower here ({:.2} ms against {:.2} ms eagerly)", compiled * 1e3, eager * 1e3)));
        }
        Ok(Built::Compiled(Box::new(step)))
    }

    /// Seconds of one compiled and one eager evaluation of the loss and its gradient (the faster
    /// of two of each); libtorch's generator is put back afterwards.
    fn timings(&mut self, loss: &dyn Elbo, model: &dyn Fn() -> Result<()>, guide: &dyn Fn() -> Result<()>) -> Result<(f64, f64)> {
        with_rng_restored(|| -> Result<(f64, f64)> {
            let (mut compiled, mut eager) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..2 {
                let start = Instant::now();
                let _ = self.loss_and_grad()?;
                compiled = compiled.min(start.elapsed().as_secs_f64());
                let start = Instant::now();
                let lp = pyrite_distributions::without_validation(|| loss.loss_and_params(model, guide))?;
                let leaves: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
                Tensor::f_run_backward(&[&lp.surrogate], &leaves, false, false)?;
                eager = eager.min(start.elapsed().as_secs_f64());
            }
            Ok((compiled, eager))
        })?
    }

    /// Whether the step still stands for a step on `args`: the arguments it was captured with
    /// (any arguments when their changing tensors are data inputs), and every tensor it holds
    /// as a constant unchanged (the same tensor, storage, version counter, sizes and strides).
    pub(crate) fn is_current(&self, args: usize) -> bool {
        (self.has_data() || self.args == args) && self.externals.unchanged()
    }

    /// Captures the step again on the current arguments after [`is_current`](Self::is_current)
    /// found a tensor it holds as a constant changed: true if the capture computes exactly what
    /// the kernel computes (the same operations, shapes and constant values: new tensors with
    /// the old values), and the step now watches the new tensors; false if it differs (the step
    /// must be built anew).
    ///
    /// # Errors
    ///
    /// The model's errors.
    pub(crate) fn refresh(
        &mut self,
        loss: &dyn Elbo,
        model: &dyn Fn() -> Result<()>,
        guide: &dyn Fn() -> Result<()>,
        data: &[Tensor],
        args: usize,
    ) -> Result<bool> {
        match capture(loss, model, guide, &self.params, data)? {
            Ok(captured) if captured.program == self.program => {
                self.externals = captured.externals;
                self.args = args;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether the kernel came from the cache (no C compiler run).
    pub(crate) fn kernel_cached(&self) -> bool {
        self.kernel.cached
    }

    /// The params the step updates, in its order.
    pub(crate) fn params(&self) -> Vec<(String, Tensor)> {
        self.params.iter().map(|(n, p)| (n.clone(), p.shallow_clone())).collect()
    }

    /// Whether the step has data inputs.
    pub(crate) fn has_data(&self) -> bool {
        !self.data.is_empty()
    }

    /// Whether `data` have the shapes and dtypes the step was captured with.
    pub(crate) fn takes_data_shapes(&self, data: &[Tensor]) -> bool {
        data.len() == self.data.len() && data.iter().zip(&self.data).all(|(t, (shape, kind))| &t.size() == shape && t.kind() == *kind)
    }

    /// Reads the data tensors for the next step: false (nothing read) if their shapes or dtypes
    /// are not those the step was captured with.
    pub(crate) fn set_data(&mut self, data: &[Tensor]) -> Result<bool> {
        if !self.takes_data_shapes(data) {
            return Ok(false);
        }
        with_vectors!(&mut self.vectors, v => {
            let mut at = 0;
            for t in data {
                let n = t.numel();
                if !read_data(t, &mut v.noise[at..at + n])? {
                    return Ok(false);
                }
                at += n;
            }
        });
        Ok(true)
    }

    /// Whether the step must be checked against the eager one before it serves the next step:
    /// the first step after the one it was captured at (whose arguments may be others, at the
    /// same address: a minibatch made anew in a loop).
    pub(crate) fn needs_check(&self) -> bool {
        !self.checked_other_args && self.served == 1
    }

    /// Checks the step against the eager one on the arguments of the step after its capture
    /// (see [`needs_check`](Self::needs_check)), after [`set_data`](Self::set_data) read their
    /// data. `Ok(false)` if they disagree: a tensor of the arguments changed that the step holds
    /// as a constant.
    ///
    /// # Errors
    ///
    /// The model's errors.
    pub(crate) fn check_other_args(&mut self, loss: &dyn Elbo, model: &dyn Fn() -> Result<()>, guide: &dyn Fn() -> Result<()>) -> Result<bool> {
        self.checked_other_args = true;
        match self.check(loss, model, guide) {
            Err(PyriteError::Model(_)) | Ok(Err(_)) => Ok(false),
            other => other.map(|_| true),
        }
    }

    /// Reads the params and draws the noise (from libtorch's generator, as the eager step).
    fn prepare(&mut self) {
        // The process-wide generator, held as sample statements hold it (other threads' draws
        // wait), so that a seeded compiled run draws what the eager one draws.
        let _rng = pyrite_core::runtime::rng_guard();
        let (params, offsets, noise, data_len) = (&self.params, &self.offsets, &self.noise, self.data_len);
        with_vectors!(&mut self.vectors, v => {
            for ((_, p), &at) in params.iter().zip(offsets) {
                read_values(p, &mut v.z[at..at + p.numel()]);
            }
            let mut at = data_len;
            for (shape, kind) in noise {
                let draw = Tensor::randn(shape.as_slice(), (*kind, Device::Cpu));
                let n = draw.numel();
                read_values(&draw, &mut v.noise[at..at + n]);
                at += n;
            }
        });
    }

    /// The loss, with the flat gradient (every param's, one after the other) in the vectors.
    fn loss(&mut self) -> Result<f64> {
        self.prepare();
        let kernel = &mut self.kernel;
        let loss = with_vectors!(&mut self.vectors, v => kernel.value_and_grad(&v.z, &v.noise, &mut v.grad));
        if !loss.is_finite() {
            return Err(PyriteError::NonFinite { site: "<loss>".into(), what: format!("the loss ({loss})") });
        }
        Ok(loss)
    }

    /// The loss and the flat gradient as a tensor of the params' dtype.
    fn loss_and_grad(&mut self) -> Result<(f64, Tensor)> {
        let loss = self.loss()?;
        Ok((loss, self.grad_tensor()?))
    }

    /// The flat gradient of the last call as a tensor of the params' dtype.
    fn grad_tensor(&self) -> Result<Tensor> {
        Ok(match (&self.vectors, self.kind) {
            (Buffers::F32(v), _) => Tensor::f_from_slice(&v.grad)?,
            (Buffers::F64(v), Kind::Double) => Tensor::f_from_slice(&v.grad)?,
            (Buffers::F64(v), _) => {
                // Rounded to float32 in one pass, into a new tensor (the optimizer keeps it).
                let flat = Tensor::f_empty([v.grad.len() as i64], (Kind::Float, Device::Cpu))?;
                // SAFETY: a new contiguous float32 CPU tensor of `grad.len()` elements.
                let out = unsafe { std::slice::from_raw_parts_mut(flat.data_ptr() as *mut f32, v.grad.len()) };
                for (o, &g) in out.iter_mut().zip(&v.grad) {
                    *o = g as f32;
                }
                flat
            }
        })
    }

    /// One step: the loss, and the optimizer's update of the params.
    ///
    /// # Errors
    ///
    /// [`PyriteError::NonFinite`] for a non-finite loss or gradient (the params are left as
    /// they were).
    pub(crate) fn step(&mut self, optim: &mut Optimizer) -> Result<f64> {
        self.served += 1;
        let loss = self.loss()?;
        // Adam natively on the params' flat buffer, or through libtorch.
        let params = &self.params;
        if !with_vectors!(&self.vectors, v => optim.step_with_flat_values(params, &v.grad))? {
            optim.step_with_flat_grad(&self.params, self.grad_tensor()?)?;
        }
        Ok(loss)
    }

    /// Compares one compiled step with the eager one under the same seed: the loss, and every
    /// gradient (to [`tolerance`]). libtorch's generator is put back as it was, so the run draws
    /// what it would have drawn without the check. `Ok(Err(why))` for a step the kernel cannot
    /// stand for (score-function terms) or one that disagrees (a compiler bug, to report).
    fn check(&mut self, loss: &dyn Elbo, model: &dyn Fn() -> Result<()>, guide: &dyn Fn() -> Result<()>) -> Result<std::result::Result<(), String>> {
        const SEED: u64 = 0x5eed_c0de;
        let (eager, compiled) = with_rng_restored(|| {
            let eager = pyrite_distributions::without_validation(|| {
                seed(SEED, || -> Result<(f64, f64, Vec<Tensor>)> {
                    let lp = loss.loss_and_params(model, guide)?;
                    let leaves: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
                    let grads = Tensor::f_run_backward(&[&lp.surrogate], &leaves, false, false)?;
                    Ok((lp.loss, lp.surrogate.double_value(&[]), grads))
                })
            });
            (eager, seed(SEED, || self.loss_and_grad()))
        })?;
        let ((loss_eager, surrogate_eager, g_eager), (loss_compiled, g_compiled)) = (eager?, compiled?);
        let g_compiled = Vec::<f64>::try_from(g_compiled.to_kind(Kind::Double))?;
        let tol = tolerance(!self.float32 && self.params.iter().all(|(_, p)| p.kind() == Kind::Double));
        // A compiler bug, to report; the run goes on eagerly.
        let disagree = |what: String| Ok(Err(format!("the compiled SVI step disagrees with the eager one ({what}): please report this model")));
        if !close(loss_eager, surrogate_eager, 0.0, tol) {
            // Score-function terms make the surrogate's value differ from the loss: the kernel
            // computes the surrogate only.
            return Ok(Err("score-function terms (a guide site without reparameterised draws)".into()));
        }
        if !close(loss_eager, loss_compiled, 0.0, tol) {
            return disagree(format!("loss: eager {loss_eager}, compiled {loss_compiled}"));
        }
        for (((name, p), ge), &at) in self.params.iter().zip(&g_eager).zip(&self.offsets) {
            let b = &g_compiled[at..at + p.numel()];
            let a = if ge.defined() { Vec::<f64>::try_from(ge.to_kind(Kind::Double).reshape([-1]))? } else { vec![0.0; p.numel()] };
            if let Some(i) = first_disagreement(&a, b, tol) {
                return disagree(format!("gradient of `{name}`[{i}]: eager {}, compiled {}", a[i], b[i]));
            }
        }
        Ok(Ok(()))
    }
}
