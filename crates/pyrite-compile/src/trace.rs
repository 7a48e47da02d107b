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
        exempt: extern "C" fn() -> c_int,
        json: *mut *mut c_char,
        host_read: *mut *mut c_char,
        externals: *mut *mut ExternalSet,
        message: *mut *mut c_char,
    ) -> c_int;
    fn pyrite_externals_unchanged(e: *const ExternalSet) -> c_int;
    fn pyrite_externals_len(e: *const ExternalSet) -> usize;
    fn pyrite_externals_free(e: *mut ExternalSet);
    fn pyrite_trace_free(s: *mut c_char);
    fn pyrite_trace_rearm();
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
    // Held for the whole of `f`, as sample statements hold it: no other thread draws meanwhile.
    let _rng = pyrite_core::runtime::rng_guard();
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

/// The shim's list of a capture's external tensors (opaque).
#[repr(C)]
pub struct ExternalSet {
    _private: [u8; 0],
}

/// The tensors a traced closure read that the trace did not make (the model's data, tensors its
/// closure captured): constants of the graph. Each is held weakly with its storage address,
/// version counter, sizes and strides, so that a later change (another tensor in its place, its
/// values changed in place) is seen in a few nanoseconds a tensor.
pub struct Externals(*mut ExternalSet);

// SAFETY: the set is owned and only read (a weak pointer's lock and counters).
unsafe impl Send for Externals {}
unsafe impl Sync for Externals {}

impl Externals {
    /// No tensors.
    pub fn none() -> Externals {
        Externals(std::ptr::null_mut())
    }
    /// Whether every tensor is still the one read, unchanged.
    pub fn unchanged(&self) -> bool {
        // SAFETY: a live set from the shim.
        self.0.is_null() || unsafe { pyrite_externals_unchanged(self.0) } != 0
    }
    /// How many tensors there are.
    pub fn len(&self) -> usize {
        // SAFETY: as above.
        if self.0.is_null() {
            0
        } else {
            unsafe { pyrite_externals_len(self.0) }
        }
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Externals {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: allocated by the shim, freed once.
            unsafe { pyrite_externals_free(self.0) }
        }
    }
}

impl std::fmt::Debug for Externals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Externals({} tensors)", self.len())
    }
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

/// Whether pyrite is reading values for its own checks ([`pyrite_core::host_reads::checking`]).
extern "C" fn exempt() -> c_int {
    c_int::from(pyrite_core::host_reads::is_checking())
}

/// After a check: the storages whose hooks the check's reads used are watched again.
fn rearm() {
    // SAFETY: the shim only touches its own capture's state (none outside a capture).
    unsafe { pyrite_trace_rearm() }
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
/// every other tensor `f` reads becomes a constant of the graph, tensors `f` makes from host data
/// (`Tensor::from`, `zeros`, `arange`) included. `f`'s result is the graph's output.
///
/// A value computed from the inputs and read on the host by `f` (`double_value`, `int64_value`,
/// `f64::try_from`, `Vec::try_from`, `copy_data`, `data_ptr`, `equal`, `allclose`, tch's
/// formatting) is named in [`Graph::host_read`]: the graph holds for these inputs only, and
/// [`lower`](crate::lower) refuses it. Reads inside [`pyrite_core::host_reads::checking`] do not
/// count.
///
/// # Errors
///
/// `f`'s own error; [`PyriteError::Model`] for a panic in `f` or a failure of libtorch's tracer
/// (a trace already being recorded on this thread, for one); [`PyriteError::Io`] if the shim's
/// graph cannot be read (a bug).
pub fn trace(inputs: &[Tensor], mut f: impl FnMut() -> Result<Tensor>) -> Result<Graph> {
    let mut call = Call { f: &mut f, output: None, error: None };
    let ptrs: Vec<*mut torch_sys::C_tensor> = inputs.iter().map(|t| t.as_ptr() as *mut _).collect();
    let (mut json, mut host_read, mut message) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
    let mut externals: *mut ExternalSet = std::ptr::null_mut();
    pyrite_core::host_reads::set_after_checking(Some(rearm));
    // SAFETY: the pointers are valid for the call; the shim catches every C++ exception.
    let rc = unsafe {
        pyrite_trace(
            ptrs.as_ptr(),
            ptrs.len() as c_int,
            trampoline,
            &mut call as *mut Call<'_> as *mut c_void,
            exempt,
            &mut json,
            &mut host_read,
            &mut externals,
            &mut message,
        )
    };
    pyrite_core::host_reads::set_after_checking(None);
    let read = (!host_read.is_null()).then(|| take_string(host_read));
    let externals = std::sync::Arc::new(Externals(externals));
    let (json, message) = (take_string(json), take_string(message));
    match rc {
        0 => Graph::from_json(&json).map(|g| Graph { host_read: read, externals, ..g }),
        2 => Err(call.error.take().unwrap_or_else(|| PyriteError::Model("the traced closure failed".into()))),
        _ => Err(PyriteError::Model(format!("libtorch's tracer: {message}"))),
    }
}
