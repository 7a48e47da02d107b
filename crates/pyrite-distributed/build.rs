//! Compiles the C++ shim over c10d (`csrc/c10d_shim.cpp`) against libtorch's headers, as
//! torch-sys compiles its own wrapper, when Gloo's headers (Debian's `libgloo-dev`) are found;
//! otherwise builds the crate without it (every process group is then `Error::Unavailable`) and
//! says why in a cargo warning.
//!
//! libtorch is found as torch-sys found it (`DEP_TCH_LIBTORCH_LIB`), else through `LIBTORCH`.
//! Gloo's headers are looked for in `GLOO_INCLUDE_DIR`, then `/usr/include` and
//! `/usr/local/include`. Only the headers are used: libtorch carries Gloo itself.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=csrc/c10d_shim.cpp");
    println!("cargo:rerun-if-env-changed=GLOO_INCLUDE_DIR");
    println!("cargo:rustc-check-cfg=cfg(pyrite_gloo)");
    let Some(libtorch) = pyrite_build::libtorch_dir() else {
        println!("cargo:warning=pyrite-distributed: libtorch not found (neither DEP_TCH_LIBTORCH_LIB nor LIBTORCH); building without c10d");
        return;
    };
    let found = gloo_include_dir();
    // Run again when the headers change or, while they are missing, on every build (a missing
    // file counts as changed), so that installing them takes effect.
    for dir in found.iter().cloned().chain(gloo_candidates().into_iter().filter(|_| found.is_none())) {
        println!("cargo:rerun-if-changed={}", dir.join("gloo/algorithm.h").display());
    }
    let Some(gloo) = found else {
        println!("cargo:warning=pyrite-distributed: Gloo's headers (gloo/algorithm.h) not found; building without c10d. Install them with: sudo apt-get install -y libgloo-dev (or set GLOO_INCLUDE_DIR)");
        return;
    };
    let mut build = pyrite_build::shim(&libtorch);
    build.flag("-DUSE_C10D_GLOO").file("csrc/c10d_shim.cpp");
    // Only when the headers are elsewhere than the compiler's own search path, so that
    // /usr/include never comes before libtorch's headers.
    if gloo != Path::new("/usr/include") {
        build.include(&gloo);
    }
    build.compile("pyrite_c10d");
    pyrite_build::link_libtorch(&libtorch);
    println!("cargo:rustc-cfg=pyrite_gloo");
}

/// Where Gloo's headers may be: `GLOO_INCLUDE_DIR`, `/usr/include`, `/usr/local/include`.
fn gloo_candidates() -> Vec<PathBuf> {
    env::var_os("GLOO_INCLUDE_DIR").map(PathBuf::from).into_iter().chain(["/usr/include", "/usr/local/include"].map(PathBuf::from)).collect()
}

/// The first candidate directory holding `gloo/algorithm.h`.
fn gloo_include_dir() -> Option<PathBuf> {
    gloo_candidates().into_iter().find(|dir| dir.join("gloo/algorithm.h").is_file())
}
