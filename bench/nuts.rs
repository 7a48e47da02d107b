//! NUTS speed on the rugged and radon models: the smallest bulk ESS over scalar sites per second
//! of sampling, one CPU thread by default (the figure of merit of `bench/nuts.sh`, which runs
//! `../shared/anchors/numpyro_nuts.py` and `pyro_nuts.py` beside it).
//!
//! `cargo run --release --example bench_nuts -- [--model rugged|radon|all] [--chains N]
//! [--method sequential|vectorized] [--warmup N] [--samples N] [--threads N] [--seed N] [--eager]`
//!
//! The potential runs compiled (`Nuts::compiled`, the default); `--eager` evaluates it with
//! libtorch's operations.

use std::time::Instant;

use clap::Parser;
use pyrite::prelude::*;
use pyrite_examples::models::{radon, rugged};

#[derive(Parser)]
struct Args {
    /// rugged, radon or all.
    #[arg(long, default_value = "all")]
    model: String,
    #[arg(long, default_value_t = 1)]
    chains: usize,
    #[arg(long, default_value = "sequential")]
    method: String,
    #[arg(long, default_value_t = 1000)]
    warmup: usize,
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    #[arg(long, default_value_t = 1)]
    threads: i32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluate the potential eagerly (libtorch's operations), not compiled.
    #[arg(long)]
    eager: bool,
}

/// Runs NUTS and prints one line: times, ESS, ESS/s, R-hat, divergences, leapfrog steps.
fn bench<A, M: Fn(&A) -> Result<()>>(name: &str, model: &M, data: &A, args: &Args) -> Result<()> {
    let method: ChainMethod = args.method.parse()?;
    let mut mcmc = Mcmc::new(Nuts::new(model).compiled(!args.eager))
        .warmup(args.warmup)
        .samples(args.samples)
        .chains(args.chains)
        .chain_method(method)
        .seed(args.seed)
        .progress(false);
    let start = Instant::now();
    mcmc.run(data)?;
    let total = start.elapsed().as_secs_f64();
    let (warmup_s, sampling_s) = mcmc.seconds()?;
    let summary = mcmc.summary(0.89)?;
    let scalar: Vec<(&String, &PosteriorSummary)> = summary.iter().filter(|(_, s)| s.shape.is_empty()).collect();
    let min_ess = scalar.iter().map(|(_, s)| s.ess_bulk[0]).fold(f64::INFINITY, f64::min);
    let max_rhat = scalar.iter().map(|(_, s)| s.r_hat[0]).fold(f64::NAN, f64::max);
    let leapfrogs: usize = mcmc.chain_stats()?.iter().map(|c| c.num_leapfrog.iter().sum::<usize>()).sum();
    println!(
        "pyrite{} nuts {name}: warmup {warmup_s:.2} s, sampling {sampling_s:.2} s ({} chain(s) {} x {}), total {total:.2} s, min ESS {min_ess:.0}, \
         min ESS/s {:.0}, max r_hat {max_rhat:.3}, divergences {}, {:.1} us per leapfrog (sampling)",
        if args.eager { "" } else { " compiled" },
        args.chains,
        args.method,
        args.samples,
        min_ess / sampling_s,
        mcmc.divergences()?,
        1e6 * sampling_s / leapfrogs.max(1) as f64 * if method == ChainMethod::Vectorized { args.chains as f64 } else { 1.0 },
    );
    println!("  {}", scalar.iter().map(|(k, s)| format!("{k} {:.3}+-{:.3}", s.mean[0], s.sd[0])).collect::<Vec<_>>().join(", "));
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    pyrite::tch::set_num_threads(args.threads);
    if args.model == "rugged" || args.model == "all" {
        match pyrite::data::rugged(None) {
            Ok(r) => bench("rugged", &rugged::model, &rugged::Data::from_rugged(&r), &args)?,
            Err(_) => println!("(rugged skipped: set PYRITE_DATA to the directory with rugged_data.csv)"),
        }
    }
    if args.model == "radon" || args.model == "all" {
        let r = pyrite::data::radon().map_err(|e| PyriteError::Io { path: "radon".into(), problem: e.to_string() })?;
        bench("radon", &radon::model, &radon::Radon::from_data(&r), &args)?;
    }
    Ok(())
}
