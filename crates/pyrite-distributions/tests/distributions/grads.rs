//! Reparameterised gradients: exact for location-scale families, and for the Gamma-based
//! families the pathwise estimate of d/dθ E[f(x)] agrees with the closed form within Monte
//! Carlo error. Per-sample gradients come from giving every draw its own copy of the parameter
//! (a leaf of shape [N]), so their standard error is known.

use pyrite_distributions::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::util::*;

const N: i64 = 40_000;
const Z: f64 = 5.0;

fn leaf(v: f64, n: i64) -> Tensor {
    Tensor::full([n], v, (Kind::Double, Device::Cpu)).set_requires_grad(true)
}

/// Mean and standard error of the mean of the entries of `g`.
fn mean_se(g: &Tensor) -> (f64, f64) {
    let g = g.to_kind(Kind::Double);
    let n = g.numel() as f64;
    (scalar(&g.mean(Kind::Double)), (scalar(&g.var(true)) / n).sqrt())
}

fn assert_mc(what: &str, g: &Tensor, expected: f64) {
    let (m, se) = mean_se(g);
    assert!((m - expected).abs() <= Z * se + 1e-12, "{what}: pathwise estimate {m} vs exact {expected} (se {se})");
}

fn grad_of(y: &Tensor, xs: &[&Tensor]) -> Vec<Tensor> {
    Tensor::run_backward(&[y], xs, true, false)
}

#[test]
fn normal_rsample_gradients_are_exact() {
    let _g = seeded(8000);
    let loc = Tensor::from_slice(&[0.5, -1.0]).set_requires_grad(true);
    let scale = Tensor::from_slice(&[2.0, 0.3]).set_requires_grad(true);
    let d = Normal::new(&loc, &scale).unwrap();
    let x = d.rsample(&[1000]).unwrap();
    let g = grad_of(&x.sum(Kind::Double), &[&loc, &scale]);
    // d x / d loc = 1 for every draw; d x / d scale = (x - loc) / scale, the standard noise.
    assert_tensors("d sum(x) / d loc", &g[0], &Tensor::from_slice(&[1000.0, 1000.0]), 1e-12, 0.0);
    let eps_sum = ((&x - &loc) / &scale).detach().sum_dim_intlist(0, false, Kind::Double);
    assert_tensors("d sum(x) / d scale", &g[1], &eps_sum, 1e-10, 1e-10);
    // sample() carries no gradient.
    assert!(!d.sample(&[3]).unwrap().requires_grad());
    assert!(x.requires_grad());

    // LogNormal: x = exp(loc + scale eps), d x / d loc = x.
    let d = LogNormal::new(&loc, &scale).unwrap();
    let x = d.rsample(&[10]).unwrap();
    let g = grad_of(&x.sum(Kind::Double), &[&loc]);
    assert_tensors("LogNormal d sum(x) / d loc", &g[0], &x.detach().sum_dim_intlist(0, false, Kind::Double), 1e-10, 0.0);

    // MultivariateNormal: d x / d loc = identity, so d sum(x) / d loc = number of draws.
    let mloc = Tensor::from_slice(&[0.0, 1.0, 2.0]).set_requires_grad(true);
    let l = Tensor::from_slice(&[1.0, 0.0, 0.0, 0.2, 1.0, 0.0, 0.3, -0.4, 0.5]).reshape([3, 3]).set_requires_grad(true);
    let d = MultivariateNormal::from_scale_tril(&mloc, &l).unwrap();
    let x = d.rsample(&[7]).unwrap();
    let g = grad_of(&x.sum(Kind::Double), &[&mloc, &l]);
    assert_tensors("MVN d sum(x) / d loc", &g[0], &Tensor::full([3], 7.0, (Kind::Double, Device::Cpu)), 1e-12, 0.0);
    // d sum(x) / d L_ij = sum over draws of eps_j (for every row i).
    let eps = Tensor::linalg_solve_triangular(&l.detach(), &(&x - &mloc).detach().unsqueeze(-1), false, true, false).squeeze_dim(-1);
    let eps_sum = eps.sum_dim_intlist(0, false, Kind::Double);
    assert_tensors("MVN d sum(x) / d L", &g[1], &eps_sum.unsqueeze(0).expand([3, 3], false), 1e-9, 1e-9);
}

#[test]
fn gamma_pathwise_gradients() {
    let _g = seeded(8001);
    for &(a, b) in &[(0.6, 1.0), (2.5, 0.5), (7.0, 3.0)] {
        let (al, bl) = (leaf(a, N), leaf(b, N));
        let x = Gamma::new(&al, &bl).unwrap().rsample(&[]).unwrap();
        let g = grad_of(&x.sum(Kind::Double), &[&al, &bl]);
        // E[x] = a / b.
        assert_mc(&format!("Gamma({a},{b}) dE[x]/da"), &g[0], 1.0 / b);
        assert_mc(&format!("Gamma({a},{b}) dE[x]/db"), &g[1], -a / (b * b));
        // E[x^2] = a (a + 1) / b^2.
        let g = grad_of(&x.square().sum(Kind::Double), &[&al]);
        assert_mc(&format!("Gamma({a},{b}) dE[x^2]/da"), &g[0], (2.0 * a + 1.0) / (b * b));
    }
}

#[test]
fn inverse_gamma_pathwise_gradients() {
    let _g = seeded(8002);
    let (a, b) = (5.0, 2.0);
    let (al, bl) = (leaf(a, N), leaf(b, N));
    let x = InverseGamma::new(&al, &bl).unwrap().rsample(&[]).unwrap();
    let g = grad_of(&x.sum(Kind::Double), &[&al, &bl]);
    // E[x] = b / (a - 1).
    assert_mc("InverseGamma dE[x]/da", &g[0], -b / ((a - 1.0) * (a - 1.0)));
    assert_mc("InverseGamma dE[x]/db", &g[1], 1.0 / (a - 1.0));
}

#[test]
fn beta_pathwise_gradients() {
    let _g = seeded(8003);
    for &(a, b) in &[(0.5, 0.8), (2.0, 3.0), (6.0, 1.5)] {
        let (al, bl) = (leaf(a, N), leaf(b, N));
        let x = Beta::new(&al, &bl).unwrap().rsample(&[]).unwrap();
        let g = grad_of(&x.sum(Kind::Double), &[&al, &bl]);
        let s2 = (a + b) * (a + b);
        // E[x] = a / (a + b).
        assert_mc(&format!("Beta({a},{b}) dE[x]/da"), &g[0], b / s2);
        assert_mc(&format!("Beta({a},{b}) dE[x]/db"), &g[1], -a / s2);
        // E[x^2] = a (a + 1) / ((a + b)(a + b + 1)).
        let g = grad_of(&x.square().sum(Kind::Double), &[&al]);
        let s = a + b;
        let exact = ((2.0 * a + 1.0) * s * (s + 1.0) - a * (a + 1.0) * (2.0 * s + 1.0)) / (s * s * (s + 1.0) * (s + 1.0));
        assert_mc(&format!("Beta({a},{b}) dE[x^2]/da"), &g[0], exact);
    }
}

#[test]
fn dirichlet_pathwise_gradients() {
    let _g = seeded(8004);
    let c = [0.7, 2.0, 4.0];
    let c0: f64 = c.iter().sum();
    let conc = Tensor::from_slice(&c).expand([N, 3], false).contiguous().set_requires_grad(true);
    let x = Dirichlet::new(&conc).unwrap().rsample(&[]).unwrap();
    assert_eq!(x.size(), vec![N, 3]);
    for i in 0..3 {
        // E[x_i] = c_i / c0, so dE[x_i]/dc_j = (delta_ij c0 - c_i) / c0^2.
        let g = &grad_of(&x.select(1, i).sum(Kind::Double), &[&conc])[0];
        for j in 0..3 {
            let exact = (if i == j { c0 } else { 0.0 } - c[i as usize]) / (c0 * c0);
            assert_mc(&format!("Dirichlet dE[x_{i}]/dc_{j}"), &g.select(1, j), exact);
        }
    }
}

#[test]
fn student_t_and_others_are_differentiable() {
    let _g = seeded(8005);
    // E[x] = loc for StudentT (df > 1), Laplace, Cauchy: d/dloc = 1 exactly.
    let loc = leaf(0.3, 4);
    for d in [
        StudentT::new(3.0f64, &loc, 2.0f64).unwrap().into_dist(),
        Laplace::new(&loc, 2.0f64).unwrap().into_dist(),
        Cauchy::new(&loc, 2.0f64).unwrap().into_dist(),
    ] {
        let x = d.rsample(&[]).unwrap();
        let g = grad_of(&x.sum(Kind::Double), &[&loc]);
        assert_tensors(&format!("{} d x / d loc", d.name()), &g[0], &Tensor::ones([4], (Kind::Double, Device::Cpu)), 1e-12, 1e-12);
    }
    // Uniform: x = low + u (high - low), so dx/dlow = 1 - u and dx/dhigh = u.
    let (lo, hi) = (leaf(-1.0, 5), leaf(3.0, 5));
    let x = Uniform::new(&lo, &hi).unwrap().rsample(&[]).unwrap();
    let g = grad_of(&x.sum(Kind::Double), &[&lo, &hi]);
    let u = ((&x + 1.0) / 4.0).detach();
    assert_tensors("Uniform dx/dlow", &g[0], &(-&u + 1.0), 1e-12, 1e-12);
    assert_tensors("Uniform dx/dhigh", &g[1], &u, 1e-12, 1e-12);
    // StudentT: d E[x^2] / d scale = 2 scale df / (df - 2), by the pathwise estimate.
    let (df, s) = (6.0, 1.5);
    let sl = leaf(s, N);
    let x = StudentT::new(df, 0.0f64, &sl).unwrap().rsample(&[]).unwrap();
    let g = grad_of(&x.square().sum(Kind::Double), &[&sl]);
    assert_mc("StudentT dE[x^2]/dscale", &g[0], 2.0 * s * df / (df - 2.0));
    // StudentT: the df gradient flows through the chi-square draw: dE[x^2]/d df = -2 s^2/(df-2)^2.
    let dfl = leaf(df, N);
    let x = StudentT::new(&dfl, 0.0f64, s).unwrap().rsample(&[]).unwrap();
    let g = grad_of(&x.square().sum(Kind::Double), &[&dfl]);
    assert_mc("StudentT dE[x^2]/d df", &g[0], -2.0 * s * s / ((df - 2.0) * (df - 2.0)));
    // Exponential / HalfNormal: E[x] = 1/rate, scale sqrt(2/pi).
    let rl = leaf(2.0, N);
    let x = Exponential::new(&rl).unwrap().rsample(&[]).unwrap();
    assert_mc("Exponential dE[x]/drate", &grad_of(&x.sum(Kind::Double), &[&rl])[0], -0.25);
    let sl = leaf(1.3, N);
    let x = HalfNormal::new(&sl).unwrap().rsample(&[]).unwrap();
    assert_mc("HalfNormal dE[x]/dscale", &grad_of(&x.sum(Kind::Double), &[&sl])[0], (2.0 / std::f64::consts::PI).sqrt());
}

/// The general formula of `log N(x; loc, scale)`, written out.
fn normal_lp_by_hand(x: &Tensor, loc: &Tensor, scale: &Tensor) -> Tensor {
    let z = (x - loc) / scale;
    z.square() * -0.5 - scale.log() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

#[test]
fn normal_log_density_of_its_own_draw_matches_the_general_formula_in_value_and_gradient() {
    let _g = seeded(8001);
    let loc = Tensor::from_slice(&[0.5, -1.0, 2.0]).set_requires_grad(true);
    let scale = Tensor::from_slice(&[2.0, 0.3, 1.1]).set_requires_grad(true);
    let d = Normal::new(&loc, &scale).unwrap();
    let x = d.rsample(&[4]).unwrap();
    // the noise path (x is d's own draw) against the formula on the same x
    let fast = d.log_prob(&x).unwrap();
    let slow = normal_lp_by_hand(&x, &loc, &scale);
    assert_tensors("log density of the draw", &fast, &slow, 1e-12, 1e-12);
    let gf = grad_of(&fast.sum(Kind::Double), &[&loc, &scale]);
    let gs = grad_of(&slow.sum(Kind::Double), &[&loc, &scale]);
    // the total derivative in loc is zero; the noise path does not depend on loc at all
    assert!(!gf[0].defined() || scalar(&gf[0].abs().max()) == 0.0);
    assert_tensors("d/dloc", &gs[0], &Tensor::zeros([3], (Kind::Double, Device::Cpu)), 0.0, 1e-10);
    assert_tensors("d/dscale", &gf[1], &gs[1], 1e-10, 1e-10);
    // a detached copy of the draw is a constant: its log density has the score's gradients
    let xd = x.detach();
    let fast = d.log_prob(&xd).unwrap().sum(Kind::Double);
    let slow = normal_lp_by_hand(&xd, &loc, &scale).sum(Kind::Double);
    let gf = grad_of(&fast, &[&loc, &scale]);
    let gs = grad_of(&slow, &[&loc, &scale]);
    assert_tensors("d/dloc at a detached draw", &gf[0], &gs[0], 1e-10, 1e-10);
    assert_tensors("d/dscale at a detached draw", &gf[1], &gs[1], 1e-10, 1e-10);
    assert!(scalar(&gf[0].abs().sum(Kind::Double)) > 1e-3, "the score is not zero");
    // a draw changed in place afterwards is not the draw any more
    let d2 = Normal::new(loc.detach(), scale.detach()).unwrap();
    let y2 = d2.rsample(&[2]).unwrap();
    let mut y2m = y2.shallow_clone();
    let _ = y2m.g_add_scalar_(1.0);
    assert_tensors("after an in-place change", &d2.log_prob(&y2).unwrap(), &normal_lp_by_hand(&y2, &loc.detach(), &scale.detach()), 1e-12, 1e-12);
}

#[test]
fn normal_with_number_parameters_matches_tensor_parameters() {
    let _g = seeded(8002);
    let x = Tensor::from_slice(&[-1.5, 0.0, 0.7, 3.0]);
    for (m, s) in [(0.0f64, 1.0f64), (0.5, 2.0), (-1.0, 0.25)] {
        let by_numbers = Normal::new(m, s).unwrap();
        let by_tensors = Normal::new(Tensor::from(m), Tensor::from(s)).unwrap();
        assert_tensors("log density", &by_numbers.log_prob(&x).unwrap(), &by_tensors.log_prob(&x).unwrap(), 1e-6, 1e-6);
        // expanded beyond the value's shape: the result has the batch shape
        let e = by_numbers.expand(&[3, 4]).unwrap();
        let lp = e.log_prob(&Tensor::from(0.3f64)).unwrap();
        assert_eq!(lp.size(), vec![3, 4]);
        let want = by_tensors.log_prob(&Tensor::from(0.3f64)).unwrap();
        assert!(lp.allclose(&want.expand([3, 4], false), 1e-6, 1e-6, false));
        // and its draws have the batch shape, mean m and sd s
        let draws = e.sample(&[20_000]).unwrap();
        assert_eq!(draws.size(), vec![20_000, 3, 4]);
        assert!((scalar(&draws.mean(Kind::Double)) - m).abs() < 0.01 * s.max(1.0));
    }
}
