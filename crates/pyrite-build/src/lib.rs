//! Build-script helpers for pyrite's C++ shims (`pyrite-compile`, `pyrite-distributed`): where
//! libtorch is, and a `cc` build set up for its headers, as torch-sys builds its own wrapper.
//!
//! ```no_run
//! // build.rs
//! let libtorch = pyrite_build::libtorch_dir().expect("libtorch");
//! pyrite_build::shim(&libtorch).file("csrc/shim.cpp").compile("my_shim");
//! pyrite_build::link_libtorch(&libtorch);
//! ```

use std::env;
use std::path::{Path, PathBuf};

/// libtorch's root directory (with `lib/` and `include/`): where torch-sys found it
/// (`DEP_TCH_LIBTORCH_LIB`, seen by crates that depend on torch-sys directly), else `LIBTORCH`.
/// Also asks cargo to rerun the build script when `LIBTORCH` changes.
pub fn libtorch_dir() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let from_dep = env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from).and_then(|lib| lib.parent().map(Path::to_path_buf));
    from_dep.or_else(|| env::var_os("LIBTORCH").map(PathBuf::from)).filter(|dir| dir.join("include").is_dir())
}

/// A C++17 `cc` build against libtorch's headers with its ABI (`_GLIBCXX_USE_CXX11_ABI=1`),
/// position-independent, warnings off (libtorch's headers are noisy).
pub fn shim(libtorch: &Path) -> cc::Build {
    let include = libtorch.join("include");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        // libtorch is a release build: its headers lay some classes out differently without
        // NDEBUG (RecordFunction has a debug-only member), so the shims must match it.
        .define("NDEBUG", None);
    build
}

/// Links the crate against libtorch's `torch_cpu` and `c10`.
pub fn link_libtorch(libtorch: &Path) {
    println!("cargo:rustc-link-search=native={}", libtorch.join("lib").display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
