//! Compiles the C++ shim over libtorch's tracer (`csrc/trace_shim.cpp`) against libtorch's
//! headers, as torch-sys compiles its own wrapper. libtorch is found as torch-sys found it
//! (`DEP_TCH_LIBTORCH_LIB`), else through `LIBTORCH`.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=csrc/trace_shim.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let from_dep = env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from).and_then(|lib| lib.parent().map(Path::to_path_buf));
    let Some(libtorch) = from_dep.or_else(|| env::var_os("LIBTORCH").map(PathBuf::from)).filter(|dir| dir.join("include").is_dir()) else {
        panic!("pyrite-compile: libtorch not found (neither DEP_TCH_LIBTORCH_LIB nor LIBTORCH)");
    };
    let include = libtorch.join("include");
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("csrc/trace_shim.cpp")
        .compile("pyrite_trace");
    println!("cargo:rustc-link-search=native={}", libtorch.join("lib").display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
