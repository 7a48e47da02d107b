//! Compiled SVI steps (`Svi::compiled`): with the same seed, a compiled run takes the eager run's
//! steps (the same noise, the same losses and params, to float rounding); it recovers a
//! conjugate posterior; a guide the compiler cannot take, or changed arguments, run eagerly
//! with the eager results.

use pyrite::prelude::*;

use super::common::*;

/// The radon-like hierarchical regression: random intercepts gathered by group, a half-normal
/// scale and a half-normal noise scale.
struct Groups {
    group: Tensor,
    x: Tensor,
    y: Tensor,
    num_groups: i64,
    /// The priors' numbers, as tensors of the data's dtype (made before the model runs: a
    /// tensor made inside it is not compiled).
    zero: Tensor,
    one: Tensor,
    five: Tensor,
}

fn groups_data(kind: Kind) -> Groups {
    let group = Tensor::from_slice(&[0i64, 1, 2, 1, 0, 3, 3, 2, 1, 0, 2, 3, 1, 1, 0]);
    let x = Tensor::linspace(-1.0, 1.0, 15, (kind, Device::Cpu));
    let y = (&x * 0.7 + Tensor::from_slice(&[0.3f64, -0.2, 0.5, 0.1]).to_kind(kind).index_select(0, &group)) + 1.0;
    let c = |v: f64| Tensor::from(v).to_kind(kind);
    Groups { group, x, y, num_groups: 4, zero: c(0.0), one: c(1.0), five: c(5.0) }
}

fn groups_model(d: &Groups) -> Result<()> {
    let scale = sample("scale", HalfNormal::new(&d.one))?;
    let intercept = sample("intercept", Normal::new(&d.zero, &d.five))?;
    let slope = sample("slope", Normal::new(&d.zero, &d.one))?;
    let sigma = sample("sigma", HalfNormal::new(&d.one))?;
    let effect = plate("groups", d.num_groups, |_| sample("effect", Normal::new(&d.zero, &scale)))?;
    let mean = intercept + slope * &d.x + effect.index_select(0, &d.group);
    plate("data", d.x.size()[0], |_| observe("obs", Normal::new(&mean, &sigma)?, &d.y))?;
    Ok(())
}

/// Runs `steps` steps of `svi`, compiled or not, and checks whether the run ended compiled
/// (`ends_compiled`): the losses and the params.
fn run_svi<A: ?Sized>(mut svi: Svi<'_, A>, compiled: bool, ends_compiled: bool, steps: usize, args: &A) -> (Vec<f64>, Vec<(String, Vec<f64>)>) {
    svi.progress = false;
    svi.compiled = compiled;
    let losses = svi.run(steps, args).unwrap();
    assert_eq!(svi.runs_compiled(), ends_compiled, "whether the run ended compiled");
    (losses, snapshot())
}

/// `steps` steps of AutoNormal SVI, compiled or not, from seed `s`: the losses and the params.
fn fit(d: &Groups, compiled: bool, steps: usize, s: u64) -> (Vec<f64>, Vec<(String, Vec<f64>)>) {
    seeded(s, || {
        let guide = AutoNormal::new(&groups_model, d).unwrap();
        run_svi(Svi::new(groups_model, &guide, Optimizer::adam(0.05), TraceElbo::new()), compiled, compiled, steps, d)
    })
}

fn assert_same_run(what: &str, eager: &(Vec<f64>, Vec<(String, Vec<f64>)>), compiled: &(Vec<f64>, Vec<(String, Vec<f64>)>), tol: f64) {
    for (i, (a, b)) in eager.0.iter().zip(&compiled.0).enumerate() {
        assert!((a - b).abs() <= tol * a.abs().max(1.0), "{what}: loss of step {i}: eager {a}, compiled {b}");
    }
    assert_eq!(eager.1.len(), compiled.1.len());
    for ((name, a), (_, b)) in eager.1.iter().zip(&compiled.1) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * x.abs().max(1.0), "{what}: param {name}: eager {x}, compiled {y}");
        }
    }
}

#[test]
fn a_compiled_run_takes_the_eager_runs_steps_in_float64_and_float32() {
    // float64: the kernel computes what libtorch computes, to rounding.
    let d = groups_data(Kind::Double);
    assert_same_run("float64", &fit(&d, false, 60, 11), &fit(&d, true, 60, 11), 1e-9);
    // float32 params: the kernel computes in float64, libtorch in float32; 60 Adam steps keep
    // the two within float32's rounding, amplified a little.
    let d = groups_data(Kind::Float);
    assert_same_run("float32", &fit(&d, false, 60, 12), &fit(&d, true, 60, 12), 2e-4);
}

#[test]
fn a_compiled_fit_recovers_a_conjugate_posterior() {
    // mu ~ Normal(0, 10), x_i ~ Normal(mu, 1): posterior Normal(sum / (n + 0.01), 1 / sqrt(n + 0.01)).
    let x = t64(&[1.2, 2.1, 2.9, 1.7, 2.4, 1.9, 2.2, 1.6]);
    let model = |x: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(0.0, 10.0))?;
        plate("data", 8, |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
        Ok(())
    };
    seeded(4, || {
        let guide = AutoNormal::new(&model, &x).unwrap();
        let optim = Optimizer::adam(0.05).with_schedule(LrSchedule::Exponential { gamma: 0.02f64.powf(1.0 / 3000.0) });
        let mut svi = Svi::new(model, &guide, optim, TraceElbo::new());
        svi.progress = false;
        svi.compiled = true;
        svi.run(3000, &x).unwrap();
        assert!(svi.runs_compiled());
        let n = 8.0 + 0.01;
        let (mean, sd) = (scalar(&x.sum(Kind::Double)) / n, n.powf(-0.5));
        assert_near("posterior mean", scalar(&param_value("AutoNormal.locs.mu")), mean, 0.03);
        assert_near("posterior sd", scalar(&param_value("AutoNormal.scales.mu")), sd, 0.03);
    });
}

#[test]
fn a_multivariate_normal_guide_compiles_and_takes_the_eager_steps() {
    // AutoMultivariateNormal: `tril`, a matrix product (its draw) and a triangular solve (its
    // log-density), in float64.
    let d = groups_data(Kind::Double);
    let run = |compiled: bool| {
        seeded(5, || {
            let guide = AutoMultivariateNormal::new(&groups_model, &d).unwrap();
            run_svi(Svi::new(groups_model, &guide, Optimizer::adam(0.05), TraceElbo::new()), compiled, compiled, 40, &d)
        })
    };
    assert_same_run("AutoMultivariateNormal", &run(false), &run(true), 1e-9);
}

#[test]
fn a_model_the_compiler_cannot_take_runs_eagerly_with_the_eager_results() {
    // `erf` is not among the compiled operations.
    let x = t64(&[0.3, 1.2, 0.8, 1.9, 0.5, 1.1]);
    let model = |x: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(0.0, 2.0))?;
        factor("soft_bound", &(&mu * 0.5).erf())?;
        plate("data", 6, |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
        Ok(())
    };
    let run = |compiled: bool| {
        seeded(8, || {
            let guide = AutoNormal::new(&model, &x).unwrap();
            run_svi(Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new()), compiled, false, 20, &x)
        })
    };
    assert_eq!(run(true), run(false));
}

/// The model reads a draw on the host and branches on it: the two captures (at the params and
/// at the params moved by 0.5) differ, so the step stays eager.
#[test]
fn a_model_branching_on_a_draw_runs_eagerly() {
    let x = t64(&[0.3, 1.2, 0.8, 1.9, 0.5, 1.1]);
    let (one, two) = (c64(1.0), c64(2.0));
    let model = |x: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(0.0, 2.0))?;
        let scale = if mu.double_value(&[]) > 0.0 { &one } else { &two };
        plate("data", 6, |_| observe("obs", Normal::new(&mu, scale)?, x))?;
        Ok(())
    };
    seeded(10, || {
        let guide = AutoDelta::new(&model, &x).unwrap();
        let mut svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new());
        svi.progress = false;
        svi.compiled = true;
        // Start mu just below 0, so that the capture at mu + 0.5 takes the other branch.
        svi.step(&x).unwrap();
        pyrite::core::param_store::lock(&get_param_store()).set("AutoDelta.mu", &Tensor::from(-0.2f32), Constraint::Real).unwrap();
        svi.run(5, &x).unwrap();
        assert!(!svi.runs_compiled());
    });
}

/// Another arguments value (the same values at another address), then a tensor of the
/// arguments changed in place: the compiled step is captured again each time, never misused.
#[test]
fn other_arguments_and_changed_data_are_captured_again() {
    let d = groups_data(Kind::Double);
    let run = |compiled: bool| {
        let other = groups_data(Kind::Double);
        seeded(6, || {
            let guide = AutoNormal::new(&groups_model, &d).unwrap();
            let mut svi = Svi::new(groups_model, &guide, Optimizer::adam(0.05), TraceElbo::new());
            svi.progress = false;
            svi.compiled = compiled;
            let mut losses = svi.run(10, &d).unwrap();
            losses.extend(svi.run(10, &other).unwrap());
            assert_eq!(svi.runs_compiled(), compiled);
            // Changed in place: the same tensor, a new version.
            let _ = other.y.shallow_clone().g_add_scalar_(0.5);
            losses.extend(svi.run(10, &other).unwrap());
            assert_eq!(svi.runs_compiled(), compiled);
            (losses, snapshot())
        })
    };
    assert_same_run("arguments changed", &run(false), &run(true), 1e-9);
}

/// The iris mixture with its cluster summed out (TraceEnum_ELBO, AutoDelta): the enumeration's
/// gathers (`index`, `gather`) and `logsumexp` contractions compile, and the run takes the
/// eager run's steps.
#[test]
fn an_enumerated_mixture_compiles_and_takes_the_eager_steps() {
    use pyrite_examples::models::gmm;
    let x = pyrite::data::iris().unwrap().petal_length;
    let run = |compiled: bool| {
        seeded(9, || {
            let guide = AutoDelta::new(&gmm::blocked, &x).unwrap();
            run_svi(Svi::new(gmm::model, &guide, Optimizer::adam(0.05), TraceEnumElbo::new()), compiled, compiled, 40, &x)
        })
    };
    // float32 params: the kernel computes in float64.
    assert_same_run("iris mixture", &run(false), &run(true), 2e-4);
}

/// A random-intercept regression on 20,000 rows in float64: the fused loops (one pass over the
/// rows forward, one backward, the group gather and the log-density's sum inside them) take the
/// eager steps.
#[test]
fn a_large_regression_with_fused_loops_takes_the_eager_steps() {
    let (n, groups) = (20_000i64, 50i64);
    // Drawn under a seed (holding the generator), so other tests' seeded runs are not disturbed.
    let d = seeded(14, || {
        let group = Tensor::randint(groups, [n], (Kind::Int64, Device::Cpu));
        let x = Tensor::randn([n], (Kind::Double, Device::Cpu));
        let effects = Tensor::randn([groups], (Kind::Double, Device::Cpu)) * 0.5;
        let y = &x * 0.7 + effects.index_select(0, &group) + 1.0 + Tensor::randn([n], (Kind::Double, Device::Cpu)) * 0.3;
        let c = |v: f64| Tensor::from(v);
        Groups { group, x, y, num_groups: groups, zero: c(0.0), one: c(1.0), five: c(5.0) }
    });
    assert_same_run("20,000 rows", &fit(&d, false, 10, 13), &fit(&d, true, 10, 13), 1e-9);
}

#[test]
fn a_guide_the_tracer_refuses_runs_eagerly() {
    // The guide detaches a tensor that requires grad and is not a param (a module's weight read
    // for an initial value): libtorch's tracer refuses it as a constant; the run goes on
    // eagerly, with the eager results.
    let x = t64(&[1.2, 2.1, 2.9, 1.7]);
    let weight = Tensor::from_slice(&[0.5f64]).set_requires_grad(true);
    let model = |x: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(0.0, 10.0))?;
        plate("data", 4, |_| observe("obs", Normal::new(&mu, 1.0)?, x))?;
        Ok(())
    };
    let guide = |_: &Tensor| -> Result<()> {
        let init = weight.detach().reshape([]);
        let loc = param("loc", lazy(move || init.copy()), Constraint::Real)?;
        sample("mu", Normal::new(loc, 0.5)?)?;
        Ok(())
    };
    let run = |compiled: bool| seeded(8, || run_svi(Svi::new(model, guide, Optimizer::adam(0.05), TraceElbo::new()), compiled, false, 10, &x));
    assert_same_run("refused by the tracer", &run(false), &run(true), 1e-12);
}

#[test]
fn compiled_steps_update_like_every_optimizer() {
    // The compiled step updates Adam and ClippedAdam natively on the params' flat buffer; SGD
    // through libtorch. Each run takes the eager run's steps, with a gradient-norm cap and
    // Adam's weight decay too.
    let d = groups_data(Kind::Double);
    type MakeOptimizer = fn() -> Optimizer;
    let optimizers: Vec<(&str, MakeOptimizer)> = vec![
        ("adam, capped norm", || Optimizer::adam(0.05).with_max_grad_norm(5.0)),
        ("adam, weight decay", || {
            let mut o = Optimizer::adam_betas(0.05, 0.8, 0.99);
            o.rule = pyrite::infer::optim::Rule::Adam { beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0.1 };
            o
        }),
        ("clipped adam", || Optimizer::clipped_adam(0.05, 2.0, 0.999)),
        ("sgd with momentum", || Optimizer::sgd(0.001, 0.9)),
    ];
    for (what, optim) in optimizers {
        let run = |compiled: bool| {
            seeded(6, || {
                let guide = AutoNormal::new(&groups_model, &d).unwrap();
                run_svi(Svi::new(groups_model, &guide, optim(), TraceElbo::new()), compiled, compiled, 40, &d)
            })
        };
        assert_same_run(what, &run(false), &run(true), 1e-9);
    }
}
