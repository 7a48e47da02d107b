//! Keeping freed tensor memory in the process, so that a training loop does not pay for fresh
//! pages on every step.
//!
//! libtorch allocates CPU tensors with the C allocator. glibc serves a large block (over
//! 128 KiB at first) by mapping fresh pages and returns them to the system when it is freed, so
//! each step of a model whose tensors are a few MiB (a GLMM with 10^6 observations, a BNN
//! layer) faults in every page of every intermediate again: a GLMM step with N = 10^6 took
//! 16–23 ms that way and 6.7 ms with memory kept (`docs/benchmarks.md`). What PyTorch's caching
//! allocator does for the GPU, [`keep_freed_memory`] does for the CPU: blocks up to 32 MiB come
//! from the heap, and the heap is not trimmed until 1 GiB of it is free.
//!
//! `pyrite_infer::Svi::new` calls it once per process; set
//! `PYRITE_MALLOC=system` to keep glibc's defaults. Elsewhere than Linux with glibc it does
//! nothing.
//!
//! ```
//! pyrite_core::memory::keep_freed_memory();
//! ```

use std::sync::Once;

/// Tunes glibc's allocator once per process (see the module documentation); later calls do
/// nothing. Skipped when `PYRITE_MALLOC=system`.
pub fn keep_freed_memory() {
    static TUNED: Once = Once::new();
    TUNED.call_once(|| {
        if std::env::var("PYRITE_MALLOC").map(|v| v == "system").unwrap_or(false) {
            return;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe {
            // 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems.
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    });
}
