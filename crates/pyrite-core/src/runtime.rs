//! The handler stack: a thread-local list of messengers that every primitive's message passes
//! through, innermost handler first (see `docs/architecture.md`).

use std::any::Any;
use std::cell::RefCell;

use pyrite_distributions::shape::broadcast_shapes;

use crate::error::{PyriteError, Result};
use crate::message::{Message, SiteKind};
use crate::param_store;

/// A handler: it sees every message on its way in (`process_message`, innermost handler first)
/// and on its way out (`postprocess_message`). Any `'static` type can be one: implement either
/// method, or neither, and [`with_handler`] gives the handler back when its closure returns.
pub trait Messenger: Any {
    /// Called before the default behaviour; may set the value, change the scale, stop the message.
    fn process_message(&mut self, _msg: &mut Message) -> Result<()> {
        Ok(())
    }
    /// Called after the value is known.
    fn postprocess_message(&mut self, _msg: &mut Message) -> Result<()> {
        Ok(())
    }
}

thread_local! {
    static STACK: RefCell<Vec<Box<dyn Messenger>>> = const { RefCell::new(Vec::new()) };
}

/// Number of handlers active on this thread.
pub fn stack_depth() -> usize {
    STACK.with(|s| s.borrow().len())
}

/// Restores the stack to its length at creation, even when unwinding from a panic.
struct StackGuard {
    depth: usize,
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        STACK.with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.truncate(self.depth);
            }
        });
    }
}

/// Runs `f` with `handler` pushed on this thread's stack and returns `f`'s result together with
/// the handler (so that e.g. a trace handler can hand back its trace). The stack is restored
/// whatever happens inside `f`, a panic included.
pub fn with_handler<H: Messenger, R>(handler: H, f: impl FnOnce() -> R) -> (R, H) {
    let depth = stack_depth();
    STACK.with(|s| s.borrow_mut().push(Box::new(handler)));
    let guard = StackGuard { depth };
    let out = f();
    // Cannot fail: every push is paired with a pop on the way out (`StackGuard` on unwinding),
    // and `apply_stack` puts back the stack it borrows, so `handler` is on top again here.
    let h = STACK.with(|s| s.borrow_mut().pop()).expect("handler stack underflow");
    drop(guard);
    // Cannot fail: the top of the stack is the handler pushed above (see the pop). As
    // `Messenger: Any`, the box upcasts to `Box<dyn Any>` (trait upcasting, Rust 1.86), which
    // gives the handler back as its own type.
    let h: Box<dyn Any> = h;
    let h = *h.downcast::<H>().expect("handler stack out of order");
    (out, h)
}

/// libtorch has one random generator for the whole process, shared by every thread. A thread
/// holds this lock while it draws through the stack, and for the whole of a `seed` section, so
/// that a seeded run draws the same numbers whatever other threads sample meanwhile.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// How many `RngGuard`s this thread holds, and the lock while it holds any.
    static RNG_HELD: RefCell<(usize, Option<std::sync::MutexGuard<'static, ()>>)> = const { RefCell::new((0, None)) };
}

/// Exclusive use of libtorch's random generator, for this thread, until dropped. Re-entrant: a
/// thread may take it again while it holds it. Primitives take it to draw; `seed` holds it for
/// its whole closure. Code that draws with libtorch directly (`Tensor::randn`, a module's
/// initialiser) can take it to stay out of other threads' seeded runs. Do not wait, while
/// holding it, for another thread that samples.
pub struct RngGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Takes this thread's [`RngGuard`] (see there).
pub fn rng_guard() -> RngGuard {
    RNG_HELD.with(|h| {
        let mut h = h.borrow_mut();
        if h.0 == 0 {
            h.1 = Some(RNG.lock().unwrap_or_else(|p| p.into_inner()));
        }
        h.0 += 1;
    });
    RngGuard { _not_send: std::marker::PhantomData }
}

impl Drop for RngGuard {
    fn drop(&mut self) {
        let _ = RNG_HELD.try_with(|h| {
            let mut h = h.borrow_mut();
            h.0 -= 1;
            if h.0 == 0 {
                h.1 = None;
            }
        });
    }
}

/// Puts the stack back after `apply_stack` took it out, even on error.
struct Restore(Option<Vec<Box<dyn Messenger>>>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(stack) = self.0.take() {
            STACK.with(|s| *s.borrow_mut() = stack);
        }
    }
}

/// Sends a message through the stack: `process_message` from the innermost handler outwards
/// (until one sets `stop`), then the default behaviour, then `postprocess_message` on the
/// handlers that saw it, outermost first, as Pyro's `apply_stack`.
pub fn apply_stack(msg: &mut Message) -> Result<()> {
    let stack = STACK.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let mut restore = Restore(Some(stack));
    // Cannot fail: `restore` was built with `Some` on the line above.
    let stack = restore.0.as_mut().unwrap();
    let n = stack.len();
    let mut applied = 0;
    for frame in stack.iter_mut().rev() {
        applied += 1;
        frame.process_message(msg)?;
        if msg.stop {
            break;
        }
    }
    default_process(msg)?;
    for frame in stack[n - applied..].iter_mut() {
        frame.postprocess_message(msg)?;
    }
    drop(restore);
    // An intervened site: its original, sampled as usual, goes through the whole stack too.
    if let Some(mut original) = msg.split.take() {
        apply_stack(&mut original)?;
    }
    Ok(())
}

/// Expands a sample site's distribution so that each plate's dimension has the plate's size,
/// checking that the distribution's own batch shape agrees with the plates.
pub(crate) fn broadcast_to_plates(msg: &mut Message) -> Result<()> {
    if msg.kind != SiteKind::Sample || msg.plates.is_empty() {
        return Ok(());
    }
    let dist = msg.require_dist()?;
    let batch = dist.batch_shape();
    let needed = msg.plates.iter().map(|f| (-f.dim) as usize).max().unwrap_or(0);
    let rank = batch.len().max(needed);
    let mut target = vec![1i64; rank];
    target[rank - batch.len()..].copy_from_slice(batch);
    for f in &msg.plates {
        let i = rank - (-f.dim) as usize;
        if target[i] != 1 && target[i] != f.subsample_size {
            return Err(PyriteError::Shape {
                site: msg.name.clone(),
                detail: format!("batch shape {batch:?} does not match plate `{}` of size {} at dim {}", f.name, f.subsample_size, f.dim),
            });
        }
        target[i] = f.subsample_size;
    }
    if target.as_slice() != batch {
        let expanded = dist.expand(&target).map_err(|e| PyriteError::at_site(&msg.name, e))?;
        msg.dist = Some(expanded);
    }
    Ok(())
}

fn default_process(msg: &mut Message) -> Result<()> {
    if msg.value.is_some() {
        return check_observation(msg);
    }
    match msg.kind {
        SiteKind::Sample => {
            let dist = msg.require_dist()?;
            let _rng = rng_guard();
            let v = if dist.has_rsample() { dist.rsample(&[]) } else { dist.sample(&[]) };
            msg.value = Some(v.map_err(|e| PyriteError::at_site(&msg.name, e))?);
        }
        SiteKind::Param => param_store::resolve_param(msg)?,
        SiteKind::Subsample => {
            let (size, subsample_size) =
                msg.subsample.ok_or_else(|| PyriteError::Model(format!("plate `{}`: a handler removed the subsample sizes", msg.name)))?;
            let _rng = rng_guard();
            let opts = (tch::Kind::Int64, pyrite_distributions::default_device());
            let idx = if subsample_size >= size { tch::Tensor::arange(size, opts) } else { tch::Tensor::randperm(size, opts).narrow(0, 0, subsample_size) };
            msg.value = Some(idx);
        }
    }
    Ok(())
}

/// An observed (or handler-supplied) value must fit its distribution's shape.
fn check_observation(msg: &Message) -> Result<()> {
    if msg.kind != SiteKind::Sample {
        return Ok(());
    }
    let (Some(dist), Some(value)) = (msg.dist.as_ref(), msg.value.as_ref()) else { return Ok(()) };
    let vshape = value.size();
    let dshape = dist.shape(&[]);
    let fits = match broadcast_shapes(&[&vshape, &dshape]) {
        None => false,
        // Data may not add batch dims that neither the distribution nor a plate declares.
        Some(b) => !msg.is_observed || b.len() <= dshape.len() || msg.infer.enumerate_dim.is_some(),
    };
    if !fits {
        return Err(PyriteError::Shape {
            site: msg.name.clone(),
            detail: format!(
                "value of shape {vshape:?} does not match the distribution's shape {dshape:?} \
                 (batch {:?}, event {:?}); wrap the statement in a plate or reshape the data",
                dist.batch_shape(),
                dist.event_shape()
            ),
        });
    }
    if msg.is_observed && value.is_floating_point() && pyrite_distributions::validation_enabled() {
        let finite = crate::host_reads::checking(|| bool::try_from(value.isfinite().all()).unwrap_or(false));
        if !finite {
            return Err(PyriteError::NonFinite { site: msg.name.clone(), what: "observed data".into() });
        }
    }
    Ok(())
}

/// Runs `f`, turning a panic inside it (for example libtorch refusing the shapes of an
/// arithmetic operation written in a model) into `PyriteError::Model` with the panic's message.
/// The handler stack is restored either way.
pub fn catch_panics<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload.downcast_ref::<String>().map(|s| s.as_str()).or_else(|| payload.downcast_ref::<&str>().copied()).unwrap_or("unknown panic");
            let first = msg.lines().next().unwrap_or(msg);
            // libtorch's errors carry a C++ backtrace, escaped into one line by `unwrap`'s Debug
            let first = first.split("\\nException raised from").next().unwrap_or(first);
            Err(PyriteError::Model(format!("panic inside the model or guide: {first}")))
        }
    }
}
