//! `Svi`: stochastic variational inference.

use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use pyrite_core::param_store::{get_param_store, json_file_error, lock, write_document};
use pyrite_core::prelude::*;
use serde_json::json;

use crate::compiled_step::{Built, CompiledStep};

/// How many times a compiled step is captured again for changed arguments before the run goes
/// on eagerly: arguments that change at every step (minibatches not named with
/// [`Svi::compiled_data`]) would cost a capture a step.
const MAX_RECAPTURES: usize = 8;
use crate::elbo::{Elbo, LossAndParams};
use crate::optim::Optimizer;

/// A model or guide of arguments `A`, boxed (returning `R`).
pub type BoxedModel<'a, A, R = ()> = Box<dyn Fn(&A) -> Result<R> + 'a>;

/// How an [`Svi`] holds its model and guide: any closure (the default; see [`Svi::new`]).
pub type ModelFn<'a, A> = dyn Fn(&A) -> Result<()> + 'a;

/// How a [`SendSvi`] holds its model and guide: closures that may move to another thread.
pub type SendModelFn<'a, A> = dyn Fn(&A) -> Result<()> + Send + 'a;

/// An [`Svi`] that can move to another thread (built by [`Svi::new_send`]).
pub type SendSvi<'a, A> = Svi<'a, A, SendModelFn<'a, A>>;

/// What a step does when its loss or a gradient is not finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnNonFinite {
    /// The step fails with [`PyriteError::NonFinite`] (the default); the params are left as
    /// they were.
    #[default]
    Fail,
    /// The step is skipped: the params are left as they were, the step returns NaN, and
    /// [`Svi::skipped_steps`] counts it (NumPyro's `stable_update`).
    Skip,
}

/// SVI over a model and a guide that take the same arguments, as `pyro.infer.SVI`.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::Tensor;
/// let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
/// let model = |x: &Tensor| -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
///     plate("data", 3, |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
///     Ok(())
/// };
/// let guide = AutoNormal::new(&model, &data)?;
/// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.05), TraceElbo::new());
/// let losses = svi.run(200, &data)?;
/// assert!(losses[199] < losses[0]);
/// # Ok::<(), PyriteError>(())
/// ```
///
/// `Svi` owns what it is given: with references (as above) it borrows the model and guide; given
/// them by value (closures, autoguides, or an `Rc` of an autoguide) it is an `Svi<'static, _>`
/// that can live in a struct or be returned from a function, and [`Svi::new_send`] builds one
/// that can move to another thread:
///
/// ```
/// use std::rc::Rc;
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// use pyrite_infer::prelude::*;
/// use tch::Tensor;
/// fn model(x: &Tensor) -> Result<()> {
///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
///     plate("data", x.size()[0], |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
///     Ok(())
/// }
/// fn fitter(data: &Tensor) -> Result<(Svi<'static, Tensor>, Rc<AutoNormal>)> {
///     let guide = Rc::new(AutoNormal::new(&model, data)?);
///     Ok((Svi::new(model, guide.clone(), Optimizer::adam(0.05), TraceElbo::new()), guide))
/// }
/// let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
/// let (mut svi, guide) = fitter(&data)?;
/// svi.progress = false;
/// svi.run(100, &data)?;
/// assert!(guide.median()?["mu"].double_value(&[]) > 0.5);
///
/// // On another thread: model and guide by value.
/// let guide = AutoNormal::new(&model, &data)?;
/// let mut svi = Svi::new_send(model, guide, Optimizer::adam(0.05), TraceElbo::new());
/// svi.progress = false;
/// let losses = std::thread::spawn(move || svi.run(10, &data)).join().unwrap()?;
/// assert_eq!(losses.len(), 10);
/// # Ok::<(), PyriteError>(())
/// ```
pub struct Svi<'a, A: ?Sized, F: ?Sized = ModelFn<'a, A>> {
    model: Box<F>,
    guide: Box<F>,
    /// The optimizer that updates the params.
    pub optim: Optimizer,
    loss: Box<dyn Elbo + Send + 'a>,
    /// Show a progress bar in `run` (on a terminal).
    pub progress: bool,
    /// Validate distribution arguments and values on every step. By default only the first
    /// successful step is validated (shapes, supports, NaN in data); later steps rely on the
    /// loss and gradient finiteness checks, which saves many tensor operations per step.
    pub validate_every_step: bool,
    /// What a step does when its loss or a gradient is not finite: fail (the default) or skip.
    pub on_non_finite: OnNonFinite,
    /// Run the steps as native code compiled from the model and guide (`pyrite-compile`; on by
    /// default, off with `PYRITE_COMPILE=0` or by setting this to false before the second
    /// step): after the first (eager) step, the loss and its gradient are captured with
    /// libtorch's tracer (twice: at the params and with them moved, differing captures staying
    /// eager), compiled and checked against an eager step with the same noise (one that
    /// disagrees, a compiler bug, is not used: the steps run eagerly with a note asking to
    /// report it). A model that reads a value computed from its params or draws on the host
    /// (`double_value`, `Vec::try_from`...) is not captured: its result may depend on the read.
    /// Tensors the model reads from its arguments are constants of the compiled step, watched
    /// at every step (the same tensor, storage, version counter and shape): a change, or another
    /// arguments value, captures the step again (its kernel comes from the cache); arguments
    /// that change at every step run eagerly after a few captures unless the tensors that change
    /// are named with [`compiled_data`](Self::compiled_data) (minibatches: inputs of the kernel).
    /// The step after the capture is checked against the eager one too. A step the compiler
    /// cannot take (an operation it does not know, score-function terms, a data-parallel sync,
    /// no C compiler) runs eagerly with a one-line note.
    pub compiled: bool,
    compiled_data: Option<DataFn<'a, A>>,
    compiled_step: Option<Box<CompiledStep>>,
    compile_tried: bool,
    /// How many times the step was captured again because its arguments changed.
    recaptures: usize,
    /// The last capture's seconds, and whether its kernel came from the cache.
    compile_time: Option<(f64, bool)>,
    /// The params of the last eager step, in the ELBO's order.
    last_params: Vec<(String, tch::Tensor)>,
    skipped: usize,
    validated: bool,
    sync: Option<Box<dyn StepSync + Send + 'a>>,
    args: PhantomData<fn(&A)>,
}

/// The tensors of a model's arguments that change from step to step (see
/// [`Svi::compiled_data`]).
type DataFn<'a, A> = Box<dyn Fn(&A) -> Vec<tch::Tensor> + Send + 'a>;

/// One process's part of a step of data-parallel SVI, handed to a [`StepSync`] before the
/// update.
pub struct LocalStep<'s> {
    /// The loss on this process's data, or why the step failed here (an error of the model,
    /// the guide or the loss, a non-finite loss, a panic).
    pub outcome: std::result::Result<f64, &'s PyriteError>,
    /// The step's params, `(name, unconstrained leaf)` in trace order (empty if it failed).
    pub params: &'s [(String, tch::Tensor)],
    /// Their gradients, in the same order (undefined where a param took none).
    pub grads: &'s [tch::Tensor],
    /// Whether this step created params.
    pub created_params: bool,
}

/// What a [`StepSync`] decided about a step.
pub enum SyncedStep {
    /// Update the params with these gradients (one per param of the [`LocalStep`]) and report
    /// this loss.
    Update {
        /// The loss to report.
        loss: f64,
        /// The gradients to update with.
        grads: Vec<tch::Tensor>,
    },
    /// The params' values were replaced (new params taken from another process): compute the
    /// step again.
    Recompute,
}

/// A hook that keeps the steps of several processes in lockstep, for data-parallel SVI (see the
/// `pyrite-distributed` crate): it sees every attempt at a step, failed ones included, with the
/// loss and gradients before the update, and decides what to update with.
pub trait StepSync {
    /// Called once per attempt at a step, on every process.
    ///
    /// # Errors
    ///
    /// Any error fails the step (the params are left as they were).
    fn sync(&mut self, local: LocalStep<'_>) -> Result<SyncedStep>;
}

/// How many times a step is computed again after a [`SyncedStep::Recompute`] before it fails.
const MAX_RECOMPUTES: usize = 2;

/// Something usable as a guide: a closure, or an autoguide.
pub trait Guide<A: ?Sized> {
    /// Runs the guide on the arguments.
    fn call(&self, args: &A) -> Result<()>;
}

impl<A: ?Sized, F: Fn(&A) -> Result<()> + ?Sized> Guide<A> for F {
    fn call(&self, args: &A) -> Result<()> {
        self(args)
    }
}

impl<'a, A: ?Sized> Svi<'a, A> {
    /// SVI with a model, a guide (closure or autoguide), an optimizer and a loss. The first
    /// `Svi` of a process tunes the C allocator to keep freed tensor memory
    /// ([`keep_freed_memory`](pyrite_core::memory::keep_freed_memory)).
    ///
    /// The model and the guide may be closures, functions or `&dyn Fn` trait objects (as for
    /// [`Predictive::new`](crate::predictive::Predictive::new)); the guide may also be an
    /// autoguide. Each is taken by value: pass references to borrow them, or the things
    /// themselves (an autoguide in an `Rc` to keep a handle) for an `Svi` that owns them.
    pub fn new<R, M, G>(model: M, guide: G, optim: Optimizer, loss: impl Elbo + Send + 'a) -> Self
    where
        M: Fn(&A) -> Result<R> + 'a,
        G: Guide<A> + 'a,
    {
        Self::from_parts(Box::new(move |a: &A| model(a).map(|_| ())), Box::new(move |a: &A| guide.call(a)), optim, Box::new(loss))
    }
}

impl<'a, A: ?Sized> SendSvi<'a, A> {
    /// As [`Svi::new`], for a model and guide that can move to another thread (closures and
    /// autoguides by value): the `Svi` can then move too.
    pub fn new_send<R, M, G>(model: M, guide: G, optim: Optimizer, loss: impl Elbo + Send + 'a) -> Self
    where
        M: Fn(&A) -> Result<R> + Send + 'a,
        G: Guide<A> + Send + 'a,
    {
        Self::from_parts(Box::new(move |a: &A| model(a).map(|_| ())), Box::new(move |a: &A| guide.call(a)), optim, Box::new(loss))
    }
}

impl<'a, A: ?Sized, F: Fn(&A) -> Result<()> + ?Sized> Svi<'a, A, F> {
    fn from_parts(model: Box<F>, guide: Box<F>, optim: Optimizer, loss: Box<dyn Elbo + Send + 'a>) -> Self {
        pyrite_core::memory::keep_freed_memory();
        Svi {
            model,
            guide,
            optim,
            loss,
            progress: true,
            validate_every_step: false,
            on_non_finite: OnNonFinite::Fail,
            compiled: pyrite_compile::enabled_by_default(),
            compiled_data: None,
            compiled_step: None,
            compile_tried: false,
            recaptures: 0,
            compile_time: None,
            last_params: Vec::new(),
            skipped: 0,
            validated: false,
            sync: None,
            args: PhantomData,
        }
    }

    /// Steps in lockstep with other processes through `sync` (data-parallel SVI): each step's
    /// loss and gradients go through [`StepSync::sync`] before the update.
    pub fn set_sync(&mut self, sync: Box<dyn StepSync + Send + 'a>) {
        self.sync = Some(sync);
    }

    /// Names the tensors of the arguments that change from step to step (a minibatch's images,
    /// labels and row indices) for a [`compiled`](Self::compiled) step: they are inputs of the
    /// compiled code, read at every step, instead of constants captured with it, so that
    /// minibatch SVI runs compiled. A step whose tensors have other shapes or dtypes than at the
    /// capture (a short last batch) runs eagerly; the step after the capture is checked against
    /// the eager step (a disagreement, from a changing tensor not named here, is an error).
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// use pyrite_distributions::prelude::*;
    /// use pyrite_infer::prelude::*;
    /// use tch::{Kind, Tensor};
    /// struct Batch { x: Tensor, size: i64 }
    /// fn model(b: &Batch) -> Result<()> {
    ///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
    ///     plate("data", b.size, |_| observe("obs", Normal::new(&mu, 1.0)?, &b.x))?;
    ///     Ok(())
    /// }
    /// let guide = AutoNormal::new(&model, &Batch { x: Tensor::zeros([4], (Kind::Float, tch::Device::Cpu)), size: 4 })?;
    /// let mut svi = Svi::new(model, guide, Optimizer::adam(0.05), TraceElbo::new());
    /// svi.progress = false;
    /// svi.compiled = true;
    /// svi.compiled_data(|b: &Batch| vec![b.x.shallow_clone()]);
    /// for step in 0..20 {
    ///     let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]) + step as f64 * 0.01;
    ///     svi.step(&Batch { x, size: 4 })?;
    /// }
    /// // (`runs_compiled` is true where a C compiler is installed.)
    /// # Ok::<(), PyriteError>(())
    /// ```
    pub fn compiled_data(&mut self, data: impl Fn(&A) -> Vec<tch::Tensor> + Send + 'a) {
        self.compiled_data = Some(Box::new(data));
    }

    /// Whether the steps now run compiled (see [`compiled`](Self::compiled)): false before the
    /// second step, and when the step could not be compiled.
    pub fn runs_compiled(&self) -> bool {
        self.compiled_step.is_some()
    }

    /// The seconds the last capture of the compiled step took (tracing twice, lowering, the C
    /// compiler or the kernel cache, loading, the check against an eager step), and whether
    /// its kernel came from the cache; `None` before a step was compiled.
    pub fn compile_seconds(&self) -> Option<(f64, bool)> {
        self.compile_time
    }

    /// How many steps were skipped for a non-finite loss or gradient
    /// ([`OnNonFinite::Skip`]).
    pub fn skipped_steps(&self) -> usize {
        self.skipped
    }

    /// One gradient step; returns the loss. On any error (a model error, a non-finite loss or
    /// gradient) the params are left as they were and params created during the step are removed.
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// use pyrite_distributions::prelude::*;
    /// use pyrite_infer::prelude::*;
    /// use tch::Tensor;
    /// let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    /// let model = |x: &Tensor| -> Result<()> {
    ///     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
    ///     plate("data", 3, |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
    ///     Ok(())
    /// };
    /// let guide = |_: &Tensor| -> Result<()> {
    ///     let loc = param("loc", 0.0, Constraint::Real)?;
    ///     let scale = param("scale", 1.0, Constraint::Positive)?;
    ///     sample("mu", Normal::new(&loc, &scale)?)?;
    ///     Ok(())
    /// };
    /// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.1), TraceElbo::new());
    /// for _ in 0..50 {
    ///     let loss = svi.step(&data)?;
    ///     assert!(loss.is_finite());
    /// }
    /// // `loc` moved from 0 towards the posterior mean (about 2).
    /// let loc = get_param_store().lock().unwrap().get("loc")?;
    /// assert!(loc.double_value(&[]) > 1.0);
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The model's or guide's errors; [`PyriteError::MissingGuideSite`] or
    /// [`PyriteError::GuideMismatch`] if the guide does not fit the model;
    /// [`PyriteError::NonFinite`] if the loss or a gradient is not finite (unless
    /// [`on_non_finite`](Self::on_non_finite) is [`OnNonFinite::Skip`]: the step then returns
    /// NaN); [`PyriteError::Model`] for a panic inside the model or guide (libtorch refusing
    /// shapes, for example).
    pub fn step(&mut self, args: &A) -> Result<f64> {
        // Compiled after one eager step has made the params, before the next changes anything.
        if self.compiled && self.validated && !self.compile_tried && self.sync.is_none() {
            self.compile_tried = true;
            self.compile(args)?;
        }
        let store = get_param_store();
        let before = lock(&store).len();
        let quiet = self.validated && !self.validate_every_step;
        let out = if quiet {
            pyrite_distributions::without_validation(|| pyrite_core::runtime::catch_panics(|| self.try_step(args)))
        } else {
            pyrite_core::runtime::catch_panics(|| self.try_step(args))
        };
        if out.is_ok() {
            self.validated = true;
        }
        if out.is_err() {
            let mut s = lock(&store);
            let names = s.names();
            for n in &names[before.min(names.len())..] {
                s.remove(n);
            }
        }
        match out {
            Err(PyriteError::NonFinite { .. }) if self.on_non_finite == OnNonFinite::Skip => {
                self.skipped += 1;
                Ok(f64::NAN)
            }
            out => out,
        }
    }

    /// Captures and compiles the step (see [`compiled`](Self::compiled)), or notes why not.
    fn compile(&mut self, args: &A) -> Result<()> {
        // The store's current leaves (the optimizer may have moved them into its flat buffer).
        let params: Vec<(String, tch::Tensor)> = {
            let store = get_param_store();
            let store = lock(&store);
            self.last_params.iter().filter_map(|(n, _)| store.entry(n).map(|e| (n.clone(), e.unconstrained.shallow_clone()))).collect()
        };
        if params.len() != self.last_params.len() {
            pyrite_compile::note_once("compiled SVI step", "not compiled, running eagerly: a param of the step is no longer in the store");
            return Ok(());
        }
        self.capture(args, &params)
    }

    /// Captures the step over `args` with `params` as its inputs, or notes why it runs eagerly.
    fn capture(&mut self, args: &A, params: &[(String, tch::Tensor)]) -> Result<()> {
        let model = || (self.model)(args);
        let guide = || (self.guide)(args);
        let at = args as *const A as *const () as usize;
        let data = self.compiled_data.as_ref().map(|f| f(args)).unwrap_or_default();
        let start = std::time::Instant::now();
        match CompiledStep::build(&*self.loss, &model, &guide, params, &data, at)? {
            Built::Compiled(step) => {
                self.compile_time = Some((start.elapsed().as_secs_f64(), step.kernel_cached()));
                self.compiled_step = Some(step);
            }
            Built::Eager(why) => pyrite_compile::note_once("compiled SVI step", &format!("not compiled, running eagerly: {why}")),
        }
        Ok(())
    }

    /// The compiled step for `args`, captured again when the arguments changed (another value,
    /// or a tensor it holds as a constant changed) and that has not happened too often.
    fn current_step(&mut self, args: &A) -> Result<()> {
        let at = args as *const A as *const () as usize;
        let Some(step) = self.compiled_step.as_mut() else { return Ok(()) };
        if step.is_current(at) {
            return Ok(());
        }
        // New tensors with the same values (a batch's constants made anew) keep the kernel.
        let (model, guide) = (|| (self.model)(args), || (self.guide)(args));
        let data = self.compiled_data.as_ref().map(|f| f(args)).unwrap_or_default();
        if !step.takes_data_shapes(&data) {
            // A short last batch: this step runs eagerly.
            return Ok(());
        }
        if step.refresh(&*self.loss, &model, &guide, &data, at)? {
            return Ok(());
        }
        let params = step.params();
        self.compiled_step = None;
        self.recaptures += 1;
        if self.recaptures > MAX_RECAPTURES {
            pyrite_compile::note_once(
                "compiled SVI step",
                "the arguments' tensors changed at step after step; running eagerly from here (name the tensors that change from step to step, a minibatch, with `compiled_data`)",
            );
            return Ok(());
        }
        self.capture(args, &params)
    }

    fn try_step(&mut self, args: &A) -> Result<f64> {
        self.current_step(args)?;
        let model = || (self.model)(args);
        let guide = || (self.guide)(args);
        if let Some(step) = self.compiled_step.as_mut() {
            let data = self.compiled_data.as_ref().map(|f| f(args)).unwrap_or_default();
            // Data of other shapes (a short last batch): this step runs eagerly.
            let serves = !step.has_data() || step.set_data(&data)?;
            let agrees = !serves || !step.needs_check() || step.check_other_args(&*self.loss, &model, &guide)?;
            match (serves, agrees) {
                (true, true) => return step.step(&mut self.optim),
                (true, false) if step.has_data() => {
                    return Err(PyriteError::Model(
                        "the compiled SVI step disagrees with the eager one on the step after its capture: is a tensor of the arguments that changes from step to step missing from `compiled_data`? (otherwise please report this model)".into(),
                    ))
                }
                (false, _) => {}
                (true, false) => {
                    // A change the arguments' tensors do not show (a number in the arguments).
                    pyrite_compile::note_once("compiled SVI step", "the arguments changed in a way the compiled step cannot see; running eagerly from here");
                    self.compiled_step = None;
                }
            }
        }
        let Some(sync) = self.sync.as_mut() else {
            let (lp, grads) = local_step(&*self.loss, &model, &guide)?;
            self.optim.step_with_grads(&lp.params, &grads)?;
            if self.compiled {
                self.last_params = lp.params.iter().map(|(n, p)| (n.clone(), p.shallow_clone())).collect();
            }
            return Ok(lp.loss);
        };
        let store = get_param_store();
        for _ in 0..=MAX_RECOMPUTES {
            let before = lock(&store).len();
            // Panics become errors here, so that the other processes hear of them.
            let local = pyrite_core::runtime::catch_panics(|| local_step(&*self.loss, &model, &guide));
            let created_params = lock(&store).len() > before;
            let synced = match &local {
                Ok((lp, grads)) => sync.sync(LocalStep { outcome: Ok(lp.loss), params: &lp.params, grads, created_params }),
                Err(e) => sync.sync(LocalStep { outcome: Err(e), params: &[], grads: &[], created_params }),
            };
            let (lp, _) = local?;
            match synced? {
                SyncedStep::Update { loss, grads } => {
                    self.optim.step_with_grads(&lp.params, &grads)?;
                    return Ok(loss);
                }
                SyncedStep::Recompute => continue,
            }
        }
        Err(PyriteError::Model(format!("the step's params were replaced {} times running; they should settle after one", MAX_RECOMPUTES + 1)))
    }

    /// The loss without updating anything (`svi.evaluate_loss`).
    ///
    /// ```
    /// # use pyrite_core::prelude::*;
    /// # use pyrite_distributions::prelude::*;
    /// # use pyrite_infer::prelude::*;
    /// # use tch::Tensor;
    /// # let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    /// # let model = |x: &Tensor| -> Result<()> {
    /// #     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
    /// #     plate("data", 3, |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
    /// #     Ok(())
    /// # };
    /// # let guide = |_: &Tensor| -> Result<()> {
    /// #     let loc = param("loc", 0.0, Constraint::Real)?;
    /// #     let scale = param("scale", 1.0, Constraint::Positive)?;
    /// #     sample("mu", Normal::new(&loc, &scale)?)?;
    /// #     Ok(())
    /// # };
    /// let svi = Svi::new(&model, &guide, Optimizer::adam(0.1), TraceElbo::new());
    /// // The same guide draw gives the same loss: nothing was updated in between.
    /// let a = seed(0, || svi.evaluate_loss(&data))?;
    /// let b = seed(0, || svi.evaluate_loss(&data))?;
    /// assert_eq!(a, b);
    /// assert_eq!(svi.optim.steps(), 0);
    /// # Ok::<(), PyriteError>(())
    /// ```
    pub fn evaluate_loss(&self, args: &A) -> Result<f64> {
        let model = || (self.model)(args);
        let guide = || (self.guide)(args);
        let lp = tch::no_grad(|| self.loss.loss_and_params(&model, &guide))?;
        Ok(lp.loss)
    }

    /// `steps` steps with a progress bar showing the smoothed loss; returns the loss history
    /// (`run_with` without a callback).
    ///
    /// # Errors
    ///
    /// The first failed step's error (see [`step`](Self::step)).
    pub fn run(&mut self, steps: usize, args: &A) -> Result<Vec<f64>> {
        self.run_with(steps, args, |_, _| ControlFlow::Continue(()))
    }

    /// Up to `steps` steps; after each, `callback(step, loss)` (steps counted from 0) may stop the
    /// run early with `ControlFlow::Break(())`. Returns the losses of the steps taken. The
    /// progress bar (when [`progress`](Self::progress) is on and stderr is a terminal) shows an
    /// exponential moving average of the finite losses.
    ///
    /// ```
    /// # use pyrite_core::prelude::*;
    /// # use pyrite_distributions::prelude::*;
    /// # use pyrite_infer::prelude::*;
    /// # use tch::Tensor;
    /// use std::ops::ControlFlow;
    /// # let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    /// # let model = |x: &Tensor| -> Result<()> {
    /// #     let mu = sample("mu", Normal::new(0.0, 10.0)?)?;
    /// #     plate("data", 3, |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
    /// #     Ok(())
    /// # };
    /// let guide = AutoDelta::new(&model, &data)?;
    /// let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.1), TraceElbo::new());
    /// // Stop once the loss changes by less than 1e-4.
    /// let mut last = f64::INFINITY;
    /// let losses = svi.run_with(10_000, &data, |_, loss| {
    ///     let done = (last - loss).abs() < 1e-4;
    ///     last = loss;
    ///     if done { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    /// })?;
    /// assert!(losses.len() < 10_000);
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first failed step's error (see [`step`](Self::step)); the callback is not called for it.
    pub fn run_with(&mut self, steps: usize, args: &A, mut callback: impl FnMut(usize, f64) -> ControlFlow<()>) -> Result<Vec<f64>> {
        let bar = if self.progress { ProgressBar::new(steps as u64) } else { ProgressBar::hidden() };
        bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} loss {msg} [{elapsed}<{eta}]").unwrap_or_else(|_| ProgressStyle::default_bar()));
        let mut losses = Vec::with_capacity(steps);
        let mut smoothed = SmoothedLoss::default();
        let every = (steps / 100).max(1);
        for i in 0..steps {
            let l = self.step(args)?;
            losses.push(l);
            smoothed.add(l);
            if !bar.is_hidden() && (i % every == 0 || i + 1 == steps) {
                bar.set_message(smoothed.describe(self.skipped));
            }
            bar.inc(1);
            if callback(i, l).is_break() {
                break;
            }
        }
        bar.finish_and_clear();
        Ok(losses)
    }

    /// Saves the current param store and the optimizer state in one file (atomically), so that
    /// training resumes exactly after `load`: safetensors (the params and the optimizer's moments
    /// as tensors, constraints and optimizer settings as metadata), or JSON for a path ending in
    /// `.json`. The optimizer's moments of params no longer in the store (or of another shape) are
    /// left out: they belong to no param of the file.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Io`] naming the file if it cannot be written.
    pub fn save(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let store = get_param_store();
        let (params, optimizer) = {
            let store = lock(&store);
            (store.to_json(), self.optim.state_json_for(|name| store.entry(name).map(|e| e.unconstrained.size())))
        };
        write_document(path.as_ref(), &json!({ "params": params, "optimizer": optimizer }))
    }

    /// Restores params and optimizer state saved by `save` (safetensors or JSON, recognised by
    /// the content). All or nothing: the whole file is
    /// read and checked first (the params as [`ParamStore::parse_json`] does, the optimizer state
    /// as [`Optimizer::parse_state_json`] does, and that the moments belong to params of the file,
    /// with their shapes), then the params and the optimizer state are replaced.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Io`] naming the file if it cannot be read, is not JSON, or lacks `params`
    /// or `optimizer` or has them malformed; [`PyriteError::Param`] naming the param, the problem
    /// and the file for a malformed param or optimizer state of a param. The params and the
    /// optimizer are left unchanged then.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let v = pyrite_core::safetensors_doc::read(path)?;
        let part = |key: &str| v.get(key).ok_or_else(|| json_file_error(Some(path), "checkpoint", format!("{key} is missing")));
        let params = ParamStore::parse_json(part("params")?, Some(path))?;
        let optim = self.optim.parse_state_json(part("optimizer")?, Some(path))?;
        optim.check_params(&params, Some(path))?;
        lock(&get_param_store()).replace(params);
        self.optim.apply_state(optim);
        Ok(())
    }
}

/// An exponential moving average of the finite losses, for the progress bar.
#[derive(Default)]
struct SmoothedLoss {
    value: Option<f64>,
}

impl SmoothedLoss {
    /// The weight of each new loss.
    const WEIGHT: f64 = 0.05;

    fn add(&mut self, loss: f64) {
        if loss.is_finite() {
            self.value = Some(self.value.map_or(loss, |v| v + Self::WEIGHT * (loss - v)));
        }
    }

    fn describe(&self, skipped: usize) -> String {
        let loss = self.value.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
        if skipped > 0 {
            format!("{loss} ({skipped} skipped)")
        } else {
            loss
        }
    }
}

/// The loss and the gradients of one step on this process.
fn local_step(loss: &dyn Elbo, model: &dyn Fn() -> Result<()>, guide: &dyn Fn() -> Result<()>) -> Result<(LossAndParams, Vec<tch::Tensor>)> {
    let lp = loss.loss_and_params(model, guide)?;
    if !lp.loss.is_finite() {
        return Err(PyriteError::NonFinite { site: "<loss>".into(), what: format!("the loss ({})", lp.loss) });
    }
    let leaves: Vec<&tch::Tensor> = lp.params.iter().map(|(_, p)| p).collect();
    let grads = if leaves.is_empty() { Vec::new() } else { tch::Tensor::run_backward(&[&lp.surrogate], &leaves, false, false) };
    Ok((lp, grads))
}
