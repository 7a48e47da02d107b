//! Building and running a kernel: the generated C is compiled once with the system C compiler
//! (`cc -O3 -march=native`), cached by the source's hash in the user's cache directory, loaded
//! with `dlopen` and called with pointers to the input, the constants and a workspace.

use std::ffi::{c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use pyrite_core::{PyriteError, Result};

use crate::codegen::{generate, workspace_len, Precision};
use crate::lower::{Program, Storage};

/// `pyrite_kernel(z, noise, consts, grad, w)`, its vectors of the kernel's [`Precision`].
type KernelFn = unsafe extern "C" fn(*const c_void, *const c_void, *const *const c_void, *mut c_void, *mut c_void) -> f64;

/// The element types a kernel's vectors can have: `f64` or `f32` (see [`Precision`]).
pub trait Real: Copy + Default + 'static {
    const PRECISION: Precision;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
}

impl Real for f64 {
    const PRECISION: Precision = Precision::F64;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
}

impl Real for f32 {
    const PRECISION: Precision = Precision::F32;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

/// A constant's values as the kernel reads them (see [`Storage`]).
enum ConstData {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I32(Vec<i32>),
}

impl ConstData {
    fn new(values: Vec<f64>, storage: Storage) -> ConstData {
        match storage {
            Storage::F64 => ConstData::F64(values),
            Storage::F32 => ConstData::F32(values.iter().map(|&v| v as f32).collect()),
            Storage::I32 => ConstData::I32(values.iter().map(|&v| v as i32).collect()),
        }
    }
    fn ptr(&self) -> *const c_void {
        match self {
            ConstData::F64(v) => v.as_ptr() as *const c_void,
            ConstData::F32(v) => v.as_ptr() as *const c_void,
            ConstData::I32(v) => v.as_ptr() as *const c_void,
        }
    }
}

/// A compiled program: its function, its constants and its workspace.
pub struct Kernel {
    function: KernelFn,
    /// Kept open for as long as `function` may be called.
    library: *mut c_void,
    consts: Vec<ConstData>,
    const_ptrs: Vec<*const c_void>,
    /// The workspace, as doubles however many `real`s it holds.
    work: Vec<f64>,
    precision: Precision,
    input_len: usize,
    noise_len: usize,
    /// Whether the shared object came from the cache (no compiler run).
    pub cached: bool,
    /// Seconds spent generating, compiling (or finding) and loading it.
    pub build_seconds: f64,
}

// SAFETY: the library handle and the pointers into `consts` are owned by the kernel and used
// only through `&mut self`.
unsafe impl Send for Kernel {}

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: `library` came from `dlopen` and nothing of it is used after this.
        unsafe { libc::dlclose(self.library) };
    }
}

/// FNV-1a, 64 bits: a hash that stays the same across Rust versions (cache file names).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Where compiled kernels are kept: `$PYRITE_KERNEL_CACHE`, else `$XDG_CACHE_HOME/pyrite/kernels`,
/// else `~/.cache/pyrite/kernels`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PYRITE_KERNEL_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("pyrite").join("kernels")
}

fn io(path: &Path, problem: impl ToString) -> PyriteError {
    PyriteError::Io { path: path.display().to_string(), problem: problem.to_string() }
}

/// Compiles `source` into `dir/<hash>.so` unless it is there; returns the path and whether it was.
fn build(source: &str, dir: &Path) -> Result<(PathBuf, bool)> {
    let hash = format!("{:016x}", fnv1a(source.as_bytes()));
    let so = dir.join(format!("{hash}.so"));
    if so.is_file() {
        return Ok((so, true));
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    // Private names for the source and the object, renamed into place: concurrent builds of one
    // kernel never load a half-written file.
    let tag = format!("{hash}.{}.{:?}", std::process::id(), std::thread::current().id()).replace(['(', ')'], "");
    let c = dir.join(format!("{tag}.c"));
    let tmp = dir.join(format!("{tag}.so.tmp"));
    std::fs::write(&c, source).map_err(|e| io(&c, e))?;
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&compiler)
        .args(["-O3", "-march=native", "-fno-math-errno", "-shared", "-fPIC", "-o"])
        .arg(&tmp)
        .arg(&c)
        .arg("-lm")
        .output()
        .map_err(|e| io(&c, format!("running the C compiler `{compiler}`: {e}")))?;
    // `PYRITE_KEEP_KERNEL_SOURCES=1` keeps the generated C beside the object, for reading.
    if std::env::var_os("PYRITE_KEEP_KERNEL_SOURCES").is_none() {
        let _ = std::fs::remove_file(&c);
    }
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&c, format!("the C compiler failed: {}", String::from_utf8_lossy(&out.stderr).lines().take(5).collect::<Vec<_>>().join(" | "))));
    }
    std::fs::rename(&tmp, &so).map_err(|e| io(&so, e))?;
    Ok((so, false))
}

impl Kernel {
    /// Generates, compiles (or finds in the cache) and loads `program`'s kernel, its values in
    /// double precision.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Io`] if the C compiler is missing or fails, or the object cannot be loaded.
    pub fn new(program: Program) -> Result<Kernel> {
        Kernel::with_precision(program, Precision::F64)
    }

    /// As [`new`](Self::new), the kernel's vectors and workspace holding `precision` values
    /// (its arithmetic and sums stay in double precision).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_precision(program: Program, precision: Precision) -> Result<Kernel> {
        let start = Instant::now();
        let source = generate(&program, precision);
        let (so, cached) = build(&source, &cache_dir())?;
        let path = CString::new(so.display().to_string()).map_err(|e| io(&so, e))?;
        // SAFETY: a valid path; the library is closed in `drop`.
        let library = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if library.is_null() {
            return Err(io(&so, "dlopen failed"));
        }
        // SAFETY: the symbol name is NUL-terminated.
        let symbol = unsafe { libc::dlsym(library, c"pyrite_kernel".as_ptr()) };
        if symbol.is_null() {
            // SAFETY: opened above.
            unsafe { libc::dlclose(library) };
            return Err(io(&so, "no pyrite_kernel in the compiled object"));
        }
        // SAFETY: the generated function has exactly this signature.
        let function: KernelFn = unsafe { std::mem::transmute::<*mut c_void, KernelFn>(symbol) };
        let len = workspace_len(&program).max(1);
        let work = vec![0.0; if precision == Precision::F32 { len.div_ceil(2) } else { len }];
        let noise_len = program.noise_len();
        let consts: Vec<ConstData> = program.consts.into_iter().zip(&program.const_storage).map(|(v, &s)| ConstData::new(v, s)).collect();
        // After the constants, the matrix-product callback (see `gemm`).
        let mut const_ptrs: Vec<*const c_void> = consts.iter().map(ConstData::ptr).collect();
        const_ptrs.push(match precision {
            Precision::F64 => crate::gemm::gemm as *const c_void,
            Precision::F32 => crate::gemm::gemm_f32 as *const c_void,
        });
        Ok(Kernel {
            function,
            library,
            consts,
            const_ptrs,
            work,
            precision,
            input_len: program.input_len,
            noise_len,
            cached,
            build_seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// The length of the flat input.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// The length of the noise vector.
    pub fn noise_len(&self) -> usize {
        self.noise_len
    }

    /// The program's output at `z` (with `noise` for its standard normal draws); writes its
    /// gradient with respect to `z` into `grad`.
    ///
    /// # Panics
    ///
    /// If `z` or `grad` is not [`input_len`](Self::input_len) long, `noise` not
    /// [`noise_len`](Self::noise_len), or `T` not the kernel's precision.
    pub fn value_and_grad<T: Real>(&mut self, z: &[T], noise: &[T], grad: &mut [T]) -> f64 {
        assert_eq!(T::PRECISION, self.precision, "the kernel's precision");
        assert_eq!(z.len(), self.input_len, "the kernel's input length");
        assert_eq!(grad.len(), self.input_len, "the kernel's gradient length");
        assert_eq!(noise.len(), self.noise_len, "the kernel's noise length");
        debug_assert_eq!(self.consts.len() + 1, self.const_ptrs.len());
        // SAFETY: every pointer is valid for the lengths the generated code uses: `z` and `grad`
        // hold `input_len` values of the kernel's precision, `noise` `noise_len`, each constant
        // its tensor's elements, `work` the workspace.
        unsafe {
            (self.function)(
                z.as_ptr() as *const c_void,
                noise.as_ptr() as *const c_void,
                self.const_ptrs.as_ptr(),
                grad.as_mut_ptr() as *mut c_void,
                self.work.as_mut_ptr() as *mut c_void,
            )
        }
    }
}
