//! NUTS on the tutorial models, as NumPyro's `MCMC(NUTS(model), num_warmup=1000,
//! num_samples=1000, num_chains=4, chain_method="vectorized")` and `mcmc.print_summary()`:
//!
//! - `radon`: the GLMM beside lme4 and beside AutoNormal, whose posterior sds are too small;
//! - `rugged`: the Pyro introduction's regression beside Pyro's NUTS (Bayesian regression part
//!   2), both autoguides, NUTS on the same posterior written as a potential function, and a
//!   posterior predictive check;
//! - `gmm`: the iris mixture with each flower's cluster summed out of the potential, the
//!   components ordered by mean in every draw, and the clusters drawn back with
//!   `infer_discrete_samples`.
//!
//! Prints the summary table (mean, sd, median, 89% HPDI, bulk ESS, split R-hat) and the number
//! of divergences; writes `summary.json`, `<model>_trace.png` and `<model>_density.png` (a panel
//! per scalar site, a colour per chain) and a comparison plot per model.
//!
//! `cargo run --release --example nuts -- --model radon --out out/nuts/radon`
//!
//! `--check` fails on a divergence after warm-up, a split R-hat of 1.05 or more (with several
//! chains), or posterior means off the references (lme4 for radon, Pyro's NUTS for rugged, the
//! tutorial's MAP for the mixture). `--steps` sets the SVI steps of the autoguide fits.

use std::f64::consts::PI;
use std::path::PathBuf;

use clap::Parser;
use pyrite::mcmc::kernel::ModelTarget;
use pyrite::prelude::*;
use pyrite_examples::models::{gmm, radon, rugged};
use pyrite_examples::plots::{self, Layer, Legend, Panel, RGBColor, PALETTE};
use pyrite_examples::{check_positive, data_error, load_rugged, parse_args, report_checks, scalar, within, Flags};

/// The example contract's flags and this example's own.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: Flags,
    /// The model: `radon`, `rugged` (needs rugged_data.csv) or `gmm` (required).
    #[arg(long)]
    model: Option<String>,
    /// Chains.
    #[arg(long, default_value_t = 4)]
    chains: i64,
    /// Warm-up (adaptation) steps per chain; their draws are discarded.
    #[arg(long, default_value_t = 1000)]
    warmup: i64,
    /// Draws kept per chain.
    #[arg(long, default_value_t = 1000)]
    samples: i64,
    /// How the chains run: `sequential`, `parallel` (a thread each) or `vectorized` (one run of
    /// the model evaluates every chain).
    #[arg(long, default_value = "vectorized")]
    chain_method: String,
    /// The kernel: `nuts`, or `hmc` (Pyro's HMC: trajectory length 2 pi).
    #[arg(long, default_value = "nuts")]
    kernel: String,
    /// Evaluate the potential with eager libtorch operations instead of native code compiled
    /// from the model (`pyrite-compile`, the default; a model it cannot take runs eagerly
    /// anyway, with a note).
    #[arg(long)]
    eager: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    Radon,
    Rugged,
    Gmm,
}

/// The sampler's settings, checked.
#[derive(Clone, Copy)]
struct Settings {
    model: Model,
    warmup: usize,
    samples: usize,
    chains: usize,
    method: ChainMethod,
    /// `sequential`, `parallel` or `vectorized`, as `summary.json` names it.
    method_name: &'static str,
    hmc: bool,
    compiled: bool,
    seed: u64,
}

impl Settings {
    /// `NUTS` or `HMC`.
    fn kernel(&self) -> &'static str {
        if self.hmc {
            "HMC"
        } else {
            "NUTS"
        }
    }
}

impl Args {
    /// Checks the common flags and this example's: positive counts, a known model, chain
    /// method and kernel.
    fn check(&self) -> Result<Settings> {
        self.common.check()?;
        check_positive("--chains", self.chains)?;
        check_positive("--warmup", self.warmup)?;
        check_positive("--samples", self.samples)?;
        let invalid = |what: &str, problem: String| PyriteError::InvalidInput { what: what.into(), problem };
        let model = match self.model.as_deref() {
            Some("radon") => Model::Radon,
            Some("rugged") => Model::Rugged,
            Some("gmm") => Model::Gmm,
            Some(other) => return Err(invalid("--model", format!("`{other}` is not `radon`, `rugged` or `gmm`"))),
            None => return Err(invalid("--model", "missing: name the model, `radon`, `rugged` or `gmm`".into())),
        };
        let method: ChainMethod = self.chain_method.parse().map_err(|e| match e {
            PyriteError::InvalidInput { problem, .. } => invalid("--chain-method", problem),
            e => e,
        })?;
        let method_name = match method {
            ChainMethod::Sequential => "sequential",
            ChainMethod::Parallel => "parallel",
            ChainMethod::Vectorized => "vectorized",
        };
        let hmc = match self.kernel.as_str() {
            "nuts" => false,
            "hmc" => true,
            other => return Err(invalid("--kernel", format!("`{other}` is not `nuts` or `hmc`"))),
        };
        let count = |v: i64| v as usize; // positive, checked above
        Ok(Settings {
            model,
            warmup: count(self.warmup),
            samples: count(self.samples),
            chains: count(self.chains),
            method,
            method_name,
            hmc,
            compiled: !self.eager,
            seed: self.common.seed,
        })
    }
}

fn main() -> std::process::ExitCode {
    pyrite_examples::run(example)
}

fn example() -> Result<()> {
    let args: Args = parse_args()?;
    let s = args.check()?;
    pyrite::compile::set_enabled_by_default(s.compiled);
    let flags = &args.common;
    flags.prepare()?;
    flags.set_threads(1);
    let name = match s.model {
        Model::Radon => "radon",
        Model::Rugged => "rugged",
        Model::Gmm => "gmm",
    };
    println!("{name}: {}, {} chain(s) ({}), {} warm-up steps and {} draws each, seed {}\n", s.kernel(), s.chains, s.method_name, s.warmup, s.samples, s.seed);
    let out = match s.model {
        Model::Radon => radon_nuts(&s, flags)?,
        Model::Rugged => rugged_nuts(&s, flags)?,
        Model::Gmm => gmm_nuts(&s, flags)?,
    };
    let (warmup_s, sampling_s) = out.seconds;
    flags.write_summary(&serde_json::json!({
        "model": name,
        "chains": s.chains,
        "samples": s.samples,
        "chain_method": out.method_name,
        "compiled": s.compiled,
        "divergences": out.divergences,
        "seconds": {"warmup": warmup_s, "sampling": sampling_s},
        "sites": out.sites,
    }))?;
    println!("\nwrote {}", flags.out.join("summary.json").display());
    for path in chain_plots(flags, name, &out.scalars)?.into_iter().chain(out.plots) {
        println!("wrote {}", path.display());
    }
    let mut checks = out.diagnostics;
    checks.extend(out.checks);
    report_checks(flags, &checks)
}

/// What each model's run hands back for the common output.
struct Outcome {
    /// The chain method that ran.
    method_name: &'static str,
    /// `summary_to_json` of the sites.
    sites: serde_json::Value,
    divergences: usize,
    /// Seconds of warm-up and of sampling.
    seconds: (f64, f64),
    /// The scalar sites (and the elements of small vector sites) by chain: `(name, [chains][draws])`.
    scalars: Vec<(String, Vec<Vec<f64>>)>,
    /// Divergences and R-hat.
    diagnostics: Vec<(String, bool)>,
    /// The model's reference figures.
    checks: Vec<(String, bool)>,
    /// The model's own plots.
    plots: Vec<PathBuf>,
}

// ANCHOR: mcmc
/// NUTS (or HMC) on `model` with the command line's settings. Parallel chains each build their
/// own copy of the data with `make_data` (a tensor cannot be shared between threads).
fn run_mcmc<'m, A, M>(s: &Settings, model: &'m M, data: &A, make_data: impl Fn() -> A + Sync) -> Result<Mcmc<ModelTarget<'m, M>>>
where
    M: Fn(&A) -> Result<()> + Sync,
{
    let kernel = if s.hmc { Hmc::new(model).trajectory_length(2.0 * PI) } else { Nuts::new(model).target_accept(0.8).max_tree_depth(10) };
    let kernel = kernel.compiled(s.compiled);
    let mut mcmc = Mcmc::new(kernel).warmup(s.warmup).samples(s.samples).chains(s.chains).chain_method(s.method).seed(s.seed).progress(true);
    match s.method {
        ChainMethod::Parallel => mcmc.run_parallel(make_data)?,
        _ => mcmc.run(data)?,
    }
    Ok(mcmc)
}
// ANCHOR_END: mcmc

/// A tensor's values as plain numbers, from which each parallel chain rebuilds its own copy of
/// the data on its thread.
struct HostTensor {
    values: Vec<f64>,
    shape: Vec<i64>,
    kind: Kind,
}

impl HostTensor {
    fn of(t: &Tensor) -> Result<HostTensor> {
        Ok(HostTensor { values: Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1))?, shape: t.size(), kind: t.kind() })
    }
    fn tensor(&self) -> Tensor {
        Tensor::from_slice(&self.values).reshape(self.shape.as_slice()).to_kind(self.kind)
    }
}

/// Prints each chain's adaptation and trees, the time, divergences, ESS and R-hat of a run, and
/// returns the divergence and R-hat checks. `summaries` are `(site, summary)` pairs.
fn diagnostics(s: &Settings, summaries: &[(&String, &PosteriorSummary)], stats: &[ChainStats], (warmup, sampling): (f64, f64)) -> Vec<(String, bool)> {
    // ANCHOR: chain_stats
    for (c, chain) in stats.iter().enumerate() {
        let n = chain.tree_depth.len().max(1) as f64;
        let depth = chain.tree_depth.iter().sum::<usize>() as f64 / n;
        let saturated = chain.tree_depth.iter().filter(|&&d| d >= 10).count();
        let trees = if s.hmc { String::new() } else { format!(", tree depth {depth:.1} (10 reached {saturated} times)") };
        let leapfrog = chain.num_leapfrog.iter().sum::<usize>() as f64 / n;
        println!(
            "chain {c}: step size {:.3}, acceptance {:.2}{trees}, {leapfrog:.1} leapfrog steps per draw, divergences {} in warm-up and {} after",
            chain.step_size,
            chain.mean_accept_prob(),
            chain.warmup_divergences,
            chain.divergences()
        );
    }
    // ANCHOR_END: chain_stats
    let divergences: usize = stats.iter().map(ChainStats::divergences).sum();
    let min_over = |scalar_only: bool| {
        summaries
            .iter()
            .filter(|(_, p)| !scalar_only || p.shape.is_empty())
            .flat_map(|(n, p)| p.ess_bulk.iter().map(move |&e| (e, n.as_str())))
            .fold((f64::INFINITY, ""), |a, b| if b.0 < a.0 { b } else { a })
    };
    let (ess_scalar, site_scalar) = min_over(true);
    let (ess_all, site_all) = min_over(false);
    println!("warm-up {warmup:.2} s, sampling {sampling:.2} s; divergences after warm-up: {divergences}");
    if ess_scalar.is_finite() {
        println!("min bulk ESS over the scalar sites {ess_scalar:.0} ({site_scalar}), {:.0} per second of sampling", ess_scalar / sampling);
    }
    println!("min bulk ESS over every element {ess_all:.0} ({site_all}), {:.0} per second of sampling", ess_all / sampling);
    let mut checks = vec![(format!("divergences after warm-up: {divergences} (want 0) {}", ok(divergences == 0)), divergences == 0)];
    if s.chains > 1 {
        let (r_hat, site) = summaries.iter().flat_map(|(n, p)| p.r_hat.iter().map(move |&r| (r, n.as_str()))).fold((f64::NEG_INFINITY, ""), |a, b| {
            if b.0 > a.0 || b.0.is_nan() {
                b
            } else {
                a
            }
        });
        println!("max split R-hat {r_hat:.3} ({site})");
        checks.push((format!("max split R-hat {r_hat:.3} ({site}) < 1.05 {}", ok(r_hat < 1.05)), r_hat < 1.05));
    }
    checks
}

fn ok(passed: bool) -> &'static str {
    if passed {
        "ok"
    } else {
        "MISSED"
    }
}

/// The draws of each scalar site, and of each element of sites with at most `max_elements`
/// elements, by chain: `("mu[1]", [chains][draws])`.
fn scalar_chains(by_chain: &Samples, max_elements: i64) -> Vec<(String, Vec<Vec<f64>>)> {
    let mut out = Vec::new();
    for (name, t) in by_chain {
        let size = t.size();
        let (chains, draws) = (size[0], size[1]);
        let elements: i64 = size[2..].iter().product();
        if elements > max_elements {
            continue;
        }
        let flat = t.reshape([chains, draws, elements]);
        for e in 0..elements {
            let label = if size.len() == 2 { name.clone() } else { format!("{name}[{e}]") };
            out.push((label, (0..chains).map(|c| plots::values(&flat.get(c).select(1, e))).collect()));
        }
    }
    out
}

/// A check's tolerance: `frac` posterior sds, or four Monte Carlo standard errors of the
/// difference where that is wider (`ess`: the bulk ESS of the draws; `reference_ess`: the
/// reference's when it is an estimate too).
fn tolerance(sd: f64, frac: f64, ess: f64, reference_ess: Option<f64>) -> f64 {
    let se = sd * (1.0 / ess + reference_ess.map_or(0.0, |e| 1.0 / e)).sqrt();
    round4(f64::max(frac * sd, 4.0 * se))
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// The mean and sd of a site's draws (all chains).
fn mean_sd(t: &Tensor) -> (f64, f64) {
    let t = t.to_kind(Kind::Double);
    (scalar(&t.mean(Kind::Double)), scalar(&t.std(true)))
}

// ---------------------------------------------------------------------------------------------
// radon

fn radon_nuts(s: &Settings, flags: &Flags) -> Result<Outcome> {
    let k = s.kernel();
    let data = pyrite::data::radon().map_err(data_error("radon"))?;
    let d = radon::Radon::from_data(&data);
    let (floor, county, log_radon) = (HostTensor::of(&d.floor)?, HostTensor::of(&d.county)?, HostTensor::of(&data.log_radon)?);
    let num_counties = d.num_counties;
    let make_data = || radon::Radon { floor: floor.tensor(), county: county.tensor(), log_radon: Some(log_radon.tensor()), num_counties };

    // ANCHOR: radon
    let mcmc = run_mcmc(s, &radon::model, &d, make_data)?;
    print!("{}", mcmc.summary_table()?);
    let samples = mcmc.get_samples()?;
    // ANCHOR_END: radon
    let summaries = mcmc.summary(0.89)?;
    let pairs: Vec<_> = summaries.iter().collect();
    let diagnostics = diagnostics(s, &pairs, mcmc.chain_stats()?, mcmc.seconds()?);

    // The same model fitted by SVI with AutoNormal, as examples/radon.rs fits it.
    let steps = flags.steps.unwrap_or(3000);
    set_rng_seed(flags.seed);
    let guide = AutoNormal::new(&radon::model, &d)?;
    let mut svi = Svi::new(radon::model, &guide, Optimizer::adam(0.01), TraceElbo::new());
    svi.run(steps, &d)?;
    let vi = guide.sample_posterior(4000)?;

    println!("\nposterior means and sds: {k} against lme4 and AutoNormal ({steps} SVI steps, Adam lr 0.01)");
    print!("{:<28}", "");
    for title in ["intercept", "floor", "county sd", "residual sd"] {
        print!(" {title:>12}");
    }
    println!();
    let row = |label: &str, f: &dyn Fn(&str, f64) -> f64| {
        print!("{label:<28}");
        for (site, lme4) in radon::LME4 {
            print!(" {:>12.4}", f(site, lme4));
        }
        println!();
    };
    row("lme4 (REML)", &|_, lme4| lme4);
    row("AutoNormal mean", &|site, _| mean_sd(&vi[site]).0);
    row(&format!("{k} mean"), &|site, _| mean_sd(&samples[site]).0);
    row("AutoNormal sd", &|site, _| mean_sd(&vi[site]).1);
    row(&format!("{k} sd"), &|site, _| mean_sd(&samples[site]).1);
    row(&format!("AutoNormal sd / {k} sd"), &|site, _| mean_sd(&vi[site]).1 / mean_sd(&samples[site]).1);
    let ce_vi = plots::values(&vi["county_effect"].to_kind(Kind::Double).std_dim(0, true, false));
    let ce_nuts = plots::values(&samples["county_effect"].to_kind(Kind::Double).std_dim(0, true, false));
    let mut ratio: Vec<f64> = ce_vi.iter().zip(&ce_nuts).map(|(v, n)| v / n).collect();
    ratio.sort_by(f64::total_cmp);
    println!(
        "county effects, AutoNormal sd / {k} sd over the {} counties: median {:.2}, range {:.2} to {:.2}",
        ratio.len(),
        ratio[ratio.len() / 2],
        ratio[0],
        ratio[ratio.len() - 1]
    );

    // Posterior means against lme4: within a quarter of the posterior sd, half for the county
    // sd (a posterior mean, not REML's mode-like estimate, of a right-skewed posterior).
    let mut checks = Vec::new();
    for (site, lme4) in radon::LME4 {
        let (m, sd) = mean_sd(&samples[site]);
        let frac = if site == "county_scale" { 0.5 } else { 0.25 };
        checks.push(within(&format!("{k} mean of {site} vs lme4"), m, lme4, tolerance(sd, frac, summaries[site].ess_bulk[0], None)));
    }

    // The posterior of each global site by NUTS and by AutoNormal, with lme4's estimate; and the
    // county effects' posterior sds.
    let mut panels: Vec<Panel> = radon::LME4
        .iter()
        .map(|&(site, lme4)| {
            let (nuts, vi) = (plots::values(&samples[site]), plots::values(&vi[site]));
            let top = plots::kde(&vi).iter().chain(&plots::kde(&nuts)).map(|p| p.1).fold(0.0, f64::max);
            Panel::new(format!("{site}: NUTS and AutoNormal"), site, "density")
                .with(Layer::line(plots::kde(&nuts), PALETTE[0]).label(k))
                .with(Layer::line(plots::kde(&vi), PALETTE[1]).label("AutoNormal"))
                .with(Layer::line(vec![(lme4, 0.0), (lme4, top)], RGBColor(120, 120, 120)).size(1).label("lme4"))
        })
        .collect();
    let top = ce_nuts.iter().chain(&ce_vi).copied().fold(0.0, f64::max) * 1.05;
    panels.push(
        Panel::new("County effects: posterior sd", k, "AutoNormal")
            .with(Layer::line(vec![(0.0, 0.0), (top, top)], RGBColor(150, 150, 150)).size(1).label("equal"))
            .with(Layer::points(plots::zip(&ce_nuts, &ce_vi), PALETTE[0]).size(4).label("county"))
            .legend(Legend::UpperLeft),
    );
    let plot = plots::save(flags.out.join("radon_nuts_vs_autonormal.png"), (1650, 760), (2, 3), &panels)?;
    Ok(Outcome {
        method_name: s.method_name,
        sites: summary_to_json(&summaries, 0.89),
        divergences: mcmc.divergences()?,
        seconds: mcmc.seconds()?,
        scalars: scalar_chains(&mcmc.get_samples_by_chain()?, 1),
        diagnostics,
        checks,
        plots: vec![plot],
    })
}

// ---------------------------------------------------------------------------------------------
// rugged

/// Pyro's NUTS on the same model (Bayesian regression part 2: one chain, 1000 draws after 200
/// warm-up steps): mean and sd of each site.
const PYRO_NUTS: [(&str, f64, f64); 5] =
    [("a", 9.1821, 0.1355), ("bA", -1.8477, 0.2178), ("bR", -0.1830, 0.0781), ("bAR", 0.3483, 0.1275), ("sigma", 0.9520, 0.0520)];

// ANCHOR: potential
/// The rugged regression's potential energy `U(z) = -log p(log_gdp, a, bA, bR, bAR, sigma)`
/// written by hand over `z = (a, bA, bR, bAR, s)`: `sigma = 10 sigmoid(s)` maps the real line
/// onto the support of sigma's Uniform(0, 10) prior, so the log-Jacobian of that map is added.
fn rugged_potential(d: &rugged::Data) -> impl Fn(&Tensor) -> Result<Tensor> + '_ {
    move |z: &Tensor| {
        let (a, b_a, b_r, b_ar, s) = (z.get(0), z.get(1), z.get(2), z.get(3), z.get(4));
        let sigma = s.sigmoid() * 10.0;
        let log_prior = Normal::new(0.0, 10.0)?.log_prob(&a)?
            + Normal::new(0.0, 1.0)?.log_prob(&Tensor::stack(&[&b_a, &b_r, &b_ar], 0))?.sum(Kind::Float)
            + Uniform::new(0.0, 10.0)?.log_prob(&sigma)?;
        let log_jacobian = 10f64.ln() + s.log_sigmoid() + (-&s).log_sigmoid();
        let mean = a + b_a * &d.is_cont_africa + b_r * &d.ruggedness + b_ar * &d.is_cont_africa * &d.ruggedness;
        let y = d.log_gdp.as_ref().ok_or_else(|| PyriteError::Model("the potential needs the observed log GDP".into()))?;
        let log_likelihood = Normal::new(&mean, &sigma)?.log_prob(y)?.sum(Kind::Float);
        Ok(-(log_prior + log_jacobian + log_likelihood))
    }
}
// ANCHOR_END: potential

fn rugged_nuts(s: &Settings, flags: &Flags) -> Result<Outcome> {
    let k = s.kernel();
    let data = load_rugged(flags)?;
    let d = rugged::Data::from_rugged(&data);
    let (africa, ruggedness, log_gdp) = (HostTensor::of(&d.is_cont_africa)?, HostTensor::of(&d.ruggedness)?, HostTensor::of(&data.log_gdp)?);
    let make_data = || rugged::Data { is_cont_africa: africa.tensor(), ruggedness: ruggedness.tensor(), log_gdp: Some(log_gdp.tensor()) };

    let mcmc = run_mcmc(s, &rugged::model, &d, make_data)?;
    print!("{}", mcmc.summary_table()?);
    let summaries = mcmc.summary(0.89)?;
    let pairs: Vec<_> = summaries.iter().collect();
    let diagnostics = diagnostics(s, &pairs, mcmc.chain_stats()?, mcmc.seconds()?);
    let samples = mcmc.get_samples()?;

    // Posterior predictive: the model without observations, run once per posterior draw.
    // ANCHOR: predictive
    let unobserved = rugged::Data { is_cont_africa: d.is_cont_africa.shallow_clone(), ruggedness: d.ruggedness.shallow_clone(), log_gdp: None };
    let predictive = Predictive::from_samples(&rugged::model, &samples).return_sites(&["obs"]).call(&unobserved)?;
    let obs = &summary(&predictive)["obs"];
    // ANCHOR_END: predictive
    let inside = data.log_gdp.ge_tensor(&obs.q05.to_kind(Kind::Float)).logical_and(&data.log_gdp.le_tensor(&obs.q95.to_kind(Kind::Float)));
    println!("posterior predictive: {:.0}% of the countries inside the 90% band", 100.0 * scalar(&inside.to_kind(Kind::Double).mean(Kind::Double)));

    // The same posterior from the hand-written potential (threads are for models: the potential
    // kernel runs its chains one after the other or vectorised).
    // ANCHOR: potential_run
    let init = Tensor::zeros([5], (Kind::Float, Device::Cpu));
    let method = if s.method == ChainMethod::Parallel { ChainMethod::Sequential } else { s.method };
    let kernel = Nuts::potential(rugged_potential(&d), &init);
    let mut by_hand = Mcmc::new(kernel).warmup(s.warmup).samples(s.samples).chains(s.chains).chain_method(method).seed(s.seed);
    by_hand.run()?;
    let z = &by_hand.get_samples()?["z"];
    // ANCHOR_END: potential_run
    let (w, sm) = by_hand.seconds()?;
    println!(
        "NUTS on the hand-written potential ({}): warm-up {w:.2} s, sampling {sm:.2} s, divergences {}",
        if method == ChainMethod::Vectorized { "vectorized" } else { "sequential" },
        by_hand.divergences()?
    );
    let z_sites: Vec<Tensor> = vec![z.select(1, 0), z.select(1, 1), z.select(1, 2), z.select(1, 3), z.select(1, 4).sigmoid() * 10.0];

    // Both autoguides, as examples/rugged.rs fits them (its default seed 1, 1000 steps of Adam
    // with lr 0.02).
    let steps = flags.steps.unwrap_or(1000);
    let mut guides: Vec<(&str, Samples, Samples)> = Vec::new();
    for name in ["AutoNormal", "AutoMultivariateNormal"] {
        set_rng_seed(1);
        let store = new_param_store();
        let fit = with_param_store(&store, || -> Result<(Samples, Samples)> {
            if name == "AutoNormal" {
                let guide = AutoNormal::new(&rugged::model, &d)?;
                Svi::new(rugged::model, &guide, Optimizer::adam(0.02), TraceElbo::new()).run(steps, &d)?;
                Ok((guide.median()?, guide.sample_posterior(4000)?))
            } else {
                let guide = AutoMultivariateNormal::new(&rugged::model, &d)?;
                Svi::new(rugged::model, &guide, Optimizer::adam(0.02), TraceElbo::new()).run(steps, &d)?;
                Ok((guide.median()?, guide.sample_posterior(4000)?))
            }
        })?;
        guides.push((name, fit.0, fit.1));
    }

    println!("\nposterior mean (median for the autoguides) and sd; autoguides after {steps} SVI steps, Adam lr 0.02");
    print!("{:<36}", "");
    for (site, _, _) in PYRO_NUTS {
        print!(" {site:>15}");
    }
    println!();
    let row = |label: &str, f: &dyn Fn(usize, &str) -> (f64, f64)| {
        print!("{label:<36}");
        for (i, (site, _, _)) in PYRO_NUTS.iter().enumerate() {
            let (m, sd) = f(i, site);
            print!(" {:>15}", format!("{m:.3} ± {sd:.3}"));
        }
        println!();
    };
    row("Pyro NUTS (tutorial)", &|i, _| (PYRO_NUTS[i].1, PYRO_NUTS[i].2));
    row(&format!("pyrite {k}"), &|_, site| mean_sd(&samples[site]));
    row("pyrite NUTS, hand-written potential", &|i, _| mean_sd(&z_sites[i]));
    for (name, median, draws) in &guides {
        row(name, &|_, site| (scalar(&median[site].to_kind(Kind::Double)), mean_sd(&draws[site]).1));
    }

    // Means within a quarter of the posterior sd of Pyro's, sds within 15% (Pyro's 1000 draws
    // counted as 500 effective ones); the hand-written potential's means likewise against the
    // model's.
    let mut checks = Vec::new();
    let z_summary = by_hand.summary(0.89)?;
    for (i, &(site, mean, sd)) in PYRO_NUTS.iter().enumerate() {
        let (m, s_) = mean_sd(&samples[site]);
        let ess = summaries[site].ess_bulk[0];
        checks.push(within(&format!("{k} mean of {site} vs Pyro's NUTS"), m, mean, tolerance(sd, 0.25, ess, Some(500.0))));
        let sd_tol = round4(sd * f64::max(0.15, 4.0 * (0.5 / ess + 0.5 / 500.0).sqrt()));
        checks.push(within(&format!("{k} sd of {site} vs Pyro's NUTS"), s_, sd, sd_tol));
        let tol = tolerance(sd, 0.25, ess, Some(z_summary["z"].ess_bulk[i]));
        checks.push(within(&format!("potential-function NUTS mean of {site} vs {k} on the model"), mean_sd(&z_sites[i]).0, m, tol));
    }

    // The tutorial's cross-sections of the posterior: NUTS against the two autoguides.
    let v = |t: &Tensor| plots::values(t);
    let cross = |x: &str, y: &str| {
        let mut p = Panel::new(format!("Cross-section of the posterior: {x} and {y}"), x, y).legend(Legend::UpperRight);
        p = p.with(Layer::points(plots::zip(&v(&samples[x]), &v(&samples[y])), RGBColor(60, 60, 60)).size(2).alpha(0.25).label(k));
        for (i, (name, _, draws)) in guides.iter().enumerate() {
            p = p.with(Layer::points(plots::zip(&v(&draws[x]), &v(&draws[y])), PALETTE[i]).size(2).alpha(0.25).label(*name));
        }
        p
    };
    let plot = plots::save(flags.out.join("rugged_cross_sections_nuts.png"), (1300, 560), (1, 2), &[cross("bA", "bR"), cross("bR", "bAR")])?;
    Ok(Outcome {
        method_name: s.method_name,
        sites: summary_to_json(&summaries, 0.89),
        divergences: mcmc.divergences()?,
        seconds: mcmc.seconds()?,
        scalars: scalar_chains(&mcmc.get_samples_by_chain()?, 1),
        diagnostics,
        checks,
        plots: vec![plot],
    })
}

// ---------------------------------------------------------------------------------------------
// gmm

/// The tutorial's MAP (examples/gmm_iris.rs), components ordered by mean: weights, means, scales.
const GMM_MAP: [(&str, [f64; 2]); 3] = [("p", [0.333, 0.667]), ("mu", [1.462, 4.905]), ("sigma", [0.178, 0.820])];

// ANCHOR: relabel
/// The mixture's components are exchangeable, so chains may settle on different labellings
/// (and a chain could swap them): in every draw, order the components by their mean.
fn order_components(by_chain: &Samples) -> Samples {
    let order = by_chain["mu"].argsort(-1, false);
    by_chain.iter().map(|(name, t)| (name.clone(), t.gather(-1, &order, false))).collect()
}
// ANCHOR_END: relabel

fn gmm_nuts(s: &Settings, flags: &Flags) -> Result<Outcome> {
    let kernel = s.kernel();
    let data = pyrite::data::iris().map_err(data_error("iris"))?.petal_length;
    let host = HostTensor::of(&data)?;
    // The mixture picks each flower's parameters with `mu.index(&[z])`, which indexes the
    // leading dim: it does not broadcast over vectorised chains, which then evaluate the model
    // chain by chain (pyrite notes it once).
    let mcmc = run_mcmc(s, &gmm::model, &data, || host.tensor())?;
    let raw = mcmc.get_samples_by_chain()?;
    let larger_first = (0..s.chains as i64)
        .filter(|&c| {
            let mu = raw["mu"].get(c).to_kind(Kind::Double).mean_dim(0, false, Kind::Double);
            mu.double_value(&[0]) > mu.double_value(&[1])
        })
        .count();
    let raw_r_hat = posterior_summary(&raw, 0.89, true)?.values().flat_map(|p| p.r_hat.clone()).fold(f64::NEG_INFINITY, f64::max);
    println!("chains that labelled the larger-mean component 0: {larger_first} of {}; max split R-hat as sampled {raw_r_hat:.2}", s.chains);
    println!("with each draw's components ordered by mean:");
    // ANCHOR: gmm
    let by_chain = order_components(&mcmc.get_samples_by_chain()?);
    let summaries = posterior_summary(&by_chain, 0.89, true)?;
    print!("{}", format_summary(&summaries, 0.89));
    println!("\nNumber of divergences: {}", mcmc.divergences()?);
    // Each flower's cluster, drawn from its conditional posterior given each posterior draw.
    let draws: Samples = by_chain.iter().map(|(name, t)| (name.clone(), t.flatten(0, 1))).collect();
    let z = &infer_discrete_samples(&gmm::model, &data, &draws, -2, 1.0)?["z"];
    // ANCHOR_END: gmm
    let pairs: Vec<_> = summaries.iter().collect();
    let diagnostics = diagnostics(s, &pairs, mcmc.chain_stats()?, mcmc.seconds()?);

    // P(flower in the larger-mean cluster): setosa (the first 50) should be in the small one.
    let p_large = plots::values(&z.to_kind(Kind::Double).mean_dim(0, false, Kind::Double));
    let size_large: f64 = p_large.iter().sum();
    let uncertain = p_large.iter().filter(|&&p| p > 0.05 && p < 0.95).count();
    let setosa_max = p_large[..50].iter().copied().fold(0.0, f64::max);
    let others_min = p_large[50..].iter().copied().fold(1.0, f64::min);
    println!(
        "clusters drawn by infer_discrete_samples for the {} draws: posterior mean sizes {:.1} (small mean) and {:.1} (large mean); \
         {uncertain} flowers with 0.05 < P(large) < 0.95; P(large) at most {setosa_max:.3} for the 50 setosa, at least {others_min:.3} for the other 100",
        z.size()[0],
        150.0 - size_large,
        size_large
    );
    println!("tutorial MAP (components ordered by mean): p = (0.333, 0.667), mu = (1.462, 4.905), sigma = (0.178, 0.820)");

    // Posterior means within half a posterior sd of the MAP (the scales' posteriors are skewed
    // right, so their means sit above it); each species in its cluster with probability 0.95.
    let mut checks = Vec::new();
    for (site, map) in GMM_MAP {
        for (k, want) in map.iter().enumerate() {
            let (m, sd) = mean_sd(&by_chain[site].select(-1, k as i64));
            checks.push(within(&format!("{kernel} mean of {site}[{k}] vs the MAP"), m, *want, tolerance(sd, 0.5, summaries[site].ess_bulk[k], None)));
        }
    }
    let species_ok = setosa_max <= 0.05 && others_min >= 0.95;
    checks.push((format!("setosa in the small cluster and the others in the large one, each with P >= 0.95: {species_ok} {}", ok(species_ok)), species_ok));

    // The sites' summary, with the clusters' (the mean of `z` is P(large) per flower).
    let mut sites = summary_to_json(&summaries, 0.89);
    let z_by_chain: Samples = [("z".to_string(), z.reshape([s.chains as i64, s.samples as i64, -1]))].into_iter().collect();
    if let (Some(obj), Some(z_json)) = (sites.as_object_mut(), summary_to_json(&posterior_summary(&z_by_chain, 0.89, true)?, 0.89).get("z")) {
        obj.insert("z".into(), z_json.clone());
    }

    let index: Vec<f64> = (0..p_large.len()).map(|i| i as f64).collect();
    let clusters = Panel::new(
        "P(flower in the larger-mean cluster), from infer_discrete_samples",
        "flower index (0-49 setosa, 50-99 versicolor, 100-149 virginica)",
        "posterior probability",
    )
    .with(Layer::points(plots::zip(&index, &p_large), PALETTE[0]).size(4))
    .y_range(-0.05, 1.05);
    let plot = plots::save(flags.out.join("gmm_clusters_nuts.png"), (1000, 480), (1, 1), &[clusters])?;
    Ok(Outcome {
        method_name: s.method_name,
        sites,
        divergences: mcmc.divergences()?,
        seconds: mcmc.seconds()?,
        scalars: scalar_chains(&by_chain, 2),
        diagnostics,
        checks,
        plots: vec![plot],
    })
}

// ---------------------------------------------------------------------------------------------
// plots

/// `<model>_trace.png` (each draw against its index) and `<model>_density.png` (a kernel
/// density estimate), a panel per scalar site and a colour per chain.
fn chain_plots(flags: &Flags, model: &str, scalars: &[(String, Vec<Vec<f64>>)]) -> Result<Vec<PathBuf>> {
    let n = scalars.len().max(1);
    let cols = if n <= 4 { 2 } else { 3 };
    let rows = n.div_ceil(cols);
    let size = (cols as u32 * 560, rows as u32 * 360);
    let label = |c: usize, first: bool, layer: Layer| if first { layer.label(format!("chain {c}")) } else { layer };
    let trace: Vec<Panel> = scalars
        .iter()
        .enumerate()
        .map(|(i, (name, chains))| {
            let layers = chains.iter().enumerate().map(|(c, draws)| {
                let pts = draws.iter().enumerate().map(|(j, &v)| (j as f64, v)).collect();
                label(c, i == 0, Layer::line(pts, PALETTE[c % PALETTE.len()]).size(1).alpha(0.6))
            });
            Panel::new(format!("{name}: trace"), "draw", name.as_str()).with_all(layers.collect::<Vec<_>>()).legend(Legend::UpperRight)
        })
        .collect();
    let density: Vec<Panel> = scalars
        .iter()
        .enumerate()
        .map(|(i, (name, chains))| {
            let layers = chains.iter().enumerate().map(|(c, draws)| label(c, i == 0, Layer::line(plots::kde(draws), PALETTE[c % PALETTE.len()])));
            Panel::new(format!("{name}: posterior density"), name.as_str(), "density").with_all(layers.collect::<Vec<_>>()).legend(Legend::UpperRight)
        })
        .collect();
    Ok(vec![
        plots::save(flags.out.join(format!("{model}_trace.png")), size, (rows, cols), &trace)?,
        plots::save(flags.out.join(format!("{model}_density.png")), size, (rows, cols), &density)?,
    ])
}
