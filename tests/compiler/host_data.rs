//! Tensors a model makes from host numbers (`Tensor::from`, `from_slice`, `zeros`, `ones`,
//! `full`, `arange`, `eye`, `linspace`) become constants of the capture: the program compiles and
//! its value and gradient equal eager libtorch's at random points.

use pyrite::prelude::*;

use super::compiles_and_matches;

#[test]
fn factories_inside_the_traced_code() {
    let opts = (Kind::Double, Device::Cpu);
    compiles_and_matches("Tensor::from", 3, |x| (x * Tensor::from(0.5f64)).sum(Kind::Double));
    compiles_and_matches("from_slice", 3, |x| (x * Tensor::from_slice(&[1.0f64, 2.0, 3.0])).exp().sum(Kind::Double));
    compiles_and_matches("zeros and ones", 3, |x| ((x + Tensor::ones([3], opts)) * (Tensor::zeros([3], opts) + 2.0)).square().sum(Kind::Double));
    compiles_and_matches("full", 3, |x| (x - Tensor::full([3], 0.25, opts)).square().sum(Kind::Double));
    compiles_and_matches("arange", 4, |x| (x * Tensor::arange(4, opts)).sum(Kind::Double));
    compiles_and_matches("linspace", 4, |x| (x * Tensor::linspace(-1.0, 1.0, 4, opts)).tanh().sum(Kind::Double));
    compiles_and_matches("eye", 4, |x| x.reshape([2, 2]).matmul(&(Tensor::eye(2, opts) * 3.0)).square().sum(Kind::Double));
    compiles_and_matches("a value computed from host data", 3, |x| (x * Tensor::from_slice(&[1.0f64, 2.0, 3.0]).log1p()).sum(Kind::Double));
}

/// An AR(2) recursion written as a Rust loop from a host-made starting value.
#[test]
fn a_recursion_over_time_from_a_host_made_start() {
    let y: Vec<f64> = (0..40).map(|t| (t as f64 * 0.3).sin()).collect();
    let y = Tensor::from_slice(&y);
    compiles_and_matches("AR(2)", 3, |theta| {
        let (a, b, log_s) = (theta.get(0), theta.get(1), theta.get(2));
        let mut lp = Tensor::from(0.0f64);
        for t in 2..40 {
            let mean = &a * y.get(t - 1) + &b * y.get(t - 2);
            let r = (y.get(t) - mean) / log_s.exp();
            lp = lp - r.square() * 0.5 - &log_s;
        }
        lp
    });
}

/// A linear layer (`aten::linear`, tch's `nn::Linear`): `x W^T + b` compiles, with and without
/// a bias.
#[test]
fn linear_layers() {
    let opts = (Kind::Double, Device::Cpu);
    let w = Tensor::randn([3, 4], opts);
    let b = Tensor::randn([3], opts);
    compiles_and_matches("linear with bias", 8, |x| x.reshape([2, 4]).linear(&w, Some(&b)).softplus().sum(Kind::Double));
    compiles_and_matches("linear without bias", 4, |x| x.linear::<Tensor>(&w, None).tanh().sum(Kind::Double));
}

/// `all` and `any` along a dim and over everything (a support check's reductions) compile.
#[test]
fn all_and_any() {
    compiles_and_matches("all and any", 6, |x| {
        let m = x.reshape([2, 3]);
        let rows = m.sum_dim_intlist(-1, false, Kind::Double);
        let every = m.gt(-0.5).all_dim(-1, false);
        let some = m.gt(1.0).any_dim(-1, false);
        let both = m.gt(-10.0).all().logical_and(&m.lt(10.0).any());
        (rows.where_self(&every, &(&rows * 2.0)) + rows.where_self(&some, &rows.square())).sum(Kind::Double) * both.to_kind(Kind::Double)
    });
}

/// An ODE solved inside the traced code (`ode::rk4`, Lotka–Volterra with its four rates and
/// initial state from the input): the fixed steps compile as an unrolled loop, value and
/// gradient equal libtorch's.
#[test]
fn an_ode_solution_compiles() {
    compiles_and_matches("Lotka–Volterra by rk4", 6, |x| {
        // Within a factor of 2 or so of the rates that cycle (a standard normal draw as the
        // log-rates themselves overflows the solution now and then: NaN against NaN).
        let rates = (x.narrow(0, 0, 4) * 0.25).exp() * Tensor::from_slice(&[0.5f64, 0.03, 0.8, 0.02]);
        let f = |_t: f64, z: &Tensor| {
            let (u, v) = (z.get(0), z.get(1));
            Tensor::stack(&[(rates.get(0) - rates.get(1) * &v) * &u, (rates.get(3) * &u - rates.get(2)) * &v], 0)
        };
        let z0 = (x.narrow(0, 4, 2) * 0.25).exp() * Tensor::from_slice(&[30.0f64, 5.0]);
        ode::rk4(f, &z0, 0.0, &[1.0, 2.0, 3.0], 0.25).unwrap().log().sum(Kind::Double)
    });
}
