//! The radon GLMM (Minnesota indoor radon, Gelman & Hill): log radon with a floor fixed effect
//! and county random intercepts, fitted by SVI with AutoNormal and compared with lme4 and with
//! TensorFlow Probability's variational fit from the seed tutorial.
//!
//! `cargo run --release --example radon -- --out out/radon`

use pyrite::prelude::*;
use pyrite_examples::plots::{self, Layer, Panel, RGBColor, PALETTE};
use pyrite_examples::models::radon::{model, Radon};
use pyrite_examples::{data_error, final_loss, mean_sd, report_checks, scalar, within, Flags};

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
        return Err(PyriteError::InvalidInput { what: "county".into(), problem: format!("index {} out of range 0..{}", if lo < 0 { lo } else { hi }, d.num_counties) });
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    pyrite_examples::run(example)
}

fn example() -> Result<()> {
    let flags = Flags::parse_and_prepare()?;
    flags.set_threads(1);
    let steps = flags.steps.unwrap_or(3000);
    set_rng_seed(flags.seed);
    let data = pyrite::data::radon().map_err(data_error("radon"))?;
    let d = Radon::from_data(&data);
    check_input(&d)?;

    // ANCHOR: fit
    let guide = AutoNormal::new(&model, &d)?;
    let mut svi = Svi::new(&model, &guide, Optimizer::adam(0.01), TraceElbo::new());
    let losses = svi.run(steps, &d)?;
    // ANCHOR_END: fit
    let post = guide.sample_posterior(2000)?;
    let m = |k: &str| scalar(&post[k].mean(Kind::Double));
    let sd = |k: &str| scalar(&post[k].std(true));

    println!("radon GLMM, {} readings, {} counties, {steps} SVI steps, final loss {:.1}", data.len(), d.num_counties, final_loss(&losses));
    println!("{:<22} {:>10} {:>10} {:>10} {:>12}", "", "intercept", "floor", "county sd", "residual sd");
    println!("{:<22} {:>10.3} {:>10.3} {:>10.4} {:>12.4}", "lme4 (REML)", 1.462, -0.693, 0.3282, 0.7556);
    println!("{:<22} {:>10.3} {:>10.3} {:>10.4} {:>12}", "TFP VI (seed)", 1.435, -0.670, 0.287, "1 (fixed)");
    println!(
        "{:<22} {:>10.3} {:>10.3} {:>10.4} {:>12.4}",
        "pyrite AutoNormal",
        m("intercept"),
        m("floor_weight"),
        m("county_scale"),
        m("sigma")
    );

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
        "sd": {"intercept": sd("intercept"), "floor_weight": sd("floor_weight")},
    });

    // Second model: county log uranium as a group-level predictor.
    let du = (Radon { log_radon: d.log_radon.as_ref().map(|t| t.shallow_clone()), floor: d.floor.shallow_clone(), county: d.county.shallow_clone(), num_counties: d.num_counties }, data.county_uranium());
    let guide_u = AutoNormal::new(&model_uranium, &du)?;
    let mut svi_u = Svi::new(&model_uranium, &guide_u, Optimizer::adam(0.01), TraceElbo::new());
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
    let effects = Panel::new("County effects (mean ± 1 sd), counties ordered by number of readings", "county rank by number of readings (fewest first)", "county effect")
        .with(Layer::line(vec![(0.0, 0.0), (order.len() as f64 + 1.0, 0.0)], RGBColor(150, 150, 150)).size(1))
        .with(Layer::error_bars(&rank, &pick(ce_mean), &pick(ce_sd), PALETTE[0]));
    let log_count: Vec<f64> = counts.iter().map(|c| c.ln()).collect();
    let sd = Panel::new("Posterior sd of the county effect against log number of readings", "log(number of readings in the county)", "posterior sd of county effect").with(Layer::points(plots::zip(&log_count, ce_sd), PALETTE[0]).size(4));
    Ok(vec![
        plots::loss_curve(flags.out.join("radon_loss.png"), "Radon GLMM: SVI loss (AutoNormal, Adam lr 0.01)", &[("floor + county", losses), ("floor + county + uranium", losses_u)])?,
        plots::save(flags.out.join("radon_county_effects.png"), (1100, 560), (1, 1), &[effects])?,
        plots::save(flags.out.join("radon_county_sd.png"), (900, 560), (1, 1), &[sd])?,
    ])
}
