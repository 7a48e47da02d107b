//! Benchmark of pyrite's SVI step on the example models, one CPU thread by default.
//!
//! `cargo run --release --example bench -- [--threads N] [--steps N] [--only LABEL] [--eager]`
//! (the steps run compiled, `Svi::compiled`, the default: the labels end in `(compiled)`, or
//! `(not compiled)` where a step fell back to eager; `--eager` runs them eagerly)
//! (`--only` keeps the rows whose label contains LABEL, e.g. `rugged`, `automultivariate`, `gmm`).
//! (`bench/run.sh` runs this and the Pyro / NumPyro anchors side by side.)

use std::time::Instant;

use pyrite::prelude::*;
use pyrite_examples::models::{gmm, radon, rugged};

struct Args {
    threads: i32,
    steps: usize,
    /// Only the rows whose label contains this, ignoring case (all when empty).
    only: String,
    /// Compiled steps.
    compiled: bool,
}

const RUGGED_NORMAL: &str = "rugged, AutoNormal";
const RUGGED_MVN: &str = "rugged, AutoMultivariateNormal";
const RADON: &str = "radon GLMM, AutoNormal";
const GMM: &str = "iris GMM, AutoDelta + TraceEnum";
const GMM_FLOOR: &str = "iris GMM, hand-written tch (floor)";

impl Args {
    fn runs(&self, label: &str) -> bool {
        label.to_lowercase().contains(&self.only.to_lowercase())
    }
    /// A row's label, marked when compiled steps were asked for: `(compiled)` when they ran,
    /// `(not compiled)` when the step fell back to eager.
    fn label<A: ?Sized>(&self, label: &str, svi: &Svi<'_, A>) -> String {
        match (self.compiled, svi.runs_compiled()) {
            (false, _) => label.to_string(),
            (true, true) => format!("{label} (compiled)"),
            (true, false) => format!("{label} (not compiled)"),
        }
    }
}

fn parse() -> Args {
    let mut a = Args { threads: 1, steps: 1000, only: String::new(), compiled: true };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        match argv[i].as_str() {
            "--threads" => a.threads = argv[i + 1].parse().expect("--threads N"),
            "--steps" => a.steps = argv[i + 1].parse().expect("--steps N"),
            "--only" => a.only = argv[i + 1].clone(),
            "--eager" => {
                a.compiled = false;
                i += 1;
                continue;
            }
            _ => {}
        }
        i += 2;
    }
    a
}

/// The iris GMM's MAP step (what AutoDelta + TraceEnum_ELBO + Adam compute) written directly in
/// tch with no PPL in between: the weights through the stick-breaking map, the scales through
/// `exp`, the cluster of each flower summed out by `logsumexp`, constants of the priors dropped.
struct GmmFloor {
    /// `[stick-breaking logit of p (K - 1 = 1), mu (K), log sigma (K)]`.
    params: Tensor,
    m: Tensor,
    v: Tensor,
    t: f64,
}

impl GmmFloor {
    fn new(init: &SiteValues) -> GmmFloor {
        let p = &init["p"];
        let logit = (p.get(0) / p.get(1)).log().reshape([1]);
        let params = Tensor::cat(&[logit, init["mu"].shallow_clone(), init["sigma"].log()], 0).detach().set_requires_grad(true);
        let zeros = params.zeros_like();
        GmmFloor { m: zeros.zeros_like(), v: zeros, params, t: 0.0 }
    }
    fn step(&mut self, x: &Tensor) -> f64 {
        let k = gmm::K;
        let s = self.params.narrow(0, 0, 1).sigmoid();
        let log_p = Tensor::cat(&[s.log(), s.rsub_scalar(1.0).log()], 0);
        let mu = self.params.narrow(0, 1, k);
        let log_sigma = self.params.narrow(0, 1 + k, k);
        let sigma = log_sigma.exp();
        // Normal(0, 10) on mu, InverseGamma(1, 1) on sigma: -2 log sigma - 1 / sigma.
        let prior = mu.square().sum(Kind::Float) * (-0.005) - log_sigma.sum(Kind::Float) * 2.0 - sigma.reciprocal().sum(Kind::Float);
        let z = (x.unsqueeze(-1) - &mu) / &sigma;
        let comp = z.square() * -0.5 - &log_sigma + &log_p;
        let loss = -(comp.logsumexp([-1].as_slice(), false).sum(Kind::Float) + prior);
        let g = Tensor::run_backward(&[&loss], &[&self.params], false, false).remove(0);
        pyrite::tch::no_grad(|| {
            self.t += 1.0;
            let _ = self.m.lerp_(&g, 0.1);
            let _ = self.v.g_mul_scalar_(0.999).addcmul_(&g, &(&g * 0.001));
            let denom = (&self.v / (1.0 - 0.999f64.powf(self.t))).sqrt() + 1e-8;
            let _ = self.params.addcdiv_(&(&self.m * (-0.001 / (1.0 - 0.9f64.powf(self.t)))), &denom);
        });
        loss.double_value(&[])
    }
}

/// Prints how long the step's capture took (first build or from the kernel cache).
fn print_build<A: ?Sized>(label: &str, svi: &Svi<'_, A>) {
    if let Some((seconds, cached)) = svi.compile_seconds() {
        println!("  {label}: captured, built and checked in {:.0} ms ({})", seconds * 1e3, if cached { "kernel from the cache" } else { "C compiler run" });
    }
}

/// Times `steps` SVI steps after two warm-up steps (a compiled step is built at the second);
/// µs per step.
fn time_steps(steps: usize, mut step: impl FnMut() -> Result<f64>) -> Result<f64> {
    step()?;
    step()?;
    let t = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / steps as f64)
}

fn main() -> Result<()> {
    let args = parse();
    pyrite::tch::set_num_threads(args.threads);
    println!("pyrite SVI step, {} thread(s), {} timed steps after two warm-up steps", args.threads, args.steps);
    println!("{:<34} {:>12}", "model", "us/step");
    if args.runs(RUGGED_NORMAL) || args.runs(RUGGED_MVN) {
        match pyrite::data::rugged(None) {
            Ok(r) => {
                let d = rugged::Data::from_rugged(&r);
                with_param_store(&new_param_store(), || -> Result<()> {
                    if !args.runs(RUGGED_NORMAL) {
                        return Ok(());
                    }
                    let guide = AutoNormal::new(&rugged::model, &d)?;
                    let mut svi = Svi::new(rugged::model, &guide, Optimizer::adam(0.02), TraceElbo::new());
                    svi.compiled = args.compiled;
                    let t = time_steps(args.steps, || svi.step(&d))?;
                    println!("{:<34} {:>12.1}", args.label(RUGGED_NORMAL, &svi), t);
                    print_build(RUGGED_NORMAL, &svi);
                    Ok(())
                })?;
                with_param_store(&new_param_store(), || -> Result<()> {
                    if !args.runs(RUGGED_MVN) {
                        return Ok(());
                    }
                    let guide = AutoMultivariateNormal::new(&rugged::model, &d)?;
                    let mut svi = Svi::new(rugged::model, &guide, Optimizer::adam(0.02), TraceElbo::new());
                    svi.compiled = args.compiled;
                    let t = time_steps(args.steps, || svi.step(&d))?;
                    println!("{:<34} {:>12.1}", args.label(RUGGED_MVN, &svi), t);
                    print_build(RUGGED_MVN, &svi);
                    Ok(())
                })?;
            }
            Err(_) => println!("(rugged skipped: set PYRITE_DATA to the directory with rugged_data.csv)"),
        }
    }
    if args.runs(RADON) {
        let r = pyrite::data::radon().map_err(|e| PyriteError::Io { path: "radon".into(), problem: e.to_string() })?;
        let d = radon::Radon::from_data(&r);
        with_param_store(&new_param_store(), || -> Result<()> {
            let guide = AutoNormal::new(&radon::model, &d)?;
            let mut svi = Svi::new(radon::model, &guide, Optimizer::adam(0.01), TraceElbo::new());
            svi.compiled = args.compiled;
            let t = time_steps(args.steps, || svi.step(&d))?;
            println!("{:<34} {:>12.1}", args.label(RADON, &svi), t);
            print_build(RADON, &svi);
            Ok(())
        })?;
    }
    if args.runs(GMM) {
        let iris = pyrite::data::iris().map_err(|e| PyriteError::Io { path: "iris".into(), problem: e.to_string() })?;
        with_param_store(&new_param_store(), || -> Result<()> {
            let guide = AutoDelta::new(&gmm::blocked, &iris.petal_length)?;
            let mut svi = Svi::new(gmm::model, &guide, Optimizer::adam(0.001), TraceEnumElbo::new());
            svi.compiled = args.compiled;
            let t = time_steps(args.steps, || svi.step(&iris.petal_length))?;
            println!("{:<34} {:>12.1}", args.label(GMM, &svi), t);
            print_build(GMM, &svi);
            Ok(())
        })?;
    }
    if args.runs(GMM_FLOOR) {
        let iris = pyrite::data::iris().map_err(|e| PyriteError::Io { path: "iris".into(), problem: e.to_string() })?;
        let mut floor = GmmFloor::new(&gmm::init_values(&iris.petal_length));
        println!("{:<34} {:>12.1}", GMM_FLOOR, time_steps(args.steps, || Ok(floor.step(&iris.petal_length)))?);
    }
    Ok(())
}
