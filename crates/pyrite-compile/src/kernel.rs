//! Building and running a kernel: the generated C is compiled once with the system C compiler
//! (`cc -O3 -march=native`, `-O1` for very long sources), cached by the source's hash in the user's cache directory, loaded
//! with `dlopen` and called with pointers to the input, the constants and a workspace.

use std::ffi::{c_char, c_void, CString};
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

/// The name of the symbol each kernel object carries: the hash of the source it was compiled
/// from, so that a file in the cache that is not what its name says is never run.
const HASH_SYMBOL: &str = "pyrite_kernel_source_hash";

/// Where kernels are built when the cache directory cannot be written: a directory of this
/// user's in the system's temporary directory.
fn fallback_dir() -> PathBuf {
    // SAFETY: getuid has no preconditions.
    std::env::temp_dir().join(format!("pyrite-kernels-{}", unsafe { libc::getuid() }))
}

/// Sources longer than this (a long unrolled loop: an ODE solved in a few hundred steps) are
/// compiled with `-O1`: the C compiler's time grows faster than the source at `-O3`. Measured
/// on the posteriordb ODE models (2026-12-06): Lotka–Volterra's 2.9 MB kernel 124 s at `-O3`,
/// 55 s at `-O1`, a gradient 1.2x faster at `-O3`; the one-compartment model's 2.4 MB kernel 46
/// s and 26 s, 1.8x faster. Such code is a chain of scalar operations with little to vectorise,
/// and a first run's wait is what a user sees.
const LARGE_SOURCE: usize = 1 << 20;

/// The optimisation level for `source` (see [`LARGE_SOURCE`]).
fn optimisation(source: &str) -> &'static str {
    if source.len() > LARGE_SOURCE {
        "-O1"
    } else {
        "-O3"
    }
}

/// Whether kernels are first built against glibc's vector math library (`libmvec`, x86-64
/// glibc since 2.22): the generated C declares vector variants of `exp`, `log` and the like
/// when [`VECTOR_MATH_DEFINE`] is set, so that loops calling them vectorise (within 4 ulp of
/// the scalar functions).
const VECTOR_MATH: bool = cfg!(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"));

/// The C compiler's flag that turns the generated C's vector declarations on.
const VECTOR_MATH_DEFINE: &str = "-DPYRITE_VECTOR_MATH";

/// Compiles `source` into `dir/<hash>.so` unless it is there; returns the path and whether it was.
fn build(source: &str, hash: &str, dir: &Path) -> Result<(PathBuf, bool)> {
    let so = dir.join(format!("{hash}.so"));
    if so.is_file() {
        return Ok((so, true));
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    // Private names for the source and the object, renamed into place: concurrent builds of one
    // kernel (threads, processes) never load a half-written file.
    let tag = format!("{hash}.{}.{:?}", std::process::id(), std::thread::current().id()).replace(['(', ')'], "");
    let c = dir.join(format!("{tag}.c"));
    let tmp = dir.join(format!("{tag}.so.tmp"));
    std::fs::write(&c, format!("{source}\nconst char {HASH_SYMBOL}[] = \"{hash}\";\n")).map_err(|e| io(&c, e))?;
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let compile = |vector_math: bool| {
        let mut command = Command::new(&compiler);
        command.args([optimisation(source), "-march=native", "-fno-math-errno", "-fopenmp-simd", "-shared", "-fPIC", "-o"]).arg(&tmp).arg(&c);
        if vector_math {
            command.args([VECTOR_MATH_DEFINE, "-lmvec"]);
        }
        command.arg("-lm").output()
    };
    // With glibc's vector math library where there is one; a system without it (or a compiler
    // that cannot link it) gets the scalar functions.
    let out = match compile(VECTOR_MATH) {
        Ok(o) if !o.status.success() && VECTOR_MATH => compile(false),
        out => out,
    };
    // `PYRITE_KEEP_KERNEL_SOURCES=1` keeps the generated C beside the object, for reading.
    if std::env::var_os("PYRITE_KEEP_KERNEL_SOURCES").is_none() {
        let _ = std::fs::remove_file(&c);
    }
    let out = out.map_err(|e| io(&c, format!("running the C compiler `{compiler}`: {e}")))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(
            &c,
            format!("the C compiler `{compiler}` failed: {}", String::from_utf8_lossy(&out.stderr).lines().take(5).collect::<Vec<_>>().join(" | ")),
        ));
    }
    std::fs::rename(&tmp, &so).map_err(|e| io(&so, e))?;
    Ok((so, false))
}

/// A loaded kernel object: its handle and function.
struct Loaded {
    library: *mut c_void,
    function: KernelFn,
}

/// Whether `bytes` are a whole 64-bit little-endian ELF object: its header, program headers,
/// section headers and every loaded segment lie within the file. The loader maps segments past
/// the end of a file cut short, and reading them kills the process (SIGBUS): such a file is
/// never handed to `dlopen`.
fn whole_elf(bytes: &[u8]) -> bool {
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])));
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    let u64_at = |at: usize| bytes.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let len = bytes.len() as u64;
    let header = || -> Option<bool> {
        if bytes.get(..6)? != b"\x7fELF\x02\x01" {
            return Some(false);
        }
        let (phoff, shoff) = (u64_at(0x20)?, u64_at(0x28)?);
        let (phentsize, phnum, shentsize, shnum) = (u16_at(0x36)?, u16_at(0x38)?, u16_at(0x3a)?, u16_at(0x3c)?);
        let within = |off: u64, size: u64| off.checked_add(size).is_some_and(|end| end <= len);
        if !within(phoff, phentsize * phnum) || !within(shoff, shentsize * shnum) {
            return Some(false);
        }
        for i in 0..phnum {
            let at = (phoff + i * phentsize) as usize;
            let (kind, offset, filesz) = (u32_at(at)?, u64_at(at + 8)?, u64_at(at + 0x20)?);
            // PT_LOAD segments are mapped from the file.
            if kind == 1 && !within(offset, filesz) {
                return Some(false);
            }
        }
        Some(true)
    };
    header().unwrap_or(false)
}

/// Loads `so` and checks that it is the kernel of `hash`; `None` for a file that is not (cut
/// short, another program's, an older layout).
fn load(so: &Path, hash: &str) -> Option<Loaded> {
    if !std::fs::read(so).is_ok_and(|bytes| whole_elf(&bytes)) {
        return None;
    }
    let path = CString::new(so.display().to_string()).ok()?;
    // SAFETY: a valid path; the library is closed on every path that does not keep it.
    let library = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if library.is_null() {
        return None;
    }
    let symbol = |name: &str| {
        let name = CString::new(name).expect("no NUL in a symbol name");
        // SAFETY: an open library and a NUL-terminated name.
        unsafe { libc::dlsym(library, name.as_ptr()) }
    };
    let (function, stamp) = (symbol("pyrite_kernel"), symbol(HASH_SYMBOL));
    // SAFETY: the stamp, where present, is a NUL-terminated string of the object's.
    let matches = !function.is_null() && !stamp.is_null() && unsafe { std::ffi::CStr::from_ptr(stamp as *const c_char) }.to_bytes() == hash.as_bytes();
    if !matches {
        // SAFETY: opened above, nothing of it kept.
        unsafe { libc::dlclose(library) };
        return None;
    }
    // SAFETY: the generated function has exactly this signature (the stamp says it is ours).
    Some(Loaded { library, function: unsafe { std::mem::transmute::<*mut c_void, KernelFn>(function) } })
}

/// Builds (or finds) and loads the kernel of `source`: in the cache directory, else in
/// [`fallback_dir`] when the cache cannot be written; a cached file that is not the kernel it
/// is named for is built again.
fn build_and_load(source: &str) -> Result<(Loaded, bool)> {
    let hash = format!("{:016x}", fnv1a(source.as_bytes()));
    let dir = cache_dir();
    let (so, cached) = match build(source, &hash, &dir) {
        Ok(built) => built,
        // Not writable (or not a directory): the user's temporary directory instead. A
        // compiler that fails fails there too, and says so.
        Err(first) => build(source, &hash, &fallback_dir()).map_err(|e| if e.to_string().contains("C compiler") { e } else { first })?,
    };
    if let Some(loaded) = load(&so, &hash) {
        return Ok((loaded, cached));
    }
    // A file that is not the kernel: removed and built again, once.
    let _ = std::fs::remove_file(&so);
    let (so, _) = build(source, &hash, so.parent().unwrap_or(&dir))?;
    load(&so, &hash).map(|l| (l, false)).ok_or_else(|| io(&so, "the compiled kernel cannot be loaded"))
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
        let (Loaded { library, function }, cached) = build_and_load(&source)?;
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
