//! Compiled potentials (`pyrite-compile`): the energy and every gradient equal the eager ones
//! (1e-10 relative in float64, 1e-5 in float32; a nearly singular Cholesky factor to the
//! compiled potential's own tolerance, 1e-6) at many points of models that exercise each
//! kind of operation the compiler knows (elementwise maps with broadcasting, sums, stacks,
//! gathers, logsumexp, the transforms of constrained sites); NUTS on a compiled potential
//! recovers a conjugate posterior; a model the compiler cannot take runs eagerly; kernels are
//! cached by their source.

use std::sync::OnceLock;

use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use pyrite_infer::autoguide::InitStrategy;
use pyrite_mcmc::compiled_potential::CompiledPotential;
use pyrite_mcmc::model_potential::{LatentLayout, ModelPotential};
use pyrite_mcmc::potential::Potential;
use pyrite_mcmc::prelude::*;
use tch::{Device, Kind, Tensor};

/// A kernel cache of this test process's own, so that the first build of each kernel is seen.
fn private_cache() {
    static DIR: OnceLock<()> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pyrite-kernels-test-{}", std::process::id()));
        // SAFETY (of the environment): set once, before any kernel is built by this process.
        unsafe { std::env::set_var("PYRITE_KERNEL_CACHE", &dir) };
    });
    tch::set_num_threads(1);
}

/// Compiles `model`'s potential and compares it with the eager one at the initial point
/// (`init_to_median`) and at `points` random points around it; returns the compiled potential.
fn compare(what: &str, model: &dyn Fn() -> Result<()>, points: usize, tol: f64) -> CompiledPotential {
    compare_from(&InitStrategy::Median, what, model, points, tol)
}

/// As [`compare`], from the initial point `init` gives.
fn compare_from(init: &InitStrategy, what: &str, model: &dyn Fn() -> Result<()>, points: usize, tol: f64) -> CompiledPotential {
    private_cache();
    let (layout, z0) = LatentLayout::discover(model, init).unwrap();
    let mut eager = ModelPotential::new(model, &layout);
    let mut compiled = CompiledPotential::new(&mut eager, &z0).unwrap().unwrap_or_else(|| panic!("{what}: not compiled"));
    let d = z0.len();
    let noise: Vec<f64> = Vec::try_from(Tensor::randn([points as i64, d as i64], (Kind::Double, Device::Cpu)).reshape([-1])).unwrap();
    for p in 0..points {
        let z: Vec<f64> = z0.iter().zip(&noise[p * d..(p + 1) * d]).map(|(a, n)| a + 0.7 * n).collect();
        let (mut ge, mut gc) = (vec![0.0; d], vec![0.0; d]);
        let (ee, ec) = (eager.energy_and_grad(&z, &mut ge).unwrap(), compiled.energy_and_grad(&z, &mut gc).unwrap());
        let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(b.abs()).max(1.0);
        assert!(rel(ee, ec) <= tol, "{what}, point {p}: energy eager {ee}, compiled {ec}");
        let gscale = ge.iter().fold(1.0f64, |m, g| m.max(g.abs()));
        for (i, (a, b)) in ge.iter().zip(&gc).enumerate() {
            assert!((a - b).abs() / gscale <= tol, "{what}, point {p}: gradient {i} eager {a}, compiled {b}");
        }
    }
    compiled
}

fn regression(kind: Kind) -> impl Fn() -> Result<()> {
    let x = Tensor::linspace(-1.0, 2.0, 30, (kind, Device::Cpu));
    let y = &x * 1.5 - 0.3 + Tensor::randn([30], (kind, Device::Cpu)) * 0.4;
    // Tensors the model uses are made before it runs (see `tensors_made_inside_the_model_...`).
    let c = move |v: f64| Tensor::from(v).to_kind(kind);
    let (zero, one, ten) = (c(0.0), c(1.0), c(10.0));
    move || {
        let a = sample("a", Normal::new(&zero, &ten))?;
        let b = sample("b", Normal::new(&zero, &one))?;
        let sigma = sample("sigma", Uniform::new(&zero, &ten))?;
        let mean = a + b * &x;
        let _ = plate("data", 30, |_| observe("obs", Normal::new(&mean, &sigma)?, &y))?;
        Ok(())
    }
}

#[test]
fn a_regression_with_a_bounded_scale_in_float64_and_float32() {
    compare("regression f64", &regression(Kind::Double), 20, 1e-10);
    compare("regression f32", &regression(Kind::Float), 20, 1e-5);
}

/// Random intercepts by group (a gather with `index_select`), a half-normal scale (log
/// transform), a vector site in a plate, an exponential observation scale.
#[test]
fn a_hierarchical_model_with_gathered_group_effects() {
    let groups = Tensor::from_slice(&[0i64, 1, 2, 1, 0, 3, 3, 2, 1, 0, 2, 3]);
    let y = Tensor::randn([12], (Kind::Double, Device::Cpu)) + 1.0;
    let (zero, one, five) = (Tensor::from(0.0f64), Tensor::from(1.0f64), Tensor::from(5.0f64));
    let model = move || -> Result<()> {
        let scale = sample("scale", HalfNormal::new(&one))?;
        let mu = sample("mu", Normal::new(&zero, &five))?;
        let sigma = sample("sigma", Exponential::new(&one))?;
        let effect = plate("groups", 4, |_| sample("effect", Normal::new(&zero, &scale)))?;
        let mean = mu + effect.index_select(0, &groups);
        let _ = plate("data", 12, |_| observe("obs", Normal::new(&mean, &sigma)?, &y))?;
        Ok(())
    };
    compare("hierarchical", &model, 20, 1e-10);
}

/// A two-component mixture likelihood written with `logsumexp` over a broadcast `[n, 2]`
/// table, with a weight in (0, 1) (sigmoid transform) and a vector site.
#[test]
fn a_mixture_likelihood_with_logsumexp() {
    let y = Tensor::cat(&[Tensor::randn([10], (Kind::Double, Device::Cpu)) - 2.0, Tensor::randn([10], (Kind::Double, Device::Cpu)) + 2.0], 0);
    let (zeros, threes, ones) =
        (Tensor::zeros([2], (Kind::Double, Device::Cpu)), Tensor::full([2], 3.0, (Kind::Double, Device::Cpu)), Tensor::ones([], (Kind::Double, Device::Cpu)));
    let model = move || -> Result<()> {
        let p = sample("p", Beta::new(&ones, &ones))?;
        let locs = sample("locs", Normal::new(&zeros, &threes)?.to_event(1)?)?;
        let w = Tensor::stack(&[p.shallow_clone(), 1.0 - &p], 0);
        let z = (y.unsqueeze(-1) - &locs).square() * -0.5 + w.log();
        factor("mixture", &z.logsumexp([-1].as_slice(), false).sum(Kind::Double))?;
        Ok(())
    };
    compare("mixture", &model, 20, 1e-10);
}

/// A vector site read element by element (`select`), by a range (`narrow`) and every other
/// element (`slice` with a step).
#[test]
fn a_vector_site_read_by_select_narrow_and_slice() {
    let x = Tensor::linspace(0.0, 1.0, 8, (Kind::Double, Device::Cpu));
    let y = Tensor::randn([8], (Kind::Double, Device::Cpu));
    let (zeros, ones, one) = (Tensor::zeros([5], (Kind::Double, Device::Cpu)), Tensor::ones([5], (Kind::Double, Device::Cpu)), Tensor::from(1.0f64));
    let model = move || -> Result<()> {
        let b = sample("b", Normal::new(&zeros, &ones)?.to_event(1)?)?;
        let pair = b.narrow(0, 1, 2);
        let every_other = b.slice(0, 0, 5, 2);
        let mean = b.get(0) + pair.get(0) * &x + pair.get(1) * x.square() + every_other.sum(Kind::Double);
        let _ = plate("data", 8, |_| observe("obs", Normal::new(&mean, &one)?, &y))?;
        Ok(())
    };
    compare("select, narrow, slice", &model, 20, 1e-10);
}

/// Running products and sums (`cumprod`, `cumsum`), and the simplex bijection of a Dirichlet
/// site (stick-breaking, a `cumprod`).
#[test]
fn running_products_and_sums_and_a_simplex_site() {
    let counts = Tensor::from_slice(&[3.0f64, 1.0, 4.0]);
    let (zeros, ones, conc) =
        (Tensor::zeros([3], (Kind::Double, Device::Cpu)), Tensor::ones([3], (Kind::Double, Device::Cpu)), Tensor::from_slice(&[1.5f64, 2.0, 1.0]));
    let model = move || -> Result<()> {
        let p = sample("p", Dirichlet::new(&conc))?;
        let u = sample("u", Normal::new(&zeros, &ones)?.to_event(1)?)?;
        let growth = (u.sigmoid() + 0.5).cumprod(0, Kind::Double);
        let drift = u.cumsum(0, Kind::Double);
        factor("counts", &((p.log() * &counts).sum(Kind::Double) + (growth.log() - drift.square() * 0.1).sum(Kind::Double)))?;
        Ok(())
    };
    compare("cumprod, cumsum, simplex", &model, 20, 1e-10);
}

/// A two-component mixture whose assignments are summed out by enumeration: the contraction's
/// gathers and `logsumexp` compile.
#[test]
fn an_enumerated_mixture() {
    let data = Tensor::from_slice(&[-1.2f64, -0.8, 0.9, 1.3, 1.1, -1.0]);
    let (conc, zero, three, one) = (Tensor::from_slice(&[1.0f64, 1.0]), Tensor::from(0.0f64), Tensor::from(3.0f64), Tensor::from(1.0f64));
    let model = move || -> Result<()> {
        let p = sample("p", Dirichlet::new(&conc))?;
        let locs = plate("components", 2, |_| sample("locs", Normal::new(&zero, &three)))?;
        plate("data", 6, |_| {
            let z = SampleSite::new("z", Categorical::new(&p)?).enumerate().run()?;
            observe("x", Normal::new(locs.index(&[Some(&z)]), &one)?, &data).map(drop)
        })
    };
    compare("enumerated mixture", &model, 20, 1e-10);
}

#[test]
fn nuts_on_a_compiled_potential_matches_the_exact_posterior() {
    private_cache();
    let data = Tensor::from_slice(&[0.8f64, 1.9, 1.2, 0.4, 1.5, 2.2, 0.9, 1.1]);
    let (zero, one, two) = (Tensor::from(0.0f64), Tensor::from(1.0f64), Tensor::from(2.0f64));
    let model = |x: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(&zero, &two))?;
        plate("data", 8, |_| observe("obs", Normal::new(&mu, &one), x)).map(drop)
    };
    // It compiles (so the run below samples with the kernel).
    let program = || model(&data);
    let (layout, z0) = LatentLayout::discover(&program, &InitStrategy::Median).unwrap();
    assert!(CompiledPotential::new(&mut ModelPotential::new(&program, &layout), &z0).unwrap().is_some());

    let mut mcmc = Mcmc::new(Nuts::new(&model).compiled(true)).warmup(500).samples(2000).chains(2).seed(3).progress(false);
    mcmc.run(&data).unwrap();
    let draws: Vec<f64> = Vec::try_from(mcmc.get_samples().unwrap()["mu"].reshape([-1])).unwrap();
    // Posterior: precision 1/4 + 8, mean sum(x) / precision.
    let precision: f64 = 0.25 + 8.0;
    let (mean, sd) = (10.0 / precision, precision.powf(-0.5));
    let n = draws.len() as f64;
    let m = draws.iter().sum::<f64>() / n;
    let s = (draws.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let ess = mcmc.summary(0.9).unwrap()["mu"].ess_bulk[0];
    assert!(ess > 500.0, "ESS {ess}");
    assert!((m - mean).abs() < 4.5 * sd / ess.sqrt(), "mean {m} vs {mean}");
    assert!((s - sd).abs() < 4.5 * sd / (2.0 * ess).sqrt(), "sd {s} vs {sd}");
}

/// `erf` is not among the compiler's operations: the potential is not compiled, and NUTS runs
/// the model eagerly (the factor adds zero: the posterior is the conjugate one).
#[test]
fn a_model_the_compiler_cannot_take_runs_eagerly() {
    private_cache();
    let data = Tensor::from_slice(&[3.0f64, 1.0, 4.0, 2.0]);
    let model = |x: &Tensor| -> Result<()> {
        let rate = sample("rate", Gamma::new(Tensor::from(2.0f64), Tensor::from(1.0f64))?)?;
        factor("nothing", &(rate.erf() * 0.0))?;
        plate("data", 4, |_| observe("obs", Poisson::new(&rate)?, x)).map(drop)
    };
    let program = || model(&data);
    let (layout, z0) = LatentLayout::discover(&program, &InitStrategy::Median).unwrap();
    assert!(CompiledPotential::new(&mut ModelPotential::new(&program, &layout), &z0).unwrap().is_none());
    let mut mcmc = Mcmc::new(Nuts::new(&model).compiled(true)).warmup(300).samples(500).seed(1).progress(false);
    mcmc.run(&data).unwrap();
    // Gamma(2 + 10, 1 + 4): mean 12 / 5.
    let mean = mcmc.summary(0.9).unwrap()["rate"].mean[0];
    assert!((mean - 2.4).abs() < 0.25, "posterior mean {mean}");
}

/// Tensors made from host data inside the model (`Tensor::from(2.0)` here, which enters the
/// trace as `aten::zeros` plus a copy the tracer does not see) become constants of the capture:
/// the potential compiles and equals the eager one.
#[test]
fn tensors_made_inside_the_model_compile_as_constants() {
    let y = Tensor::from_slice(&[0.5f64, 1.5]);
    let model = || -> Result<()> {
        let sigma = sample("sigma", Exponential::new(Tensor::from(2.0f64)))?;
        let rate = sample("rate", Gamma::new(Tensor::from(2.0f64), Tensor::full([], 1.5, (Kind::Double, Device::Cpu)))?)?;
        plate("data", 2, |_| observe("obs", Normal::new(rate.log(), &sigma)?, &y)).map(drop)
    };
    compare("host tensors", &model, 10, 1e-10);
}

/// GARCH(1,1) as posteriordb writes it: a Rust loop over the time steps, the variance
/// recursion starting from a value made inside the model (`Tensor::from`). It compiles and
/// equals the eager potential at random points.
#[test]
fn a_garch_recursion_written_as_a_loop_compiles() {
    let y: Vec<f64> = (0..60).map(|t| 0.3 * ((t as f64) * 0.7).sin() + 0.1 * ((t * t) as f64 * 0.13).cos()).collect();
    let y = Tensor::from_slice(&y);
    let model = || -> Result<()> {
        // Every number a tensor made here (float64, as the data).
        let f = |v: f64| Tensor::from(v);
        let mu = sample("mu", Normal::new(f(0.0), f(10.0))?)?;
        let alpha0 = sample("alpha0", HalfNormal::new(f(1.0))?)?;
        let alpha1 = sample("alpha1", Uniform::new(f(0.0), f(1.0))?)?;
        let beta1 = sample("beta1", Uniform::new(f(0.0), f(1.0))?)?;
        let mut sigma = f(0.5);
        for t in 0..60 {
            let _ = observe(&format!("y_{t}"), Normal::new(&mu, &sigma)?, &y.get(t))?;
            let r = y.get(t) - &mu;
            sigma = (&alpha0 + &alpha1 * r.square() + &beta1 * sigma.square()).sqrt();
        }
        Ok(())
    };
    compare("GARCH(1,1)", &model, 10, 1e-10);
}

/// A latent value read on the host steers the model (a branch): a trace follows one branch
/// only. The potential is traced at the initial point and at a second one (each coordinate moved
/// by 0.7); with the branch between them, the two captures differ and the model runs eagerly.
#[test]
fn a_model_branching_on_a_latent_value_is_not_compiled() {
    private_cache();
    let y = Tensor::from_slice(&[0.5f64, 1.5]);
    let (zero, one, two) = (Tensor::from(0.0f64), Tensor::from(1.0f64), Tensor::from(2.0f64));
    let threshold = std::cell::Cell::new(f64::INFINITY);
    let model = || -> Result<()> {
        let mu = sample("mu", Normal::new(&zero, &two))?;
        let scale = if mu.double_value(&[]) > threshold.get() { &one } else { &two };
        plate("data", 2, |_| observe("obs", Normal::new(&mu, scale)?, &y)).map(drop)
    };
    let (layout, z0) = LatentLayout::discover(&model, &InitStrategy::Median).unwrap();
    threshold.set(z0[0] + 0.35);
    assert!(CompiledPotential::new(&mut ModelPotential::new(&model, &layout), &z0).unwrap().is_none());
}

#[test]
fn a_kernel_is_built_once_and_then_found_in_the_cache() {
    let model = regression(Kind::Double);
    let first = compare("regression, first build", &model, 1, 1e-10);
    let again = compare("regression, again", &model, 1, 1e-10);
    // The data differ between the two models (drawn anew), but the kernel's source does not:
    // the constants are passed at run time.
    let _ = first.build_info();
    assert!(again.build_info().0, "the second build came from the cache");
}

/// A one-hidden-layer network (`x W^T + b`, ReLU, a categorical likelihood): transposes read in
/// place by the products (`transpose`, `t`, `permute`), a product large enough to go through
/// libtorch's BLAS and one small enough for loops.
#[test]
fn a_network_through_transposes_and_libtorchs_products() {
    let x = Tensor::randn([64, 24], (Kind::Double, Device::Cpu));
    let y = Tensor::randint(3, [64], (Kind::Int64, Device::Cpu));
    let (zero, one) = (Tensor::from(0.0f64), Tensor::from(1.0f64));
    let model = move || -> Result<()> {
        let prior = |shape: &[i64]| -> Result<DistRef> { Ok(Normal::new(&zero, &one)?.expand(shape)?.to_event(shape.len())?.into_dist()) };
        let w1 = sample("w1", prior(&[32, 24])?)?;
        let b1 = sample("b1", prior(&[32])?)?;
        let w2 = sample("w2", prior(&[3, 32])?)?;
        // 64 x 24 x 32 = 49,152 multiply-adds (libtorch's), then 64 x 32 x 3 (loops).
        let hidden = (x.matmul(&w1.transpose(-1, -2)) + b1.unsqueeze(0)).relu();
        let logits = hidden.matmul(&w2.permute([1, 0])) + hidden.matmul(&w2.tr()) * 0.5;
        let _ = plate("data", 64, |_| observe("obs", Categorical::from_logits(&logits)?, &y))?;
        Ok(())
    };
    compare("network", &model, 10, 1e-10);
}

/// A latent Gaussian process as posteriordb's gp_pois_regr writes it: the Cholesky factor of an
/// exponentiated-quadratic kernel (a function of two latent sites) times standard normal
/// latents, a Poisson likelihood on the log scale; and the same kernel as a
/// `MultivariateNormal` covariance (its own factorisation inside). Energy and gradients equal
/// the eager ones (libtorch's Cholesky and its backward).
#[test]
fn a_gaussian_process_through_a_cholesky_factor() {
    let x = Tensor::linspace(-5.0, 5.0, 9, (Kind::Double, Device::Cpu));
    let k = Tensor::from_slice(&[1.0f64, 0.0, 2.0, 4.0, 3.0, 1.0, 0.0, 2.0, 5.0]);
    let d2 = (x.unsqueeze(1) - x.unsqueeze(0)).square();
    let kernel = std::rc::Rc::new(move |alpha: &Tensor, rho: &Tensor| {
        alpha.square() * (-&d2 / (rho.square() * 2.0)).exp() + Tensor::eye(9, (Kind::Double, Device::Cpu)) * 1e-6
    });
    let kernel2 = kernel.clone();
    let f = |v: f64| Tensor::from(v);
    let non_centred = move || -> Result<()> {
        let rho = sample("rho", Gamma::new(f(25.0), f(4.0))?)?;
        let alpha = sample("alpha", HalfNormal::new(f(2.0))?)?;
        let z = sample("f_tilde", Normal::new(Tensor::zeros([9], (Kind::Double, Device::Cpu)), f(1.0))?.to_event(1))?;
        let l = kernel(&alpha, &rho).linalg_cholesky(false);
        let log_rate = l.matmul(&z);
        let _ = observe("k", Poisson::new(log_rate.exp())?.to_event(1), &k)?;
        Ok(())
    };
    compare("GP, non-centred", &non_centred, 10, 1e-9);
    let y = Tensor::from_slice(&[0.3f64, -0.2, 0.1, 0.8, 0.4, -0.5, 0.0, 0.2, 0.9]);
    let marginal = move || -> Result<()> {
        let rho = sample("rho", Gamma::new(f(25.0), f(4.0))?)?;
        let alpha = sample("alpha", HalfNormal::new(f(2.0))?)?;
        let cov = kernel2(&alpha, &rho) + Tensor::eye(9, (Kind::Double, Device::Cpu)) * 0.1;
        let _ = observe("y", MultivariateNormal::from_covariance(Tensor::zeros([9], (Kind::Double, Device::Cpu)), cov)?, &y)?;
        Ok(())
    };
    compare("GP, marginal", &marginal, 10, 1e-9);
}

/// gp_pois_regr itself: 11 points and a jitter of 1e-10, so the kernel matrix is nearly
/// singular where the length scale is long, and the compiled Cholesky (loops) and libtorch's
/// (LAPACK) round differently by far more than float64's epsilon (4e-8 of the gradient at
/// the initial point `--init median` gave on posteriordb, where the check used to stop the run).
/// They agree to the compiled potential's own tolerance at many points, and NUTS runs compiled.
#[test]
fn an_ill_conditioned_cholesky_factor_agrees_to_the_tolerance_and_runs_compiled() {
    let x = Tensor::from_slice(&[-10.0f64, -8.0, -6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    let k = Tensor::from_slice(&[40.0f64, 37.0, 29.0, 12.0, 4.0, 3.0, 9.0, 19.0, 77.0, 82.0, 33.0]);
    let d2 = (x.unsqueeze(1) - x.unsqueeze(0)).square();
    let jitter = Tensor::eye(11, (Kind::Double, Device::Cpu)) * 1e-10;
    let f = |v: f64| Tensor::from(v);
    let model = move || -> Result<()> {
        let rho = sample("rho", Gamma::new(f(25.0), f(4.0))?)?;
        let alpha = sample("alpha", HalfNormal::new(f(2.0))?)?;
        let z = sample("f_tilde", Normal::new(Tensor::zeros([11], (Kind::Double, Device::Cpu)), f(1.0))?.to_event(1))?;
        let cov = alpha.square() * (-&d2 / (rho.square() * 2.0)).exp() + &jitter;
        let log_rate = cov.linalg_cholesky(false).matmul(&z);
        observe("k", Poisson::new(log_rate.exp())?.to_event(1), &k).map(drop)
    };
    compare("GP, jitter 1e-10", &model, 50, pyrite_compile::policy::tolerance(true));
    let program = |_: &()| model();
    let mut mcmc = Mcmc::new(Nuts::new(&program).init_strategy(InitStrategy::Median)).warmup(100).samples(100).seed(4).progress(false);
    mcmc.run(&()).unwrap();
    assert!(mcmc.chain_stats().unwrap().iter().all(|c| c.compiled));
}

/// A matrix without a Cholesky factor at a point: the compiled potential's energy is not finite
/// there (NUTS rejects such a proposal as divergent, `tests/failures.rs`), where the eager one is
/// libtorch's error; inside the support both agree.
#[test]
fn a_factorisation_that_fails_gives_a_non_finite_energy() {
    let f = |v: f64| Tensor::from(v);
    let model = move || -> Result<()> {
        let rho = sample("rho", Uniform::new(f(-2.0), f(2.0))?)?;
        let one = Tensor::ones([1], (Kind::Double, Device::Cpu));
        let rows = [Tensor::cat(&[one.shallow_clone(), rho.reshape([1])], 0), Tensor::cat(&[rho.reshape([1]), one], 0)];
        let l = Tensor::stack(&rows, 0).linalg_cholesky(false);
        // 2 log L[1, 1] = log(1 - rho^2).
        factor("det", &(l.get(1).get(1).log() * 2.0))?;
        Ok(())
    };
    // From rho = 0 (`init_to_feasible`): a median of prior draws can fall outside (-1, 1), where
    // the model has no factor (about one run in 30).
    let mut compiled = compare_from(&InitStrategy::Feasible, "2x2 correlation", &model, 0, 1e-10);
    let mut grad = vec![0.0];
    // rho = 0.5 (unconstrained logit(2.5 / 4)): the prior's log 4, -log(1 - 0.25), minus the
    // transform's log-Jacobian.
    let at_half = compiled.energy_and_grad(&[(2.5f64 / 1.5).ln()], &mut grad).unwrap();
    let jacobian = (4.0f64 * 0.625 * 0.375).ln();
    assert!((at_half - (4.0f64.ln() - 0.75f64.ln() - jacobian)).abs() < 1e-12, "energy {at_half}");
    // rho = 1.5: no factor.
    let outside = compiled.energy_and_grad(&[7.0f64.ln()], &mut grad);
    assert!(outside.as_ref().map_or(true, |e| !e.is_finite()), "energy {outside:?} where the matrix has no factor");
}

/// A model not defined at the second capture point (an ODE that overflows there, here a log of a
/// negative number: x + 0.7 > 0.5): both potentials are NaN there, which is agreement; the
/// kernel is checked at the first point and compiles.
#[test]
fn a_second_point_where_the_model_is_not_defined_is_no_disagreement() {
    private_cache();
    let f = |v: f64| Tensor::from(v);
    let model = move || -> Result<()> {
        let x = sample("x", Normal::new(f(0.0), f(1.0))?)?;
        factor("edge", &(-&x + 0.5).log())
    };
    let (layout, _) = LatentLayout::discover(&model, &InitStrategy::Median).unwrap();
    let mut eager = ModelPotential::new(&model, &layout);
    let mut compiled = CompiledPotential::new(&mut eager, &[0.0]).unwrap().expect("compiled");
    let (mut ge, mut gc) = (vec![0.0], vec![0.0]);
    let (ee, ec) = (eager.energy_and_grad(&[-0.3], &mut ge).unwrap(), compiled.energy_and_grad(&[-0.3], &mut gc).unwrap());
    assert!((ee - ec).abs() < 1e-12 && (ge[0] - gc[0]).abs() < 1e-12, "eager {ee} {ge:?}, compiled {ec} {gc:?}");
    assert!(!compiled.energy_and_grad(&[0.9], &mut gc).unwrap().is_finite());
}
