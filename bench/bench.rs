//! Benchmark of pyrite's SVI step on the example models, one CPU thread by default.
//!
//! `cargo run --release --example bench -- [--threads N] [--steps N]`
//! (`bench/run.sh` runs this and the Pyro / NumPyro anchors side by side.)

use std::time::Instant;

use pyrite::prelude::*;
use pyrite_examples::gmm;

struct Args {
    threads: i32,
    steps: usize,
}

fn parse() -> Args {
    let mut a = Args { threads: 1, steps: 1000 };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        match argv[i].as_str() {
            "--threads" => a.threads = argv[i + 1].parse().expect("--threads N"),
            "--steps" => a.steps = argv[i + 1].parse().expect("--steps N"),
            _ => {}
        }
        i += 2;
    }
    a
}

/// Times `steps` SVI steps after one warm-up step; µs per step.
fn time_steps(steps: usize, mut step: impl FnMut() -> Result<f64>) -> Result<f64> {
    step()?;
    let t = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / steps as f64)
}

struct Rugged {
    africa: Tensor,
    rugged: Tensor,
    log_gdp: Tensor,
}

fn rugged_model(d: &Rugged) -> Result<()> {
    let a = sample("a", Normal::new(0.0, 10.0)?)?;
    let b_a = sample("bA", Normal::new(0.0, 1.0)?)?;
    let b_r = sample("bR", Normal::new(0.0, 1.0)?)?;
    let b_ar = sample("bAR", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", Uniform::new(0.0, 10.0)?)?;
    let mean = a + b_a * &d.africa + b_r * &d.rugged + b_ar * &d.africa * &d.rugged;
    plate("data", d.rugged.size()[0], |_| observe("obs", Normal::new(&mean, &sigma)?, &d.log_gdp).map(drop))
}

struct Radon {
    floor: Tensor,
    county: Tensor,
    log_radon: Tensor,
    counties: i64,
}

fn radon_model(d: &Radon) -> Result<()> {
    let county_scale = sample("county_scale", HalfNormal::new(1.0)?)?;
    let intercept = sample("intercept", Normal::new(0.0, 1.0)?)?;
    let floor_weight = sample("floor_weight", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", HalfNormal::new(1.0)?)?;
    let effect = plate("counties", d.counties, |_| sample("county_effect", Normal::new(0.0, &county_scale)?))?;
    let mean = intercept + floor_weight * &d.floor + effect.index_select(-1, &d.county);
    plate("data", d.floor.size()[0], |_| observe("obs", Normal::new(&mean, &sigma)?, &d.log_radon).map(drop))
}

fn main() -> Result<()> {
    let args = parse();
    pyrite::tch::set_num_threads(args.threads);
    println!("pyrite SVI step, {} thread(s), {} timed steps after one warm-up", args.threads, args.steps);
    println!("{:<34} {:>12}", "model", "us/step");
    if let Ok(r) = pyrite::data::rugged(None) {
        let d = Rugged { africa: r.cont_africa, rugged: r.rugged, log_gdp: r.log_gdp };
        with_param_store(&new_param_store(), || -> Result<()> {
            let guide = AutoNormal::new(&rugged_model, &d)?;
            let mut svi = Svi::new(&rugged_model, &guide, Optimizer::adam(0.02), TraceElbo::new());
            println!("{:<34} {:>12.1}", "rugged, AutoNormal", time_steps(args.steps, || svi.step(&d))?);
            Ok(())
        })?;
        with_param_store(&new_param_store(), || -> Result<()> {
            let guide = AutoMultivariateNormal::multivariate_normal(&rugged_model, &d)?;
            let mut svi = Svi::new(&rugged_model, &guide, Optimizer::adam(0.02), TraceElbo::new());
            println!("{:<34} {:>12.1}", "rugged, AutoMultivariateNormal", time_steps(args.steps, || svi.step(&d))?);
            Ok(())
        })?;
    } else {
        println!("(rugged skipped: set PYRITE_DATA to the directory with rugged_data.csv)");
    }
    let r = pyrite::data::radon().map_err(|e| PyriteError::Io { path: "radon".into(), problem: e.to_string() })?;
    let d = Radon { floor: r.floor, county: r.county, log_radon: r.log_radon, counties: r.num_counties };
    with_param_store(&new_param_store(), || -> Result<()> {
        let guide = AutoNormal::new(&radon_model, &d)?;
        let mut svi = Svi::new(&radon_model, &guide, Optimizer::adam(0.01), TraceElbo::new());
        println!("{:<34} {:>12.1}", "radon GLMM, AutoNormal", time_steps(args.steps, || svi.step(&d))?);
        Ok(())
    })?;
    let iris = pyrite::data::iris().map_err(|e| PyriteError::Io { path: "iris".into(), problem: e.to_string() })?;
    with_param_store(&new_param_store(), || -> Result<()> {
        let guide = AutoDelta::new(&gmm::blocked, &iris.petal_length)?;
        let mut svi = Svi::new(&gmm::model, &guide, Optimizer::adam(0.001), TraceEnumElbo::new());
        println!("{:<34} {:>12.1}", "iris GMM, AutoDelta + TraceEnum", time_steps(args.steps, || svi.step(&iris.petal_length))?);
        Ok(())
    })?;
    Ok(())
}
