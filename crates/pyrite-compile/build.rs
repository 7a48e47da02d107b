//! Compiles the C++ shim over libtorch's tracer (`csrc/trace_shim.cpp`) against libtorch's
//! headers (see `pyrite-build`).

fn main() {
    println!("cargo:rerun-if-changed=csrc/trace_shim.cpp");
    let Some(libtorch) = pyrite_build::libtorch_dir() else {
        panic!("pyrite-compile: libtorch not found (neither DEP_TCH_LIBTORCH_LIB nor LIBTORCH)");
    };
    pyrite_build::shim(&libtorch).file("csrc/trace_shim.cpp").compile("pyrite_trace");
    pyrite_build::link_libtorch(&libtorch);
}
