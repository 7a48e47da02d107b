//! Reductions and broadcasts over leading and interleaved dims, which a kernel runs as nests of
//! loops (one per run of kept or repeated dims): values and gradients equal libtorch's, and a
//! log-sum-exp with a result of hundreds of thousands of elements runs on a thread with Rust's
//! default 2 MiB stack.

use pyrite::compile::{lower, trace, Kernel, Precision};
use pyrite::prelude::*;

/// Compiles `f` (of one flat input of `n` values) and compares its value and gradient with
/// libtorch's autograd at three random inputs.
fn matches_libtorch(what: &str, n: i64, f: impl Fn(&Tensor) -> Tensor) {
    let x0 = Tensor::randn([n], (Kind::Double, Device::Cpu));
    let graph = trace(&[x0.shallow_clone()], || Ok(f(&x0))).unwrap();
    let mut kernel = Kernel::new(lower(&graph).unwrap_or_else(|e| panic!("{what}: {}", e.0))).unwrap();
    for _ in 0..3 {
        let x = Tensor::randn([n], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let y = f(&x);
        y.backward();
        let (value, grad) = (y.double_value(&[]), Vec::<f64>::try_from(x.grad()).unwrap());
        let mut g = vec![0.0; n as usize];
        let v = kernel.value_and_grad(&Vec::<f64>::try_from(x.detach()).unwrap(), &[], &mut g);
        assert!((v - value).abs() <= 1e-9 * value.abs().max(1.0), "{what}: value {v} against {value}");
        for (a, b) in g.iter().zip(&grad) {
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: gradient {g:?} against {grad:?}");
        }
    }
}

/// Data of `len` points from two well separated groups.
fn two_groups(len: i64) -> Tensor {
    let opts = (Kind::Double, Device::Cpu);
    let n = Tensor::arange(len, opts);
    (n.remainder(3.0).eq(0.0).to_kind(Kind::Double) * 5.0 - 2.5) + (n * 0.7).sin() * 0.5
}

/// A two-component normal mixture's log likelihood, the components stacked on the first dim
/// and summed out by a log-sum-exp over it (how the posteriordb mixture is written).
fn mixture_log_likelihood(theta: &Tensor, y: &Tensor) -> Tensor {
    let (mu, sigma, w) = (theta.narrow(0, 0, 2), theta.narrow(0, 2, 2).exp(), theta.get(4).sigmoid());
    let components = Tensor::stack(&[w.log(), (-&w).log1p()], 0).unsqueeze(1);
    let z = (y.unsqueeze(0) - mu.unsqueeze(1)) / sigma.unsqueeze(1);
    let log_density = -z.square() * 0.5 - sigma.log().unsqueeze(1) - 0.5 * (2.0 * std::f64::consts::PI).ln();
    (components + log_density).logsumexp([0].as_slice(), false).sum(Kind::Double)
}

#[test]
fn a_log_sum_exp_over_the_first_dim() {
    let y = two_groups(1000);
    matches_libtorch("mixture of 1,000", 5, |theta| mixture_log_likelihood(theta, &y));
}

/// 600,000 sums of exponentials are 4.8 MB: more than a spawned thread's stack.
#[test]
fn a_log_sum_exp_with_a_large_result_on_a_spawned_thread() {
    std::thread::spawn(|| {
        let y = two_groups(600_000);
        matches_libtorch("mixture of 600,000", 5, |theta| mixture_log_likelihood(theta, &y));
    })
    .join()
    .expect("the kernel ran on a thread with the default stack");
}

/// The same in a float32 workspace: the log-sum-exp's sums and the total are doubles (beside
/// the workspace's floats), so the value agrees with libtorch's in double precision to 1e-6
/// (summed in a float it was off by 3e-4).
#[test]
fn a_log_sum_exp_with_a_large_result_in_a_float32_workspace() {
    let y = two_groups(600_000);
    let theta = Tensor::from_slice(&[-2.0f64, 2.5, 0.1, -0.2, 0.3]);
    let graph = trace(&[theta.shallow_clone()], || Ok(mixture_log_likelihood(&theta, &y))).unwrap();
    let mut kernel = Kernel::with_precision(lower(&graph).unwrap_or_else(|e| panic!("{}", e.0)), Precision::F32).unwrap();
    let z = [-2.7f32, 2.9, 0.05, -0.1, 0.4];
    let x = Tensor::from_slice(&z.map(f64::from)).set_requires_grad(true);
    let want = mixture_log_likelihood(&x, &y);
    want.backward();
    let (want, want_grad) = (want.double_value(&[]), Vec::<f64>::try_from(x.grad()).unwrap());
    let mut g = [0.0f32; 5];
    let v = kernel.value_and_grad(&z, &[], &mut g);
    assert!((v - want).abs() <= 1e-6 * want.abs(), "value {v} against {want}");
    for (a, b) in g.iter().zip(&want_grad) {
        // Looser: a fused loop's adjoints for its small broadcast operands (the two means and
        // scales, over 600,000 points) still add up in the float workspace (2e-4 here, where
        // libtorch's float32 autograd is within 1e-6).
        assert!((f64::from(*a) - b).abs() <= 1e-3 * b.abs().max(1.0), "gradient {g:?} against {want_grad:?}");
    }
}

/// Dims kept and repeated in turn: up to three runs of loops in one nest (the innermost kept
/// run long enough to be vectorised; shorter ones are one flat loop).
#[test]
fn reductions_and_broadcasts_over_interleaved_dims() {
    let opts = (Kind::Double, Device::Cpu);
    let data = Tensor::arange(192, opts).reshape([3, 4, 16]).cos();
    matches_libtorch("a [4, 1] factor on [3, 4, 16], log-sum-exp over dims 0 and 2", 4, |x| {
        (&data * x.reshape([4, 1]).exp()).logsumexp([0, 2].as_slice(), false).square().sum(Kind::Double)
    });
    matches_libtorch("a [3, 1, 16] term on [3, 4, 16], sums over dims 1 then 0", 48, |x| {
        (&data + x.reshape([3, 1, 16]).tanh())
            .square()
            .sum_dim_intlist([1].as_slice(), false, Kind::Double)
            .tanh()
            .sum_dim_intlist([0].as_slice(), false, Kind::Double)
            .sum(Kind::Double)
    });
    matches_libtorch("a [16] term on [3, 4, 16], log-sum-exp over dim 0, kept", 16, |x| {
        (&data * x.sigmoid()).logsumexp([0].as_slice(), true).exp().sum(Kind::Double)
    });
}

/// Fused loops whose passes add into one place (a group effect's adjoint from every member of
/// its group, a broadcast row's from its whole row) stay one pass at a time: the C compiler is
/// told a loop's passes are independent only where they are, and vectorises the others' sums.
#[test]
fn fused_loops_that_add_into_one_place() {
    let opts = (Kind::Double, Device::Cpu);
    let group = Tensor::arange(1000, (Kind::Int64, Device::Cpu)).remainder(7);
    let y = Tensor::arange(1000, opts).cos();
    matches_libtorch("a radon-style regression: a group effect gathered for each of 1,000 rows", 9, |x| {
        let (alpha, beta, log_sigma) = (x.narrow(0, 0, 7), x.get(7), x.get(8));
        let mean = alpha.index_select(0, &group) + &beta * &y;
        let z = (&y - mean) / log_sigma.exp();
        (-z.square() * 0.5 - &log_sigma).sum(Kind::Double)
    });
    let data = Tensor::arange(1200, opts).reshape([3, 400]).sin();
    matches_libtorch("a [3, 1] offset on [3, 400], summed with a scalar scale", 4, |x| {
        let (offset, scale) = (x.narrow(0, 0, 3).reshape([3, 1]), x.get(3));
        ((&data - offset) * scale.exp()).tanh().sum(Kind::Double)
    });
}
