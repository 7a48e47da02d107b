//! NUTS on posteriordb's reference posteriors (`examples/posteriordb/`): each ported posterior
//! is sampled and every parameter checked against Stan's reference (pass: the mean within 0.15
//! reference sds, the sd within 10% of the reference sd, R-hat at most 1.01). Writes
//! `OUT/results.json` (one row per posterior) and prints a table.
//!
//! `cargo run --release --example posteriordb -- --posterior NAME|--all [--eager] [--chains 4]
//! [--warmup 1000] [--samples 1000] [--seed S] [--out DIR] [--check] [--keep-stuck-chains]
//! [--vectorized]`
//!
//! `--sampler pyrite-dense` adapts a dense mass matrix, `pyrite-lowrank` nutpie's low-rank one
//! (`low_rank_mass`). Built with `--features nuts-rs`,
//! `--sampler nuts-rs` (also `nuts-rs-draws`, `nuts-rs-lowrank`: its other mass-matrix
//! adaptations) runs nutpie's sampler on the same potential instead of pyrite's NUTS (one
//! chain; `nutsrs.rs`). Each row counts the gradient evaluations, warm-up included, and gives
//! the minimum bulk ESS per gradient.
//!
//! A posterior whose data or reference file is missing or malformed is one error naming the
//! file and the field, and the run goes on to the next. `--check` exits non-zero unless every
//! posterior run passed.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use pyrite::prelude::*;
use pyrite_examples::posteriordb::{data_dir, derived, ported, stan_names, Data, Reference};
use serde_json::json;

#[cfg(feature = "nuts-rs")]
mod nutsrs;

#[derive(Parser)]
struct Args {
    /// One posterior by posteriordb's name (`kidiq-kidscore_momiq`).
    #[arg(long, conflicts_with = "all")]
    posterior: Vec<String>,
    /// Every ported posterior.
    #[arg(long)]
    all: bool,
    /// The potential evaluated eagerly (libtorch's operations), not compiled.
    #[arg(long)]
    eager: bool,
    #[arg(long, default_value_t = 4)]
    chains: usize,
    #[arg(long, default_value_t = 1000)]
    warmup: usize,
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where results.json goes.
    #[arg(long, default_value = "target/posteriordb")]
    out: PathBuf,
    /// Where the posteriors' data and references are (default: the copies in the project).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Fail unless every posterior passes the reference check.
    #[arg(long)]
    check: bool,
    /// Print every parameter's mean and sd beside the reference's.
    #[arg(long)]
    details: bool,
    /// `pyrite` (pyrite's NUTS), `pyrite-dense` (with a dense mass matrix), `pyrite-lowrank`
    /// (with a low-rank-plus-diagonal one); with `--features
    /// nuts-rs`, `nuts-rs` (nutpie's sampler and its gradient-based diagonal adaptation),
    /// `nuts-rs-draws` (diagonal from the draws alone) or `nuts-rs-lowrank`.
    #[arg(long, default_value = "pyrite")]
    sampler: String,
    /// Where pyrite's chains start: `median` (pyrite's default, Pyro's `init_to_median`: the
    /// median of 15 prior draws) or `uniform` (Stan's: uniform on (-2, 2) in the unconstrained
    /// space).
    #[arg(long, default_value = "median")]
    init: String,
    /// Leave chains found stuck in a minor mode where they are (`relocate_stuck_chains(false)`),
    /// as Stan does.
    #[arg(long)]
    keep_stuck_chains: bool,
    /// pyrite's chains vectorised (`ChainMethod::Vectorized`: with `--eager`, all chains in one
    /// run of a model that broadcasts over them) rather than one after the other.
    #[arg(long)]
    vectorized: bool,
}

/// One posterior's outcome.
struct Row {
    posterior: String,
    ok: bool,
    compiled: bool,
    worst_mean_z: f64,
    worst_sd_ratio: f64,
    min_ess_bulk: f64,
    min_ess_tail: f64,
    max_r_hat: f64,
    divergences: usize,
    seconds: f64,
    /// Seconds of warm-up and draws alone (no layout, initial point or compilation).
    chain_seconds: f64,
    /// Gradient evaluations, warm-up included, over all chains.
    grad_evals: usize,
    /// Chains found stuck in a minor mode part-way through warm-up and moved.
    relocated: usize,
    error: Option<String>,
}

impl Row {
    fn min_ess_per_s(&self) -> f64 {
        self.min_ess_bulk / self.seconds
    }
    fn ess_per_grad(&self) -> f64 {
        self.min_ess_bulk / self.grad_evals as f64
    }
    fn json(&self) -> serde_json::Value {
        json!({
            "posterior": self.posterior, "ok": self.ok, "compiled": self.compiled,
            "worst_mean_z": self.worst_mean_z, "worst_sd_ratio": self.worst_sd_ratio,
            "min_ess_bulk": self.min_ess_bulk, "min_ess_tail": self.min_ess_tail, "max_r_hat": self.max_r_hat,
            "divergences": self.divergences, "seconds": self.seconds, "min_ess_per_s": self.min_ess_per_s(),
            "chain_seconds": self.chain_seconds, "grad_evals": self.grad_evals, "ess_per_grad": self.ess_per_grad(),
            "relocated": self.relocated,
            "error": self.error,
        })
    }
}

/// Runs NUTS on one posterior and checks it against its reference.
fn run_one(name: &str, build: pyrite_examples::posteriordb::Build, dir: &std::path::Path, args: &Args) -> Result<Row> {
    let data = Data::load(dir)?;
    let reference = Reference::load(dir)?;
    let model = build(&data)?;
    let sampled = if args.sampler.starts_with("pyrite") { run_pyrite(&*model, args)? } else { run_nuts_rs(&*model, args)? };
    let mut summary: Vec<(String, PosteriorSummary)> = posterior_summary(&sampled.draws, 0.9, true)?.into_iter().collect();
    // Transformed parameters the reference lists (deterministic sites), from the draws.
    let mut derived_sites: Vec<&str> = reference.names.iter().map(|n| n.split('[').next().unwrap_or(n)).filter(|s| !sampled.draws.contains_key(*s)).collect();
    derived_sites.dedup();
    summary.extend(derived(&model, &sampled.draws, &derived_sites)?);
    // Each reference parameter, found by its Stan name among the sites' values.
    let mut found = std::collections::HashMap::new();
    for (site, s) in &summary {
        for (i, stan) in stan_names(site, &s.shape).into_iter().enumerate() {
            found.insert(stan, (s.mean[i], s.sd[i], s.ess_bulk[i], s.ess_tail[i], s.r_hat[i]));
        }
    }
    let mut row = Row {
        posterior: name.into(),
        ok: true,
        compiled: sampled.compiled,
        worst_mean_z: 0.0,
        worst_sd_ratio: 1.0,
        min_ess_bulk: f64::INFINITY,
        min_ess_tail: f64::INFINITY,
        max_r_hat: f64::NAN,
        divergences: sampled.divergences,
        seconds: sampled.seconds,
        chain_seconds: sampled.chain_seconds,
        grad_evals: sampled.grad_evals,
        relocated: sampled.relocated,
        error: None,
    };
    for (i, stan) in reference.names.iter().enumerate() {
        let Some(&(mean, sd, ess_bulk, ess_tail, r_hat)) = found.get(stan) else {
            return Err(PyriteError::InvalidInput {
                what: stan.clone(),
                problem: format!("the reference's parameter is not a site of the pyrite model of {name}"),
            });
        };
        let z = (mean - reference.mean[i]) / reference.sd[i];
        let ratio = sd / reference.sd[i];
        if args.details {
            println!("  {stan:<20} mean {mean:>11.4} (reference {:>11.4}, z {z:>7.3})  sd {sd:>9.4} (reference {:>9.4})", reference.mean[i], reference.sd[i]);
        }
        if z.abs() > row.worst_mean_z.abs() {
            row.worst_mean_z = z;
        }
        if (ratio - 1.0).abs() > (row.worst_sd_ratio - 1.0).abs() {
            row.worst_sd_ratio = ratio;
        }
        row.min_ess_bulk = row.min_ess_bulk.min(ess_bulk);
        row.min_ess_tail = row.min_ess_tail.min(ess_tail);
        // (NaN while no R-hat is known: `f64::max` keeps the other.)
        row.max_r_hat = row.max_r_hat.max(r_hat);
    }
    row.ok = row.worst_mean_z.abs() <= 0.15 && (row.worst_sd_ratio - 1.0).abs() <= 0.10 && (row.max_r_hat.is_nan() || row.max_r_hat <= 1.01);
    Ok(row)
}

/// What a sampler gave: the latent sites' draws by chain (`[chains, draws, ...]`) and the
/// run's figures.
struct Sampled {
    draws: Samples,
    compiled: bool,
    divergences: usize,
    seconds: f64,
    chain_seconds: f64,
    grad_evals: usize,
    relocated: usize,
}

/// pyrite's NUTS (with a dense mass matrix for `pyrite-dense`, a low-rank one for
/// `pyrite-lowrank`).
fn run_pyrite(model: &dyn Fn(&()) -> Result<()>, args: &Args) -> Result<Sampled> {
    let metric = match args.sampler.as_str() {
        "pyrite-dense" => Metric::Dense,
        "pyrite-lowrank" => Metric::LowRank,
        _ => Metric::Diagonal,
    };
    let init = match args.init.as_str() {
        "uniform" => InitStrategy::Uniform(2.0),
        "median" => InitStrategy::Median,
        other => return Err(PyriteError::InvalidInput { what: "--init".into(), problem: format!("`{other}` is not `uniform` or `median`") }),
    };
    let kernel = Nuts::new(model).compiled(!args.eager).metric(metric).init_strategy(init);
    let mut mcmc = Mcmc::new(kernel)
        .warmup(args.warmup)
        .samples(args.samples)
        .chains(args.chains)
        .seed(args.seed)
        .relocate_stuck_chains(!args.keep_stuck_chains)
        .chain_method(if args.vectorized { ChainMethod::Vectorized } else { ChainMethod::Sequential })
        .progress(false);
    let start = Instant::now();
    mcmc.run(&())?;
    let seconds = start.elapsed().as_secs_f64();
    let (warmup_seconds, sampling_seconds) = mcmc.seconds()?;
    let stats = mcmc.chain_stats()?;
    if args.details {
        for (c, s) in stats.iter().enumerate() {
            let mean_energy = s.potential_energy.iter().sum::<f64>() / s.potential_energy.len().max(1) as f64;
            println!("  chain {c}: mean potential energy {mean_energy:.2}, step size {:.3e}, {} divergences", s.step_size, s.divergences());
        }
    }
    Ok(Sampled {
        draws: mcmc.get_samples_by_chain()?,
        compiled: stats.iter().all(|c| c.compiled),
        divergences: mcmc.divergences()?,
        seconds,
        chain_seconds: warmup_seconds + sampling_seconds,
        grad_evals: stats.iter().map(|c| c.grad_evals).sum(),
        relocated: stats.iter().filter(|c| c.continued_from.is_some()).count(),
    })
}

/// nutpie's sampler (crates.io `nuts-rs`) on the same potential, one chain.
#[cfg(feature = "nuts-rs")]
fn run_nuts_rs(model: &dyn Fn(&()) -> Result<()>, args: &Args) -> Result<Sampled> {
    let adaptation = nutsrs::Adaptation::from_sampler(&args.sampler).ok_or_else(|| unknown_sampler(&args.sampler))?;
    let start = Instant::now();
    let out = nutsrs::run(model, adaptation, args.warmup, args.samples, args.seed, args.eager)?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(Sampled {
        draws: out.samples,
        compiled: out.compiled,
        divergences: out.divergences,
        seconds,
        chain_seconds: out.chain_seconds,
        grad_evals: out.grad_evals,
        relocated: 0,
    })
}

#[cfg(not(feature = "nuts-rs"))]
fn run_nuts_rs(_: &dyn Fn(&()) -> Result<()>, args: &Args) -> Result<Sampled> {
    Err(unknown_sampler(&args.sampler))
}

fn unknown_sampler(name: &str) -> PyriteError {
    let problem = if cfg!(feature = "nuts-rs") {
        format!("`{name}` is not `pyrite`, `pyrite-dense`, `pyrite-lowrank`, `nuts-rs`, `nuts-rs-draws` or `nuts-rs-lowrank`")
    } else if name.starts_with("nuts-rs") {
        format!("`{name}` needs the runner built with `--features nuts-rs`")
    } else {
        format!("`{name}` is not `pyrite`, `pyrite-dense` or `pyrite-lowrank` (build with `--features nuts-rs` for nutpie's sampler)")
    };
    PyriteError::InvalidInput { what: "--sampler".into(), problem }
}

/// A row's JSON with the sampler that made it.
fn with_sampler(mut row: serde_json::Value, sampler: &str) -> serde_json::Value {
    row["sampler"] = json!(sampler);
    row
}

fn example() -> Result<()> {
    let args: Args = pyrite_examples::parse_args()?;
    pyrite::tch::set_num_threads(1);
    let all = ported();
    let chosen: Vec<_> = if args.all {
        all.clone()
    } else {
        let mut chosen = Vec::new();
        for name in &args.posterior {
            match all.iter().find(|(n, _)| n == name) {
                Some(p) => chosen.push(*p),
                None => return Err(PyriteError::InvalidInput { what: "--posterior".into(), problem: format!("`{name}` is not among the ported posteriors") }),
            }
        }
        chosen
    };
    if chosen.is_empty() {
        return Err(PyriteError::InvalidInput { what: "--posterior".into(), problem: "name one posterior, or --all".into() });
    }
    if !matches!(args.sampler.as_str(), "pyrite" | "pyrite-dense" | "pyrite-lowrank") {
        if !cfg!(feature = "nuts-rs") || !args.sampler.starts_with("nuts-rs") {
            return Err(unknown_sampler(&args.sampler));
        }
        if args.chains != 1 {
            return Err(PyriteError::InvalidInput {
                what: "--chains".into(),
                problem: format!("`--sampler {}` runs one chain: pass `--chains 1`", args.sampler),
            });
        }
    }
    let root = args.data_dir.clone().unwrap_or_else(data_dir);
    println!(
        "{:<44} {:>4} {:>8} {:>8} {:>8} {:>8} {:>6} {:>5} {:>8} {:>9} {:>8} {:>9}",
        "posterior", "ok", "mean z", "sd ratio", "ess bulk", "ess tail", "r-hat", "div", "seconds", "ess/s", "grads", "ess/grad"
    );
    let mut rows = Vec::new();
    for (name, build) in chosen {
        let row = run_one(name, build, &root.join(name), &args).unwrap_or_else(|e| Row {
            posterior: name.into(),
            ok: false,
            compiled: false,
            worst_mean_z: f64::NAN,
            worst_sd_ratio: f64::NAN,
            min_ess_bulk: f64::NAN,
            min_ess_tail: f64::NAN,
            max_r_hat: f64::NAN,
            divergences: 0,
            seconds: f64::NAN,
            chain_seconds: f64::NAN,
            grad_evals: 0,
            relocated: 0,
            error: Some(e.to_string()),
        });
        match &row.error {
            Some(e) => println!("{:<44} error: {e}", row.posterior),
            None => println!(
                "{:<44} {:>4} {:>8.3} {:>8.3} {:>8.0} {:>8.0} {:>6.3} {:>5} {:>8.2} {:>9.0} {:>8} {:>9.4}{}{}",
                row.posterior,
                if row.ok { "yes" } else { "NO" },
                row.worst_mean_z,
                row.worst_sd_ratio,
                row.min_ess_bulk,
                row.min_ess_tail,
                row.max_r_hat,
                row.divergences,
                row.seconds,
                row.min_ess_per_s(),
                row.grad_evals,
                row.ess_per_grad(),
                if row.compiled { "" } else { "  (eager)" },
                if row.relocated > 0 { format!("  ({} stuck chain(s) moved)", row.relocated) } else { String::new() }
            ),
        }
        rows.push(row);
    }
    std::fs::create_dir_all(&args.out).map_err(|e| PyriteError::Io { path: args.out.display().to_string(), problem: e.to_string() })?;
    let path = args.out.join("results.json");
    let text = serde_json::to_string_pretty(&rows.iter().map(|r| with_sampler(r.json(), &args.sampler)).collect::<Vec<_>>()).unwrap_or_default();
    std::fs::write(&path, text).map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })?;
    let passed = rows.iter().filter(|r| r.ok).count();
    println!("{passed} of {} passed the reference check; wrote {}", rows.len(), path.display());
    if args.check && passed != rows.len() {
        return Err(PyriteError::Model(format!("{} of {} posteriors failed the reference check", rows.len() - passed, rows.len())));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    pyrite_examples::run(example)
}
