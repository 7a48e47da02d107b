//! The iris Gaussian mixture (the fourth seed): two clusters of petal lengths, the cluster of each
//! flower summed out exactly by `TraceEnumElbo`, weights, means and scales fitted by MAP with
//! `AutoDelta` on the blocked model, then `infer_discrete` for the clusters.
//!
//! Initialisation: as in Pyro's GMM tutorial, the guide starts from weights `1/K`, scales
//! `sqrt(var(data) / 2)` and means at `K` randomly chosen data points; of 20 such starts (seeded
//! from `--seed`) the one with the lowest initial loss is trained. A single random start can land
//! in a poor optimum with one wide component, as Pyro does.
//!
//! `cargo run --release --example gmm_iris -- --out out/gmm`

use pyrite::prelude::*;
use pyrite_examples::models::gmm::{blocked, init_values, model, K};
use pyrite_examples::plots::{self, Layer, Legend, Panel, RGBColor, PALETTE};
use pyrite_examples::{data_error, final_loss, report_checks, within, Flags};

/// The number of random starts of the guide; the one with the lowest initial loss is trained.
const STARTS: u64 = 20;

fn main() -> std::process::ExitCode {
    pyrite_examples::run(example)
}

fn example() -> Result<()> {
    let flags = Flags::parse_and_prepare()?;
    flags.set_threads(1);
    let steps = flags.steps.unwrap_or(1500);
    let data = pyrite::data::iris().map_err(data_error("iris"))?.petal_length;

    // Best of 20 random starts by initial loss.
    let mut best: Option<(f64, u64)> = None;
    for k in 0..STARTS {
        // Wrapping: any `--seed` is accepted, and seeds below 2^54 give seed * 1000 + k exactly.
        let seed_k = flags.seed.wrapping_mul(1000).wrapping_add(k);
        set_rng_seed(seed_k);
        let store = new_param_store();
        let loss = with_param_store(&store, || -> Result<f64> {
            let guide = AutoDelta::with_init(&blocked, &data, InitStrategy::Value(init_values(&data)))?;
            let svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceEnumElbo::new());
            svi.evaluate_loss(&data)
        })?;
        if best.map(|b| loss < b.0).unwrap_or(true) {
            best = Some((loss, seed_k));
        }
    }
    let (init_loss, seed_k) = best.ok_or_else(|| PyriteError::Model("no random start was tried".into()))?;
    set_rng_seed(seed_k);
    let guide = AutoDelta::with_init(&blocked, &data, InitStrategy::Value(init_values(&data)))?;
    let mut svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceEnumElbo::new());
    let losses = svi.run(steps, &data)?;
    let map = guide.median()?;

    // The cluster of each flower: MAP assignment given the fitted parameters.
    // ANCHOR: infer_discrete
    let guide_tr = get_trace(|| guide.sample_sites())?;
    let tr = infer_discrete(&|| replay(&guide_tr, || model(&data)), -2, 0.0)?;
    // ANCHOR_END: infer_discrete
    let z = tr.site("z").map(|s| s.value.shallow_clone()).ok_or_else(|| PyriteError::UnknownSite("z".into()))?;
    let sizes: Vec<i64> = Vec::try_from(z.bincount(None::<Tensor>, K)).unwrap_or_default();

    let v = |t: &Tensor| Vec::<f64>::try_from(t.to_kind(Kind::Double)).unwrap_or_default();
    let (p, mu, sigma) = (v(&map["p"]), v(&map["mu"]), v(&map["sigma"]));
    println!("iris GMM, K = {K}: best of {STARTS} starts (initial loss {init_loss:.2}), {steps} steps, final loss {:.2}", final_loss(&losses));
    println!("  weights {:.4?}\n  means   {:.4?}\n  scales  {:.4?}\n  cluster sizes {sizes:?}", p, mu, sigma);
    println!("  (seed article: p = (0.667, 0.333), mu = (4.905, 1.462), sigma = (0.820, 0.178); Pyro at convergence: loss 210.21)");

    // Component order may differ: compare with the wide component first.
    let order: Vec<usize> = if mu[0] >= mu[1] { vec![0, 1] } else { vec![1, 0] };
    let setosa_cluster = Vec::<i64>::try_from(z.narrow(0, 0, 50)).unwrap_or_default();
    let rest_cluster = Vec::<i64>::try_from(z.narrow(0, 50, 100)).unwrap_or_default();
    let setosa_ok = setosa_cluster.iter().all(|&c| c == order[1] as i64) && rest_cluster.iter().all(|&c| c == order[0] as i64);
    let mut checks = vec![
        within("weight (large)", p[order[0]], 0.667, 0.02),
        within("weight (small)", p[order[1]], 0.333, 0.02),
        within("mean (large)", mu[order[0]], 4.905, 0.02),
        within("mean (small)", mu[order[1]], 1.462, 0.02),
        within("scale (large)", sigma[order[0]], 0.820, 0.02),
        within("scale (small)", sigma[order[1]], 0.178, 0.02),
    ];
    checks.push((format!("the 50 setosa in one cluster, the other 100 in the other: {setosa_ok}"), setosa_ok));
    report_checks(&flags, &checks)?;
    let assignment = Vec::<i64>::try_from(&z).unwrap_or_default();
    flags.write_summary(&serde_json::json!({
        "weights": p, "locs": mu, "scales": sigma, "assignment": assignment, "final_loss": final_loss(&losses),
    }))?;
    for path in write_plots(&flags, &data, &p, &mu, &sigma, &assignment)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The two weighted component densities over a histogram of petal lengths; the
/// flowers coloured by inferred cluster, petal length against index and against petal width.
fn write_plots(flags: &Flags, data: &Tensor, p: &[f64], mu: &[f64], sigma: &[f64], assignment: &[i64]) -> Result<Vec<std::path::PathBuf>> {
    let x = plots::values(data);
    let (lo, hi) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let grid: Vec<f64> = (0..400).map(|i| lo - 0.5 + (hi - lo + 1.0) * i as f64 / 399.0).collect();
    let normal = |x: f64, m: f64, s: f64| (-0.5 * ((x - m) / s).powi(2)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt());
    let mut fit = Panel::new("Iris petal lengths and the fitted two-component mixture", "petal length (cm)", "density")
        .with(Layer::histogram(&x, 40, RGBColor(120, 120, 120)).alpha(0.35).label("data"));
    for k in 0..p.len() {
        // Each curve within four scales of its mean, so the tails don't draw along the axis.
        let curve = grid.iter().filter(|&&g| (g - mu[k]).abs() <= 4.0 * sigma[k]).map(|&g| (g, p[k] * normal(g, mu[k], sigma[k]))).collect();
        fit = fit.with(Layer::line(curve, PALETTE[k]).label(format!("cluster {k}: {:.2} × N({:.2}, {:.2})", p[k], mu[k], sigma[k])));
    }

    let features = pyrite::data::iris().map_err(data_error("iris"))?.features;
    let width = plots::values(&features.select(1, 3));
    let by_cluster = |xs: &[f64]| -> Vec<Layer> {
        (0..p.len())
            .map(|k| {
                let pts = (0..x.len()).filter(|&i| assignment[i] == k as i64).map(|i| (xs[i], x[i])).collect();
                Layer::points(pts, PALETTE[k]).size(4).label(format!("cluster {k}"))
            })
            .collect()
    };
    let index: Vec<f64> = (0..x.len()).map(|i| i as f64).collect();
    let clusters = [
        Panel::new("Inferred cluster of each flower", "flower index (0-49 setosa, 50-99 versicolor, 100-149 virginica)", "petal length (cm)")
            .with_all(by_cluster(&index))
            .legend(Legend::UpperLeft),
        Panel::new("Inferred cluster: petal length against petal width", "petal width (cm)", "petal length (cm)")
            .with_all(by_cluster(&width))
            .legend(Legend::UpperLeft),
    ];
    Ok(vec![
        plots::save(flags.out.join("gmm_iris_mixture.png"), (1000, 560), (1, 1), &[fit])?,
        plots::save(flags.out.join("gmm_iris_clusters.png"), (1300, 540), (1, 2), &clusters)?,
    ])
}
