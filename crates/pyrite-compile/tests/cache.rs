//! The kernel cache against what users' machines do: several builds of one kernel at once, a
//! truncated or foreign object under a kernel's name, a cache directory that cannot be written,
//! no C compiler or a failing one. Each gives a correct kernel or a plain error (callers then
//! run eagerly), never a wrong result or a crash.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pyrite_compile::{lower, trace, Kernel, Program};
use tch::{Device, Kind, Tensor};

/// The environment (PYRITE_KERNEL_CACHE, CC) is the process's: one test at a time.
static ENV: Mutex<()> = Mutex::new(());

/// A fresh cache directory of its own.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyrite-cache-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn set_env(key: &str, value: Option<&Path>) {
    // SAFETY (of the environment): tests that touch it hold `ENV`.
    unsafe {
        match value {
            Some(v) => std::env::set_var(key, v),
            None => std::env::remove_var(key),
        }
    }
}

/// `sum((x - 0.5)^2)` over `n` values: a program whose kernel source depends on `n`.
fn program(n: i64) -> Program {
    let x = Tensor::zeros([n], (Kind::Double, Device::Cpu));
    let graph = trace(&[x.shallow_clone()], || Ok((&x - 0.5).square().sum(Kind::Double))).unwrap();
    lower(&graph).unwrap()
}

/// Checks a kernel of `program(n)` at x = 0..n: value and gradient.
fn assert_right(kernel: &mut Kernel, n: usize) {
    let z: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut g = vec![0.0; n];
    let v = kernel.value_and_grad(&z, &[], &mut g);
    let want: f64 = z.iter().map(|x| (x - 0.5) * (x - 0.5)).sum();
    assert!((v - want).abs() < 1e-9, "value {v}, want {want}");
    assert!(g.iter().zip(&z).all(|(g, x)| (g - 2.0 * (x - 0.5)).abs() < 1e-12));
}

fn objects(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default()
}

#[test]
fn builds_of_one_kernel_at_once_all_get_it() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("concurrent");
    set_env("PYRITE_KERNEL_CACHE", Some(&dir));
    let p = program(7);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                s.spawn(move || {
                    let mut k = Kernel::new(p).unwrap();
                    assert_right(&mut k, 7);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    // One object, no half-written or temporary file left behind.
    let files = objects(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "so"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_truncated_or_foreign_object_is_built_again() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("broken");
    set_env("PYRITE_KERNEL_CACHE", Some(&dir));
    let mut k = Kernel::new(program(5)).unwrap();
    assert!(!k.cached);
    assert_right(&mut k, 5);
    drop(k);
    let so = objects(&dir).pop().unwrap();
    // Cut short.
    let bytes = std::fs::read(&so).unwrap();
    std::fs::write(&so, &bytes[..bytes.len() / 3]).unwrap();
    let mut k = Kernel::new(program(5)).unwrap();
    assert!(!k.cached, "rebuilt");
    assert_right(&mut k, 5);
    drop(k);
    // Another program's object with a `pyrite_kernel` of the right signature that returns 42.
    let c = dir.join("foreign.c");
    std::fs::write(&c, "double pyrite_kernel(const void* z, const void* n, const void* const* c, void* g, void* w) { return 42.0; }\n").unwrap();
    let status = std::process::Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&so).arg(&c).status().unwrap();
    assert!(status.success());
    let mut k = Kernel::new(program(5)).unwrap();
    assert!(!k.cached, "rebuilt");
    assert_right(&mut k, 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cache_directory_that_cannot_be_written_falls_back_to_a_temporary_one() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    // A directory below a plain file cannot be made, even by root.
    let blocker = fresh_dir("blocker");
    std::fs::write(&blocker, b"a file").unwrap();
    set_env("PYRITE_KERNEL_CACHE", Some(&blocker.join("kernels")));
    let mut k = Kernel::new(program(6)).unwrap();
    assert_right(&mut k, 6);
    let _ = std::fs::remove_file(&blocker);
}

#[test]
fn no_compiler_or_a_failing_one_is_an_error_naming_it() {
    let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir("nocc");
    set_env("PYRITE_KERNEL_CACHE", Some(&dir));
    set_env("CC", Some(Path::new("/nonexistent/bin/cc")));
    let missing = Kernel::new(program(9)).err().expect("no compiler, no kernel").to_string();
    set_env("CC", Some(Path::new("false")));
    let failing = Kernel::new(program(9)).err().expect("a failing compiler, no kernel").to_string();
    set_env("CC", None);
    assert!(missing.contains("/nonexistent/bin/cc"), "{missing}");
    assert!(failing.contains("`false` failed"), "{failing}");
    // And with a compiler again, the kernel builds.
    let mut k = Kernel::new(program(9)).unwrap();
    assert_right(&mut k, 9);
    let _ = std::fs::remove_dir_all(&dir);
}
