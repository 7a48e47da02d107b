//! Mixed models: Poisson (log link) and Binomial (logit link) GLMMs recover simulated fixed
//! effects and group scales; the radon model rejects bad input with typed errors and leaves the
//! param store untouched.

use pyrite::core::glmm::{check_column, random_intercepts};
use pyrite::core::param_store::lock;
use pyrite::prelude::*;

struct Sim {
    x: Tensor,
    group: Tensor,
    y: Tensor,
    groups: i64,
    trials: f64,
}

/// Simulates `n` rows in `groups` groups: eta = b0 + b1 x + u[group], u ~ Normal(0, sd).
fn simulate(n: i64, groups: i64, b0: f64, b1: f64, sd: f64, binomial: Option<f64>) -> Sim {
    let opts = (Kind::Float, Device::Cpu);
    let x = Tensor::randn([n], opts);
    let group = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(groups);
    let u = Tensor::randn([groups], opts) * sd;
    let eta = &x * b1 + b0 + u.index_select(0, &group);
    let (y, trials) = match binomial {
        None => (eta.exp().poisson(), 0.0),
        Some(t) => (Tensor::binomial(&Tensor::full([n], t, opts), &eta.sigmoid()), t),
    };
    Sim { x, group, y, groups, trials }
}

fn poisson_model(d: &Sim) -> Result<()> {
    let b0 = sample("b0", Normal::new(0.0, 2.0)?)?;
    let b1 = sample("b1", Normal::new(0.0, 2.0)?)?;
    let sd = sample("group_sd", HalfNormal::new(1.0)?)?;
    let u = random_intercepts("u", &d.group, d.groups, &sd)?;
    let eta = b0 + b1 * &d.x + u;
    plate("data", d.x.size()[0], |_| observe("y", Poisson::new(eta.exp())?, &d.y).map(drop))
}

fn binomial_model(d: &Sim) -> Result<()> {
    let b0 = sample("b0", Normal::new(0.0, 2.0)?)?;
    let b1 = sample("b1", Normal::new(0.0, 2.0)?)?;
    let sd = sample("group_sd", HalfNormal::new(1.0)?)?;
    let u = random_intercepts("u", &d.group, d.groups, &sd)?;
    let eta = b0 + b1 * &d.x + u;
    plate("data", d.x.size()[0], |_| observe("y", Binomial::from_logits(d.trials, eta)?, &d.y).map(drop))
}

fn fit(model: &dyn Fn(&Sim) -> Result<()>, d: &Sim, steps: usize) -> Samples {
    with_param_store(&new_param_store(), || {
        let guide = AutoNormal::new(&model, d).unwrap();
        let mut svi = Svi::new(model, &guide, Optimizer::adam(0.03), TraceElbo::with_particles(4, true));
        svi.progress = false;
        svi.run(steps, d).unwrap();
        guide.median().unwrap()
    })
}

fn value(m: &Samples, k: &str) -> f64 {
    m[k].double_value(&[])
}

#[test]
fn poisson_glmm_recovers_fixed_effects_and_group_scale() {
    let m = seed(11, || {
        let d = simulate(3000, 40, 0.5, 0.3, 0.4, None);
        fit(&poisson_model, &d, 1500)
    });
    // Tolerances: about three posterior sds for 3000 rows and 40 groups.
    assert!((value(&m, "b0") - 0.5).abs() < 0.2, "b0 {}", value(&m, "b0"));
    assert!((value(&m, "b1") - 0.3).abs() < 0.05, "b1 {}", value(&m, "b1"));
    assert!((value(&m, "group_sd") - 0.4).abs() < 0.15, "group_sd {}", value(&m, "group_sd"));
}

#[test]
fn binomial_glmm_recovers_fixed_effects_and_group_scale() {
    let m = seed(12, || {
        let d = simulate(3000, 40, -0.3, 0.8, 0.6, Some(10.0));
        fit(&binomial_model, &d, 1500)
    });
    assert!((value(&m, "b0") + 0.3).abs() < 0.25, "b0 {}", value(&m, "b0"));
    assert!((value(&m, "b1") - 0.8).abs() < 0.06, "b1 {}", value(&m, "b1"));
    assert!((value(&m, "group_sd") - 0.6).abs() < 0.2, "group_sd {}", value(&m, "group_sd"));
}

struct Radon {
    floor: Tensor,
    county: Tensor,
    log_radon: Tensor,
    counties: i64,
}

fn radon_model(d: &Radon) -> Result<()> {
    let n = d.county.size()[0];
    check_column("floor", &d.floor, n)?;
    check_column("log_radon", &d.log_radon, n)?;
    let county_scale = sample("county_scale", HalfNormal::new(1.0)?)?;
    let intercept = sample("intercept", Normal::new(0.0, 1.0)?)?;
    let floor_weight = sample("floor_weight", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", HalfNormal::new(1.0)?)?;
    let effect = random_intercepts("county_effect", &d.county, d.counties, &county_scale)?;
    let mean = intercept + floor_weight * &d.floor + effect;
    plate("data", n, |_| observe("obs", Normal::new(&mean, &sigma)?, &d.log_radon).map(drop))
}

fn radon() -> Radon {
    let r = pyrite::data::radon().unwrap();
    Radon { floor: r.floor, county: r.county, log_radon: r.log_radon, counties: r.num_counties }
}

/// Runs one SVI step on `d` in a fresh store: the error, and the number of params left behind.
fn step_error(d: &Radon) -> (PyriteError, usize) {
    let store = new_param_store();
    with_param_store(&store, || {
        let good = radon();
        let guide = AutoNormal::new(&radon_model, &good).unwrap();
        let mut svi = Svi::new(radon_model, &guide, Optimizer::adam(0.01), TraceElbo::new());
        let err = svi.step(d).unwrap_err();
        (err, lock(&store).len())
    })
}

#[test]
fn radon_county_index_out_of_range_is_a_typed_error() {
    let mut d = radon();
    d.county = d.county.copy();
    let _ = d.county.get(3).fill_(85);
    let (err, left) = step_error(&d);
    assert!(matches!(&err, PyriteError::InvalidInput { what, problem } if what == "county_effect" && problem.contains("85")), "{err}");
    assert_eq!(left, 0, "a failed step must not write params");
}

#[test]
fn radon_nan_reading_is_a_typed_error() {
    let mut d = radon();
    d.log_radon = d.log_radon.copy();
    let _ = d.log_radon.get(10).fill_(f64::NAN);
    let (err, left) = step_error(&d);
    assert!(matches!(&err, PyriteError::NonFinite { site, .. } if site == "log_radon"), "{err}");
    assert_eq!(left, 0);
}

#[test]
fn radon_floor_column_of_the_wrong_length_is_a_typed_error() {
    let mut d = radon();
    d.floor = d.floor.narrow(0, 0, 900);
    let (err, left) = step_error(&d);
    assert!(matches!(&err, PyriteError::InvalidInput { what, .. } if what == "floor"), "{err}");
    assert_eq!(left, 0);
}
