//! Data-parallel SVI of a random-intercept GLMM on synthetic data, on PyTorch's own distributed
//! engine (c10d's Gloo backend, inside libtorch): every rank holds its block of the rows, the
//! data plate has the whole data set's size, and the ranks average their gradients before every
//! step, so that they keep identical params.
//!
//! `y = slope * x + group_mean[group] + Normal(0, sigma)`, with
//! `group_mean ~ Normal(intercept, group_scale)` for each of `--groups` groups (the random
//! intercepts, centred); `--n` rows, the same for any number of ranks given `--seed`.
//! AutoNormal guide, Adam.
//!
//! Run it under torchrun (`PYTHONPATH` is the directory holding the torch wheel that
//! `scripts/setup-libtorch.sh` installed):
//!
//! ```text
//! cargo build --release --features distributed --example glmm_distributed
//! PYTHONPATH=~/.cache/pyrite/torch-2.13.0 ~/.cache/pyrite/torch-2.13.0/bin/torchrun \
//!     --standalone --nproc-per-node 2 --no-python target/release/examples/glmm_distributed --out out/glmm
//! ```
//!
//! or without Python, as its own launcher: `--spawn N` starts N copies of itself that meet through
//! a FileStore in a temporary directory:
//!
//! ```text
//! target/release/examples/glmm_distributed --spawn 2 --out out/glmm
//! ```
//!
//! Rank 0 prints the time per step and the share spent communicating, and writes
//! `summary.json`: `world_size`, `n`, `groups`, `steps`, `seconds_per_step`, `comm_share`,
//! `sites` (posterior mean and sd of `intercept`, `slope`, `group_scale`, `sigma`) and `truth`.
//! `--check` fails unless each site's posterior mean is within its tolerance of the truth.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use pyrite::distributed::{DistributedSvi, ProcessGroup, Shard};
use pyrite::prelude::*;
use pyrite_examples::{check_positive, mean_sd, parse_args, report_checks, scalar, within, Flags};
use serde_json::json;

/// The example contract's flags and this example's own.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: Flags,
    /// Rows of the synthetic data set.
    #[arg(long, default_value_t = 1_000_000)]
    n: i64,
    /// Groups (random intercepts).
    #[arg(long, default_value_t = 1000)]
    groups: i64,
    /// Rows of the global minibatch of each step, split over the ranks (0: every row each step).
    #[arg(long, default_value_t = 0)]
    batch_size: i64,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.05)]
    lr: f64,
    /// Seconds a rank waits for the others in a collective before failing.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Start N copies of this program that meet through a FileStore (no torchrun needed).
    #[arg(long)]
    spawn: Option<usize>,
}

/// The simulated effects.
const TRUTH: [(&str, f64); 4] = [("intercept", 1.0), ("slope", -0.5), ("group_scale", 0.8), ("sigma", 1.5)];

/// How far each site's posterior mean may be from the truth under `--check`: four times the
/// spread of its estimate for this design (`group_scale / sqrt(groups)` for the intercept,
/// `sigma / sqrt(n)` for the slope, and so on) plus a little for the optimisation.
fn tolerances(n: i64, groups: i64) -> [f64; 4] {
    let (n, g) = (n as f64, groups as f64);
    [4.0 * 0.8 / g.sqrt() + 0.02, 4.0 * 1.5 / n.sqrt() + 0.005, 4.0 * 0.8 / (2.0 * g).sqrt() + 0.02, 4.0 * 1.5 / (2.0 * n).sqrt() + 0.01]
}

/// Environment variables through which `--spawn` tells each copy its place.
const SPAWN_STORE: &str = "PYRITE_SPAWN_STORE";
const SPAWN_RANK: &str = "PYRITE_SPAWN_RANK";
const SPAWN_WORLD: &str = "PYRITE_SPAWN_WORLD_SIZE";

/// One rank's rows: covariate, group, response, and their indices in the whole data set.
struct Rows {
    x: Tensor,
    group: Tensor,
    y: Tensor,
    idx: Tensor,
    /// Rows of the whole data set: the data plate's size.
    total: i64,
    groups: i64,
}

// ANCHOR: model
fn model(d: &Rows) -> Result<()> {
    let intercept = sample("intercept", Normal::new(0.0, 5.0)?)?;
    let slope = sample("slope", Normal::new(0.0, 5.0)?)?;
    let group_scale = sample("group_scale", HalfNormal::new(2.0)?)?;
    let sigma = sample("sigma", HalfNormal::new(2.0)?)?;
    // Centred: each group's mean is drawn around the intercept (with a thousand rows a group,
    // the data pin each group's mean down, and this form mixes far faster than a zero-mean
    // effect added to the intercept).
    let group_mean = plate("groups", d.groups, |_| sample("group_mean", Normal::new(&intercept, &group_scale)?))?;
    let mean = slope * &d.x + group_mean.index_select(-1, &d.group);
    // The plate has the whole data set's size and this rank's rows as its subsample, so that the
    // log-likelihood is scaled by `total / rows` and the ranks' mean loss is the ELBO.
    Plate::new("data", d.total).subsample(&d.idx).run(|_| observe("obs", Normal::new(&mean, &sigma)?, &d.y).map(drop))
}
// ANCHOR_END: model

/// The whole synthetic data set, the same on every rank for a seed: `(x, group, y)`.
fn simulate(n: i64, groups: i64, seed: u64) -> (Tensor, Tensor, Tensor) {
    set_rng_seed(seed);
    let opts = (Kind::Float, Device::Cpu);
    let truth = |name: &str| TRUTH.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).unwrap_or(0.0);
    let x = Tensor::randn([n], opts);
    let group = Tensor::randint(groups, [n], (Kind::Int64, Device::Cpu));
    let effect = Tensor::randn([groups], opts) * truth("group_scale");
    let y = &x * truth("slope") + truth("intercept") + effect.index_select(0, &group) + Tensor::randn([n], opts) * truth("sigma");
    (x, group, y)
}

fn main() -> std::process::ExitCode {
    pyrite_examples::run(example)
}

fn example() -> Result<()> {
    let args: Args = parse_args()?;
    args.common.prepare()?;
    check_positive("--n", args.n)?;
    check_positive("--groups", args.groups)?;
    check_positive("--lr", args.lr)?;
    check_positive("--timeout", args.timeout)?;
    if args.batch_size < 0 {
        return Err(PyriteError::InvalidInput { what: "--batch-size".into(), problem: format!("must be 0 (every row) or positive, got {}", args.batch_size) });
    }
    match args.spawn {
        Some(n) => {
            check_positive("--spawn", n)?;
            spawn(n)
        }
        None => fit(&args),
    }
}

/// This rank's part: join the group, fit, and (rank 0) report.
fn fit(args: &Args) -> Result<()> {
    let flags = &args.common;
    flags.set_threads(1);
    let builder = ProcessGroup::builder().timeout(Duration::from_secs(args.timeout));
    let pg = match std::env::var_os(SPAWN_STORE) {
        Some(store) => {
            let number = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<usize>().ok());
            let (Some(rank), Some(world)) = (number(SPAWN_RANK), number(SPAWN_WORLD)) else {
                return Err(PyriteError::InvalidInput {
                    what: SPAWN_RANK.into(),
                    problem: format!("{SPAWN_STORE} is set, but {SPAWN_RANK} or {SPAWN_WORLD} is missing"),
                });
            };
            builder.file_store(PathBuf::from(store), rank, world)?
        }
        None => builder.from_env()?,
    };
    let (rank, world) = (pg.rank(), pg.world_size());

    // The same data on every rank; each keeps its block of rows.
    let (x, group, y) = simulate(args.n, args.groups, flags.seed);
    let shard = Shard::of(&pg, args.n)?;
    let all = Rows {
        x: shard.rows(&x)?,
        group: shard.rows(&group)?,
        y: shard.rows(&y)?,
        idx: Tensor::arange_start(shard.start, shard.start + shard.len, (Kind::Int64, Device::Cpu)),
        total: args.n,
        groups: args.groups,
    };
    drop((x, group, y));
    // Each rank draws its own guide samples; params start from rank 0's.
    set_rng_seed(flags.seed + 1 + rank as u64);
    let per_rank = if args.batch_size == 0 { shard.len } else { Shard::new(args.batch_size, rank, world)?.len.clamp(1, shard.len) };
    let mut batches = shard.minibatches(per_rank)?;
    let batch = |b: &pyrite::distributed::Minibatch| Rows {
        x: all.x.index_select(0, &b.local),
        group: all.group.index_select(0, &b.local),
        y: all.y.index_select(0, &b.local),
        idx: b.global.shallow_clone(),
        total: all.total,
        groups: all.groups,
    };

    let steps = flags.steps.unwrap_or(1000);
    // Small initial scales: with a million rows the posterior is narrow, and wide guide draws
    // only add gradient noise at the start.
    let guide = AutoNormal::with_init(&model, &all, InitStrategy::Median, 0.01)?;
    let mut svi = DistributedSvi::new(Svi::new(model, &guide, Optimizer::adam(args.lr), TraceElbo::new()), &pg);
    let start = Instant::now();
    let mut loss = f64::NAN;
    for _ in 0..steps {
        loss = if args.batch_size == 0 { svi.step(&all)? } else { svi.step(&batch(&batches.next_batch()))? };
    }
    let seconds = start.elapsed().as_secs_f64();
    let (per_step, comm_share) = (seconds / steps as f64, svi.comm_time().as_secs_f64() / seconds);
    if !svi.is_writer() {
        return Ok(());
    }

    let post = guide.sample_posterior(2000)?;
    let rows_per_step = if args.batch_size == 0 { args.n } else { per_rank * world as i64 };
    println!("glmm_distributed: {world} rank(s), {} rows, {} groups, {steps} steps of {rows_per_step} rows, final loss {loss:.1}", args.n, args.groups);
    println!("  {:.2} ms per step, {:.0} rows/s, {:.1}% of the time communicating", per_step * 1e3, rows_per_step as f64 / per_step, comm_share * 100.0);
    let mut sites = serde_json::Map::new();
    let mut checks = Vec::new();
    println!("  {:<12} {:>9} {:>9} {:>9}", "site", "truth", "mean", "sd");
    for ((name, truth), tol) in TRUTH.iter().zip(tolerances(args.n, args.groups)) {
        let draws = &post[*name];
        let (mean, sd) = (scalar(&draws.mean(Kind::Double)), scalar(&draws.std(true)));
        println!("  {name:<12} {truth:>9.3} {mean:>9.4} {sd:>9.4}");
        sites.insert(name.to_string(), mean_sd(draws));
        checks.push(within(name, mean, *truth, (tol * 1000.0).round() / 1000.0));
    }
    let truth: serde_json::Map<String, serde_json::Value> = TRUTH.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    flags.write_summary(&json!({
        "world_size": world,
        "n": args.n,
        "groups": args.groups,
        "steps": steps,
        "seconds_per_step": per_step,
        "comm_share": comm_share,
        "sites": sites,
        "truth": truth,
    }))?;
    report_checks(flags, &checks)
}

/// `--spawn N`: runs N copies of this program, with the same flags, meeting through a FileStore
/// in a fresh temporary directory; fails if any copy fails (and then stops the others).
fn spawn(n: usize) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| PyriteError::Io { path: "<this program>".into(), problem: e.to_string() })?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("pyrite-spawn-{}-{nanos}", std::process::id()));
    let io_err = |path: &Path, e: std::io::Error| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() };
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let args = without_spawn(std::env::args().skip(1));
    let mut children: Vec<(usize, Child)> = Vec::with_capacity(n);
    let mut outcome = Ok(());
    for rank in 0..n {
        let child =
            Command::new(&exe).args(&args).env(SPAWN_STORE, dir.join("store")).env(SPAWN_RANK, rank.to_string()).env(SPAWN_WORLD, n.to_string()).spawn();
        match child {
            Ok(c) => children.push((rank, c)),
            Err(e) => {
                outcome = Err(io_err(&exe, e));
                break;
            }
        }
    }
    // Waits for every copy; the first failure stops the rest.
    while outcome.is_ok() && !children.is_empty() {
        let mut still = Vec::with_capacity(children.len());
        for (rank, mut child) in children {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => {}
                Ok(Some(status)) => outcome = Err(PyriteError::Model(format!("rank {rank} of {n} failed ({status})"))),
                Ok(None) => still.push((rank, child)),
                Err(e) => outcome = Err(io_err(&exe, e)),
            }
        }
        children = still;
        std::thread::sleep(Duration::from_millis(20));
    }
    for (_, mut child) in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// The command line without `--spawn N` / `--spawn=N`.
fn without_spawn(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for a in args {
        if skip_value {
            skip_value = false;
        } else if a == "--spawn" {
            skip_value = true;
        } else if !a.starts_with("--spawn=") {
            out.push(a);
        }
    }
    out
}
