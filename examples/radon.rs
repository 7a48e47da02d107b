//! The radon GLMM (Minnesota indoor radon, Gelman & Hill): log radon with a floor fixed effect
//! and county random intercepts, fitted by SVI with AutoNormal and compared with lme4 and with
//! TensorFlow Probability's variational fit from the seed tutorial.
//!
//! `cargo run --release --example radon -- --out out/radon`
//!
//! With `--compare` it instead fits three models by NUTS (complete pooling, county random
//! intercepts, and random intercepts with the county's log uranium as a predictor), compares them
//! by PSIS-LOO and WAIC, prints the comparison tables and writes `compare.json`, and the draws
//! and pointwise log-likelihoods of each as `.npz` files for numpy and ArviZ.
//!
//! `cargo run --release --example radon -- --compare --out out/radon`

use std::time::Instant;

use clap::Parser;
use pyrite::prelude::*;
use pyrite_examples::models::radon::{model, model_pooled, Radon};
use pyrite_examples::plots::{self, Layer, Panel, RGBColor, PALETTE};
use pyrite_examples::{data_error, final_loss, mean_sd, parse_args, report_checks, scalar, within, Flags};

/// The example contract's flags and this example's own.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: Flags,
    /// Compare three models by PSIS-LOO and WAIC on NUTS draws instead of the SVI fit; writes
    /// compare.json. `--check` then fails unless the uranium model ranks first and complete
    /// pooling last.
    #[arg(long)]
    compare: bool,
    /// Run the SVI steps eagerly (libtorch's operations) instead of as native code compiled
    /// from the model and guide (`Svi::compiled`, the default).
    #[arg(long)]
    eager: bool,
}

// ANCHOR: model_uranium
/// The same model with the county's log uranium as a group-level predictor.
fn model_uranium(d: &(Radon, Tensor)) -> Result<()> {
    let (d, uranium) = d;
    let county_scale = sample("county_scale", HalfNormal::new(1.0)?)?;
    let intercept = sample("intercept", Normal::new(0.0, 1.0)?)?;
    let floor_weight = sample("floor_weight", Normal::new(0.0, 1.0)?)?;
    let uranium_weight = sample("uranium_weight", Normal::new(0.0, 1.0)?)?;
    let sigma = sample("sigma", HalfNormal::new(1.0)?)?;
    let county_effect = plate("counties", d.num_counties, |_| sample("county_effect", Normal::new(0.0, &county_scale)?))?;
    let county_mean = county_effect + uranium_weight * uranium;
    let mean = intercept + floor_weight * &d.floor + county_mean.index_select(-1, &d.county);
    plate("data", d.floor.size()[0], |_| sample_obs("obs", Normal::new(&mean, &sigma)?, d.log_radon.as_ref()).map(drop))
}
// ANCHOR_END: model_uranium

fn check_input(d: &Radon) -> Result<()> {
    let n = d.county.size()[0];
    if d.floor.size() != vec![n] {
        return Err(PyriteError::InvalidInput { what: "floor".into(), problem: format!("has shape {:?}, expected [{n}]", d.floor.size()) });
    }
    let (lo, hi) = (d.county.min().int64_value(&[]), d.county.max().int64_value(&[]));
    if lo < 0 || hi >= d.num_counties {
        return Err(PyriteError::InvalidInput {
            what: "county".into(),
            problem: format!("index {} out of range 0..{}", if lo < 0 { lo } else { hi }, d.num_counties),
        });
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    pyrite_examples::run(example)
}

fn example() -> Result<()> {
    let Args { common: flags, compare, eager } = parse_args()?;
    pyrite::compile::set_enabled_by_default(!eager);
    flags.prepare()?;
    flags.set_threads(1);
    let steps = flags.steps.unwrap_or(3000);
    set_rng_seed(flags.seed);
    let data = pyrite::data::radon().map_err(data_error("radon"))?;
    let d = Radon::from_data(&data);
    check_input(&d)?;
    if compare {
        return compare_models(&flags, &data);
    }

    // ANCHOR: fit
    let guide = AutoNormal::new(&model, &d)?;
    let mut svi = Svi::new(model, &guide, Optimizer::adam(0.01), TraceElbo::new());
    let losses = svi.run(steps, &d)?;
    // ANCHOR_END: fit
    let post = guide.sample_posterior(2000)?;
    let m = |k: &str| scalar(&post[k].mean(Kind::Double));
    let sd = |k: &str| scalar(&post[k].std(true));

    println!("radon GLMM, {} readings, {} counties, {steps} SVI steps, final loss {:.1}", data.len(), d.num_counties, final_loss(&losses));
    println!("{:<22} {:>10} {:>10} {:>10} {:>12}", "", "intercept", "floor", "county sd", "residual sd");
    println!("{:<22} {:>10.3} {:>10.3} {:>10.4} {:>12.4}", "lme4 (REML)", 1.462, -0.693, 0.3282, 0.7556);
    println!("{:<22} {:>10.3} {:>10.3} {:>10.4} {:>12}", "TFP VI (seed)", 1.435, -0.670, 0.287, "1 (fixed)");
    println!("{:<22} {:>10.3} {:>10.3} {:>10.4} {:>12.4}", "pyrite AutoNormal", m("intercept"), m("floor_weight"), m("county_scale"), m("sigma"));

    report_checks(
        &flags,
        &[
            within("intercept vs lme4", m("intercept"), 1.462, 0.02),
            within("floor vs lme4", m("floor_weight"), -0.693, 0.02),
            within("county sd vs lme4", m("county_scale"), 0.3282, 0.03),
            within("residual sd vs lme4", m("sigma"), 0.7556, 0.02),
        ],
    )?;
    let ce = &post["county_effect"];
    let ce_mean: Vec<f64> = Vec::try_from(ce.mean_dim(0, false, Kind::Double)).unwrap_or_default();
    let ce_sd: Vec<f64> = Vec::try_from(ce.to_kind(Kind::Double).std_dim(0, true, false)).unwrap_or_default();
    let summary = serde_json::json!({
        "intercept": mean_sd(&post["intercept"]),
        "floor_weight": mean_sd(&post["floor_weight"]),
        "county_scale": mean_sd(&post["county_scale"]),
        "sigma": mean_sd(&post["sigma"]),
        "county_effect": {"mean": ce_mean, "sd": ce_sd},
        "final_loss": final_loss(&losses),
        "compiled": svi.runs_compiled(),
        "sd": {"intercept": sd("intercept"), "floor_weight": sd("floor_weight")},
    });

    // Second model: county log uranium as a group-level predictor.
    let du = (
        Radon {
            log_radon: d.log_radon.as_ref().map(|t| t.shallow_clone()),
            floor: d.floor.shallow_clone(),
            county: d.county.shallow_clone(),
            num_counties: d.num_counties,
        },
        data.county_uranium(),
    );
    let guide_u = AutoNormal::new(&model_uranium, &du)?;
    let mut svi_u = Svi::new(model_uranium, &guide_u, Optimizer::adam(0.01), TraceElbo::new());
    let losses_u = svi_u.run(steps, &du)?;
    let post_u = guide_u.sample_posterior(2000)?;
    let mu = |k: &str| scalar(&post_u[k].mean(Kind::Double));
    println!("\nwith county log uranium as a group-level predictor (final loss {:.1}):", final_loss(&losses_u));
    println!("{:<22} {:>10} {:>10} {:>10} {:>10} {:>12}", "", "intercept", "floor", "uranium", "county sd", "residual sd");
    println!(
        "{:<22} {:>10.3} {:>10.3} {:>10.3} {:>10.4} {:>12.4}",
        "pyrite AutoNormal",
        mu("intercept"),
        mu("floor_weight"),
        mu("uranium_weight"),
        mu("county_scale"),
        mu("sigma")
    );
    let mut summary = summary;
    summary["uranium_model"] = serde_json::json!({
        "intercept": mean_sd(&post_u["intercept"]),
        "floor_weight": mean_sd(&post_u["floor_weight"]),
        "uranium_weight": mean_sd(&post_u["uranium_weight"]),
        "county_scale": mean_sd(&post_u["county_scale"]),
        "sigma": mean_sd(&post_u["sigma"]),
    });
    flags.write_summary(&summary)?;
    println!("\nwrote {}", flags.out.join("summary.json").display());
    for path in write_plots(&flags, &d, &losses, &losses_u, &ce_mean, &ce_sd)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The loss curves; the county effects (mean ± 1 sd) with counties ordered by number of readings;
/// the posterior sd of each county's effect against its log number of readings.
fn write_plots(flags: &Flags, d: &Radon, losses: &[f64], losses_u: &[f64], ce_mean: &[f64], ce_sd: &[f64]) -> Result<Vec<std::path::PathBuf>> {
    let counts = plots::values(&d.county.bincount(None::<Tensor>, d.num_counties));
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| counts[a].total_cmp(&counts[b]).then(a.cmp(&b)));
    let rank: Vec<f64> = (1..=order.len()).map(|r| r as f64).collect();
    let pick = |v: &[f64]| order.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let effects =
        Panel::new("County effects (mean ± 1 sd), counties ordered by number of readings", "county rank by number of readings (fewest first)", "county effect")
            .with(Layer::line(vec![(0.0, 0.0), (order.len() as f64 + 1.0, 0.0)], RGBColor(150, 150, 150)).size(1))
            .with(Layer::error_bars(&rank, &pick(ce_mean), &pick(ce_sd), PALETTE[0]));
    let log_count: Vec<f64> = counts.iter().map(|c| c.ln()).collect();
    let sd = Panel::new(
        "Posterior sd of the county effect against log number of readings",
        "log(number of readings in the county)",
        "posterior sd of county effect",
    )
    .with(Layer::points(plots::zip(&log_count, ce_sd), PALETTE[0]).size(4));
    Ok(vec![
        plots::loss_curve(
            flags.out.join("radon_loss.png"),
            "Radon GLMM: SVI loss (AutoNormal, Adam lr 0.01)",
            &[("floor + county", losses), ("floor + county + uranium", losses_u)],
        )?,
        plots::save(flags.out.join("radon_county_effects.png"), (1100, 560), (1, 1), &[effects])?,
        plots::save(flags.out.join("radon_county_sd.png"), (900, 560), (1, 1), &[sd])?,
    ])
}

// ---------------------------------------------------------------------------------------------
// --compare

/// NUTS settings of the comparison: vectorised chains.
const CHAINS: usize = 4;
const WARMUP: usize = 500;
const DRAWS: usize = 500;

/// One model's fit and its elpd estimates.
struct Fitted {
    name: &'static str,
    loo: Loo,
    waic: Elpd,
    r_eff: f64,
    /// Seconds of NUTS (warm-up and sampling), and of the log-likelihood, LOO and WAIC.
    seconds: (f64, f64),
    divergences: usize,
}

/// Fits the three models by NUTS, compares them by PSIS-LOO and WAIC, prints the tables and
/// writes `compare.json` and each model's draws and log-likelihood as `.npz`.
fn compare_models(flags: &Flags, data: &pyrite::data::Radon) -> Result<()> {
    let d = Radon::from_data(data);
    let du = (Radon::from_data(data), data.county_uranium());
    println!("radon: {} readings; NUTS, {CHAINS} vectorised chains of {WARMUP} warm-up steps and {DRAWS} draws each, seed {}\n", d.floor.size()[0], flags.seed);
    let fits = [fit(flags, "pooled", &model_pooled, &d)?, fit(flags, "random_intercepts", &model, &d)?, fit(flags, "uranium", &model_uranium, &du)?];
    for f in &fits {
        let [good, bad, very_bad] = f.loo.k_counts();
        println!(
            "{:<18} NUTS {:5.1} s, LOO and WAIC {:4.2} s, {} divergences, r_eff {:.2}, Pareto k max {:.3} ({good} good, {bad} bad, {very_bad} very bad)",
            f.name,
            f.seconds.0,
            f.seconds.1,
            f.divergences,
            f.r_eff,
            f.loo.max_k()
        );
    }
    // ANCHOR: compare
    let loos: Vec<(&str, &Elpd)> = fits.iter().map(|f| (f.name, &f.loo.estimate)).collect();
    let by_loo = compare(&loos, ModelWeights::Stacking)?;
    let waics: Vec<(&str, &Elpd)> = fits.iter().map(|f| (f.name, &f.waic)).collect();
    let by_waic = compare(&waics, ModelWeights::Stacking)?;
    println!("\nPSIS-LOO\n{by_loo}\n\nWAIC\n{by_waic}");
    // ANCHOR_END: compare
    if let Some(best) = fits.iter().find(|f| f.name == by_loo.rows[0].name) {
        println!("\n{} (best by PSIS-LOO):\n{}", best.name, best.loo);
    }
    for f in fits.iter().filter_map(|f| f.loo.estimate.warning.as_ref().map(|w| (f.name, w))) {
        println!("\n{}: {}", f.0, f.1);
    }
    let models: serde_json::Map<String, serde_json::Value> = fits
        .iter()
        .map(|f| {
            let weight = by_loo.rows.iter().find(|r| r.name == f.name).map_or(f64::NAN, |r| r.weight);
            let entry = serde_json::json!({
                "elpd_loo": f.loo.estimate.elpd,
                "se": f.loo.estimate.se,
                "p_loo": f.loo.estimate.p,
                "waic": f.waic.elpd,
                "pareto_k_max": f.loo.max_k(),
                "waic_se": f.waic.se,
                "p_waic": f.waic.p,
                "stacking_weight": weight,
                "r_eff": f.r_eff,
                "seconds": {"nuts": f.seconds.0, "loo_waic": f.seconds.1},
                "divergences": f.divergences,
            });
            (f.name.to_string(), entry)
        })
        .collect();
    let path = flags.out.join("compare.json");
    pyrite::core::param_store::write_json_atomic(&path, &serde_json::json!({ "models": models }))?;
    println!("\nwrote {}", path.display());
    let order: Vec<&str> = by_loo.rows.iter().map(|r| r.name.as_str()).collect();
    let ranked = order == ["uranium", "random_intercepts", "pooled"];
    report_checks(
        flags,
        &[(format!("ranking by elpd_loo {order:?} (want uranium, random_intercepts, pooled) {}", if ranked { "ok" } else { "MISSED" }), ranked)],
    )
}

/// NUTS on one model; its pointwise log-likelihood of the readings, PSIS-LOO and WAIC; its draws
/// and log-likelihood saved as `radon_<name>_posterior.npz` and `radon_<name>_log_likelihood.npz`
/// with `(chain, draw, ...)` dims.
fn fit<A, M>(flags: &Flags, name: &'static str, model: &M, data: &A) -> Result<Fitted>
where
    M: Fn(&A) -> Result<()>,
{
    // ANCHOR: nuts
    let mut mcmc =
        Mcmc::new(Nuts::new(model)).warmup(WARMUP).samples(DRAWS).chains(CHAINS).chain_method(ChainMethod::Vectorized).seed(flags.seed).progress(false);
    mcmc.run(data)?;
    // ANCHOR_END: nuts
    let start = Instant::now();
    // ANCHOR: loo
    let log_lik = log_likelihood(model, &mcmc.get_samples()?, data)?.swap_remove("obs").ok_or_else(|| PyriteError::UnknownSite("obs".into()))?;
    let matrix = LogLikMatrix::from_tensor(&log_lik)?; // [chains * draws, readings]
    let r_eff = relative_efficiency(&mcmc)?;
    let (loo, waic) = (loo(&matrix, r_eff)?, waic(&matrix));
    // ANCHOR_END: loo
    let (warmup, sampling) = mcmc.seconds()?;
    let seconds = (warmup + sampling, start.elapsed().as_secs_f64());
    save_npz(flags.out.join(format!("radon_{name}_posterior.npz")), &mcmc.get_samples_by_chain()?, true)?;
    let by_chain: Samples = [("obs".to_string(), log_lik.reshape([CHAINS as i64, DRAWS as i64, -1]))].into_iter().collect();
    save_npz(flags.out.join(format!("radon_{name}_log_likelihood.npz")), &by_chain, true)?;
    Ok(Fitted { name, loo, waic, r_eff, seconds, divergences: mcmc.divergences()? })
}

/// The relative efficiency that sizes PSIS's tails: the mean over every element of every latent
/// site of its bulk effective sample size, over the number of draws. (ArviZ averages the
/// mean-ESS, without rank normalisation; the two differ little here, and only the tail length
/// depends on it.)
fn relative_efficiency<T>(mcmc: &Mcmc<T>) -> Result<f64> {
    let ess: Vec<f64> = mcmc.summary(0.89)?.values().flat_map(|s| s.ess_bulk.clone()).filter(|e| e.is_finite()).collect();
    if ess.is_empty() {
        return Err(PyriteError::Model("no finite effective sample size to size the PSIS tails with".into()));
    }
    Ok(ess.iter().sum::<f64>() / ess.len() as f64 / (CHAINS * DRAWS) as f64)
}
