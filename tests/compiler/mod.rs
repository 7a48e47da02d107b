//! The compiler's capture: host reads of traced values are seen at every entry point tch
//! offers, and tensors made inside a model from host data become constants.

mod branching;
mod fuzz;
mod host_data;
mod host_reads;
mod long_programs;
mod reductions;

use pyrite::compile::{lower, trace, Kernel};
use pyrite::prelude::*;

/// Compiles `f` (of one flat input of `n` values) and compares value and gradient with
/// libtorch's autograd (within 1e-10, relative) at five random inputs.
pub(crate) fn compiles_and_matches(what: &str, n: i64, f: impl Fn(&Tensor) -> Tensor) {
    let x0 = Tensor::randn([n], (Kind::Double, Device::Cpu));
    let graph = trace(&[x0.shallow_clone()], || Ok(f(&x0))).unwrap();
    assert_eq!(graph.host_read, None, "{what}");
    let program = lower(&graph).unwrap_or_else(|e| panic!("{what}: {}", e.0));
    let mut kernel = Kernel::new(program).unwrap();
    for _ in 0..5 {
        let x = Tensor::randn([n], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let y = f(&x);
        y.backward();
        let (value, grad) = (y.double_value(&[]), Vec::<f64>::try_from(x.grad()).unwrap());
        let z = Vec::<f64>::try_from(x.detach()).unwrap();
        let mut g = vec![0.0; n as usize];
        let v = kernel.value_and_grad(&z, &[], &mut g);
        assert!((v - value).abs() <= 1e-10 * value.abs().max(1.0), "{what}: value {v} against {value}");
        for (a, b) in g.iter().zip(&grad) {
            assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0), "{what}: gradient {g:?} against {grad:?}");
        }
    }
}
