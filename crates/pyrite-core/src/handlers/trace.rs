//! `trace`: records every site.

use crate::error::Result;
use crate::message::Message;
use crate::runtime::{with_handler, Messenger};
use crate::trace::Trace;

struct TraceMessenger {
    trace: Trace,
}

impl Messenger for TraceMessenger {
    fn postprocess_message(&mut self, msg: &mut Message) -> Result<()> {
        self.trace.add(msg)
    }
}

/// Runs `f` and records its sites: returns `f`'s result and the trace.
///
/// ```
/// use pyrite_core::prelude::*;
/// use pyrite_distributions::prelude::*;
/// let (_, tr) = trace(|| sample("x", Normal::new(0.0, 1.0)?));
/// assert!(tr.contains("x"));
/// ```
pub fn trace<R>(f: impl FnOnce() -> R) -> (R, Trace) {
    let (out, h) = with_handler(TraceMessenger { trace: Trace::default() }, f);
    (out, h.trace)
}

/// Runs a model and returns its trace, or the model's error (`poutine.trace(model).get_trace()`).
pub fn get_trace<R>(f: impl FnOnce() -> Result<R>) -> Result<Trace> {
    let (out, tr) = trace(f);
    out?;
    Ok(tr)
}
