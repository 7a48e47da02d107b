//! Scaling of the GLMM SVI step with data size and number of groups, next to a hand-written tch
//! program that computes the same ELBO estimate, its gradient and the Adam update with no PPL in
//! between (the floor: what the arithmetic costs).
//!
//! `cargo run --release --example scaling -- [--threads N] [--max-n 1000000] [--out DIR] [--device cpu|cuda]`
//!
//! `--n N --groups G` times that one size only (no plot), as `bench/run.sh` does for its table;
//! pyrite's steps run compiled (`Svi::compiled`, the default: the pyrite column then says
//! `compiled us`); `--eager` runs them eagerly.
//!
//! On CUDA every step ends with a device synchronisation, so the times are complete steps.

use std::time::Instant;

use pyrite::prelude::*;
use pyrite_examples::plots::{save, Layer, Legend, Panel, PALETTE};

struct Glmm {
    x: Tensor,
    group: Tensor,
    y: Tensor,
    groups: i64,
}

fn model(d: &Glmm) -> Result<()> {
    let group_scale = sample("group_scale", HalfNormal::new(1.0)?)?;
    let intercept = sample("intercept", Normal::new(0.0, 1.0)?)?;
    let slope = sample("slope", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", HalfNormal::new(1.0)?)?;
    let effect = plate("groups", d.groups, |_| sample("effect", Normal::new(0.0, &group_scale)?))?;
    let mean = intercept + slope * &d.x + effect.index_select(-1, &d.group);
    plate("data", d.x.size()[0], |_| observe("obs", Normal::new(&mean, &sigma)?, &d.y).map(drop))
}

fn simulate(n: i64, groups: i64, device: Device) -> Glmm {
    let opts = (Kind::Float, device);
    let x = Tensor::randn([n], opts);
    let group = Tensor::randint(groups, [n], (Kind::Int64, device));
    let effect = Tensor::randn([groups], opts) * 0.5;
    let y = x.shallow_clone() * -0.7 + 1.5 + effect.index_select(0, &group) + Tensor::randn([n], opts) * 0.8;
    Glmm { x, group, y, groups }
}

/// The same mean-field Normal guide, ELBO, gradient and Adam step written directly in tch.
struct Floor {
    loc: Tensor,
    log_scale: Tensor,
    m: Tensor,
    v: Tensor,
    t: f64,
}

const LN_2PI_HALF: f64 = 0.918_938_533_204_672_8;

impl Floor {
    fn new(groups: i64, device: Device) -> Floor {
        // Unconstrained layout: [group_scale, intercept, slope, sigma, effect_0..effect_G].
        let d = groups + 4;
        let opts = (Kind::Float, device);
        Floor {
            loc: Tensor::zeros([d], opts).set_requires_grad(true),
            log_scale: Tensor::full([d], (0.1f64).ln(), opts).set_requires_grad(true),
            m: Tensor::zeros([2 * d], opts),
            v: Tensor::zeros([2 * d], opts),
            t: 0.0,
        }
    }
    fn step(&mut self, g: &Glmm) {
        let scale = self.log_scale.exp();
        let eps = Tensor::randn_like(&self.loc);
        let z = &self.loc + &scale * &eps;
        // log q(z) for the unconstrained draw, minus the log-Jacobian of exp on the two scales.
        let log_q = (eps.square() * -0.5 - &self.log_scale - LN_2PI_HALF).sum(Kind::Float);
        let group_scale = z.get(0).exp();
        let sigma = z.get(3).exp();
        let log_jac = z.get(0) + z.get(3);
        let (b0, b1) = (z.get(1), z.get(2));
        let effect = z.narrow(0, 4, g.groups);
        // HalfNormal(1) priors on the scales, Normal(0, 1) on the fixed effects.
        let hn = |s: &Tensor| s.square() * -0.5 - LN_2PI_HALF + std::f64::consts::LN_2;
        let prior = hn(&group_scale) + hn(&sigma) + (b0.square() + b1.square()) * -0.5 - 2.0 * LN_2PI_HALF
            + ((&effect / &group_scale).square() * -0.5 - group_scale.log() - LN_2PI_HALF).sum(Kind::Float);
        let mean = &b0 + &b1 * &g.x + effect.index_select(0, &g.group);
        let lik = (((&g.y - mean) / &sigma).square() * -0.5 - sigma.log() - LN_2PI_HALF).sum(Kind::Float);
        let loss = -(prior + lik + log_jac - log_q);
        let grads = Tensor::run_backward(&[&loss], &[&self.loc, &self.log_scale], false, false);
        pyrite::tch::no_grad(|| {
            self.t += 1.0;
            let gflat = Tensor::cat(&grads, 0);
            let _ = self.m.lerp_(&gflat, 0.1);
            let _ = self.v.g_mul_scalar_(0.999).g_add_(&(gflat.square() * 0.001));
            let upd = &self.m / ((&self.v / (1.0 - 0.999f64.powf(self.t))).sqrt() + 1e-8) * (-0.01 / (1.0 - 0.9f64.powf(self.t)));
            let d = self.loc.size()[0];
            let _ = self.loc.g_add_(&upd.narrow(0, 0, d));
            let _ = self.log_scale.g_add_(&upd.narrow(0, d, d));
        });
    }
}

/// Microseconds per call of `f` after one warm-up call, waiting for the GPU's queue to drain.
fn per_step(steps: usize, device: Device, mut f: impl FnMut()) -> f64 {
    let sync = || {
        if let Device::Cuda(i) = device {
            pyrite::tch::Cuda::synchronize(i as i64);
        }
    };
    f();
    sync();
    let t = Instant::now();
    for _ in 0..steps {
        f();
    }
    sync();
    t.elapsed().as_secs_f64() * 1e6 / steps as f64
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str, default: &str| -> String {
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_string())
    };
    let threads: i32 = get("--threads", "1").parse().expect("--threads N");
    let max_n: i64 = get("--max-n", "1000000").parse().expect("--max-n N");
    let out = std::path::PathBuf::from(get("--out", "target/bench"));
    let device = device_from_flag(Some(get("--device", "cpu").as_str()))?;
    // Numbers in the model (`Normal::new(0.0, 1.0)`) become tensors on this device.
    set_default_device(device)?;
    std::fs::create_dir_all(&out).map_err(|e| PyriteError::Io { path: out.display().to_string(), problem: e.to_string() })?;
    pyrite::tch::set_num_threads(threads);
    set_rng_seed(0);
    println!("GLMM SVI step (AutoNormal, Trace_ELBO, Adam), {threads} thread(s), device {device:?}");
    let compiled = !args.iter().any(|a| a == "--eager");
    println!("{:>9} {:>7} {:>14} {:>14} {:>8}", "N", "groups", if compiled { "compiled us" } else { "pyrite us" }, "floor us", "ratio");
    // One size (`--n N --groups G`), or every size up to `--max-n` for 100, 1,000 and 10,000 groups.
    let sizes: Vec<(i64, i64)> = match (args.iter().position(|a| a == "--n"), args.iter().position(|a| a == "--groups")) {
        (Some(_), Some(_)) => vec![(get("--n", "").parse().expect("--n N"), get("--groups", "").parse().expect("--groups G"))],
        _ => [100i64, 1_000, 10_000]
            .iter()
            .flat_map(|&g| std::iter::successors(Some(1_000i64), |n| Some(n * 10)).take_while(|&n| n <= max_n).map(move |n| (n, g)))
            .collect(),
    };
    let single = sizes.len() == 1;
    let mut rows = Vec::new();
    for (n, groups) in sizes {
        {
            let d = simulate(n, groups, device);
            let steps = (200_000_000 / (n + 200_000)).clamp(10, 400) as usize;
            let t_pyrite = with_param_store(&new_param_store(), || -> Result<f64> {
                let guide = AutoNormal::new(&model, &d)?;
                let mut svi = Svi::new(model, &guide, Optimizer::adam(0.01), TraceElbo::new());
                svi.compiled = compiled;
                // The first step makes the params; a compiled step is built at the second.
                svi.step(&d)?;
                let mut err = None;
                let t = per_step(steps, device, || {
                    if let Err(e) = svi.step(&d) {
                        err.get_or_insert(e);
                    }
                });
                match err {
                    Some(e) => Err(e),
                    None => Ok(t),
                }
            })?;
            let mut floor = Floor::new(groups, device);
            let t_floor = per_step(steps, device, || floor.step(&d));
            println!("{n:>9} {groups:>7} {t_pyrite:>14.1} {t_floor:>14.1} {:>8.2}", t_pyrite / t_floor);
            rows.push((n, groups, t_pyrite, t_floor));
        }
    }
    if single {
        return Ok(());
    }
    // N spans decades, and so do the times on the CPU: log axes (linear where a panel's times
    // stay within a factor of ten, as on a GPU).
    let panels: Vec<Panel> = [100i64, 1_000, 10_000]
        .iter()
        .map(|&g| {
            let pts = |pick: fn(&(i64, i64, f64, f64)) -> f64| -> Vec<(f64, f64)> { rows.iter().filter(|r| r.1 == g).map(|r| (r.0 as f64, pick(r))).collect() };
            Panel::new(format!("{g} groups"), "N (observations)", "µs per step")
                .log_x(true)
                .log_y(true)
                .with(Layer::line(pts(|r| r.2), PALETTE[0]).label("pyrite"))
                .with(Layer::line(pts(|r| r.3), PALETTE[1]).label("hand-written tch"))
                .legend(Legend::UpperLeft)
        })
        .collect();
    let name = if device.is_cuda() { "scaling_cuda.png" } else { "scaling.png" };
    let path = save(out.join(name), (1500, 450), (1, 3), &panels)?;
    println!("wrote {}", path.display());
    Ok(())
}
