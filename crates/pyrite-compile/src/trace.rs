//! Capture: libtorch's tracer records what a closure computes from its input tensors (through
//! the C++ shim `csrc/trace_shim.cpp`), as a [`Graph`].

use std::ffi::{c_char, c_int, c_void, CStr};

use pyrite_core::{PyriteError, Result};
use tch::Tensor;

use crate::ir::Graph;

extern "C" {
    fn pyrite_trace(
        inputs: *const *mut torch_sys::C_tensor,
        n_inputs: c_int,
        f: extern "C" fn(*mut c_void, *mut *mut torch_sys::C_tensor) -> c_int,
        context: *mut c_void,
        json: *mut *mut c_char,
        message: *mut *mut c_char,
    ) -> c_int;
    fn pyrite_trace_free(s: *mut c_char);
    fn pyrite_rng_get_state(out: *mut *mut torch_sys::C_tensor, message: *mut *mut c_char) -> c_int;
    fn pyrite_rng_set_state(state: *const torch_sys::C_tensor, message: *mut *mut c_char) -> c_int;
}

/// Runs `f` and puts libtorch's default CPU generator back in the state it had before, so that
/// what `f` draws (or seeds) does not change the draws that follow.
///
/// # Errors
///
/// [`PyriteError::Model`] if libtorch cannot read or restore the generator's state (its
/// message); `f`'s own result otherwise.
pub fn with_rng_restored<R>(f: impl FnOnce() -> R) -> Result<R> {
    let (mut state, mut message) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: the shim catches every C++ exception; `state` is a new tensor owned below.
    if unsafe { pyrite_rng_get_state(&mut state, &mut message) } != 0 {
        return Err(PyriteError::Model(format!("libtorch's generator state: {}", take_string(message))));
    }
    // SAFETY: a tensor the shim allocated for us.
    let state = unsafe { Tensor::from_ptr(state) };
    let out = f();
    // SAFETY: as above.
    if unsafe { pyrite_rng_set_state(state.as_ptr(), &mut message) } != 0 {
        return Err(PyriteError::Model(format!("libtorch's generator state: {}", take_string(message))));
    }
    Ok(out)
}

/// The closure being traced, its output and its error, shared with the trampoline.
struct Call<'f> {
    f: &'f mut dyn FnMut() -> Result<Tensor>,
    output: Option<Tensor>,
    error: Option<PyriteError>,
}

extern "C" fn trampoline(context: *mut c_void, output: *mut *mut torch_sys::C_tensor) -> c_int {
    // SAFETY: `context` is the `Call` that `trace` passed, alive for the whole call.
    let call = unsafe { &mut *(context as *mut Call<'_>) };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (call.f)()));
    match result {
        Ok(Ok(t)) => {
            let out = call.output.insert(t);
            // SAFETY: the shim reads the tensor before `trace` returns, while `call` holds it.
            unsafe { *output = out.as_mut_ptr() };
            0
        }
        Ok(Err(e)) => {
            call.error = Some(e);
            1
        }
        Err(panic) => {
            let what = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            call.error = Some(PyriteError::Model(format!("panic while tracing: {what}")));
            1
        }
    }
}

/// Takes a malloc'ed C string from the shim.
fn take_string(s: *mut c_char) -> String {
    if s.is_null() {
        return String::new();
    }
    // SAFETY: the shim returns NUL-terminated strings allocated with malloc.
    let text = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
    unsafe { pyrite_trace_free(s) };
    text
}

/// Records the aten operations `f` performs, with `inputs` as the graph's inputs (in order):
/// every other tensor `f` reads becomes a constant of the graph. `f`'s result is the graph's
/// output.
///
/// # Errors
///
/// `f`'s own error; [`PyriteError::Model`] for a panic in `f` or a failure of libtorch's tracer
/// (a trace already being recorded on this thread, for one); [`PyriteError::Io`] if the shim's
/// graph cannot be read (a bug).
pub fn trace(inputs: &[Tensor], mut f: impl FnMut() -> Result<Tensor>) -> Result<Graph> {
    let mut call = Call { f: &mut f, output: None, error: None };
    let ptrs: Vec<*mut torch_sys::C_tensor> = inputs.iter().map(|t| t.as_ptr() as *mut _).collect();
    let (mut json, mut message) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: the pointers are valid for the call; the shim catches every C++ exception.
    let rc = unsafe { pyrite_trace(ptrs.as_ptr(), ptrs.len() as c_int, trampoline, &mut call as *mut Call<'_> as *mut c_void, &mut json, &mut message) };
    let (json, message) = (take_string(json), take_string(message));
    match rc {
        0 => Graph::from_json(&json),
        2 => Err(call.error.take().unwrap_or_else(|| PyriteError::Model("the traced closure failed".into()))),
        _ => Err(PyriteError::Model(format!("libtorch's tracer: {message}"))),
    }
}
