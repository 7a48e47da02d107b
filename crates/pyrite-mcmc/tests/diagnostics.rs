//! The diagnostics against ArviZ (R-hat, bulk and tail ESS, autocovariance), NumPyro (hpdi) and
//! numpy (quantiles, median, mean, sd) on the fixed chain sets of
//! `tests/golden/diagnostics.json` (written by `scripts/gen_golden_diagnostics.py`), plus
//! hand-checkable cases and the summary's shapes and table.

use indexmap::IndexMap;
use pyrite_core::PyriteError;
use pyrite_mcmc::diagnostics::{autocovariance, ess_bulk, ess_tail, hpdi, median, quantile, split_rhat};
use pyrite_mcmc::summary::{format_summary, posterior_summary, summary, summary_to_json};
use serde_json::Value;
use tch::{Device, Kind, Tensor};

/// Relative tolerance against the references.
const RTOL: f64 = 1e-8;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/diagnostics.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("golden JSON parses")
}

/// A golden number: a JSON number, or "nan" / "inf" / "-inf".
fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        v => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

fn assert_close(what: &str, actual: f64, expected: f64) {
    let ok = if expected.is_nan() {
        actual.is_nan()
    } else if expected.is_infinite() {
        actual == expected
    } else {
        (actual - expected).abs() <= RTOL * expected.abs().max(1e-300)
    };
    assert!(ok, "{what}: got {actual:e}, expected {expected:e} (rel. diff {:e})", ((actual - expected) / expected).abs());
}

fn sets() -> Vec<(String, Vec<Vec<f64>>, Value)> {
    let g = golden();
    let sets = g["sets"].as_object().expect("sets");
    assert!(sets.len() >= 12);
    sets.iter()
        .map(|(name, set)| {
            let chains = set["chains"].as_array().expect("chains").iter().map(|c| c.as_array().expect("chain").iter().map(num).collect()).collect();
            (name.clone(), chains, set.clone())
        })
        .collect()
}

#[test]
fn golden_file_records_versions() {
    let g = golden();
    assert!(g["versions"]["arviz"].is_string(), "the generator records ArviZ's version");
}

#[test]
fn split_rhat_matches_arviz_rank_rhat() {
    for (name, chains, set) in sets() {
        assert_close(&format!("{name}: rhat"), split_rhat(&chains).unwrap(), num(&set["rhat"]));
    }
}

#[test]
fn ess_bulk_matches_arviz() {
    for (name, chains, set) in sets() {
        assert_close(&format!("{name}: ess_bulk"), ess_bulk(&chains).unwrap(), num(&set["ess_bulk"]));
    }
}

#[test]
fn ess_tail_matches_arviz() {
    for (name, chains, set) in sets() {
        assert_close(&format!("{name}: ess_tail"), ess_tail(&chains).unwrap(), num(&set["ess_tail"]));
    }
}

#[test]
fn autocovariance_matches_arviz() {
    // Compared relative to the lag-0 value: FFT rounding is absolute, on the variance's scale.
    for (name, chains, set) in sets() {
        let acov = autocovariance(&chains[0]);
        let expected: Vec<f64> = set["autocov_chain0"].as_array().unwrap().iter().map(num).collect();
        let scale = expected[0].abs().max(1e-300);
        for (lag, e) in expected.iter().enumerate() {
            assert!((acov[lag] - e).abs() <= RTOL * scale, "{name}: autocov lag {lag}: got {}, expected {e}", acov[lag]);
        }
    }
}

#[test]
fn hpdi_quantiles_and_moments_match_numpy() {
    for (name, chains, set) in sets() {
        let all = chains.concat();
        for h in set["hpdi"].as_array().unwrap() {
            let prob = num(&h["prob"]);
            let (lo, hi) = hpdi(&all, prob).unwrap();
            // hpdi returns draws themselves: exact.
            assert_eq!((lo, hi), (num(&h["interval"][0]), num(&h["interval"][1])), "{name}: hpdi {prob}");
        }
        for q in set["quantiles"].as_array().unwrap() {
            let p = num(&q["q"]);
            assert_close(&format!("{name}: quantile {p}"), quantile(&all, p).unwrap(), num(&q["value"]));
        }
        assert_close(&format!("{name}: median"), median(&all).unwrap(), num(&set["median"]));

        let grouped = Tensor::from_slice(&all).reshape([chains.len() as i64, -1]);
        let samples: IndexMap<String, Tensor> = [(name.clone(), grouped)].into_iter().collect();
        let s = &summary(&samples, 0.89, true).unwrap()[&name];
        assert_close(&format!("{name}: mean"), s.mean[0], num(&set["mean"]));
        if num(&set["sd"]) == 0.0 {
            assert_eq!(s.sd[0], 0.0, "{name}: sd");
        } else {
            assert_close(&format!("{name}: sd"), s.sd[0], num(&set["sd"]));
        }
        assert_close(&format!("{name}: summary r_hat"), s.r_hat[0], num(&set["rhat"]));
        assert_close(&format!("{name}: summary ess_bulk"), s.ess_bulk[0], num(&set["ess_bulk"]));
        assert_close(&format!("{name}: summary ess_tail"), s.ess_tail[0], num(&set["ess_tail"]));
        let h89 = set["hpdi"].as_array().unwrap().iter().find(|h| num(&h["prob"]) == 0.89).unwrap();
        assert_eq!((s.hpdi_low[0], s.hpdi_high[0]), (num(&h89["interval"][0]), num(&h89["interval"][1])));
    }
}

#[test]
fn identical_chains_have_rhat_near_one() {
    let chain: Vec<f64> = (0..1000).map(|i| ((i as f64) * 0.618_033_988_75).fract()).collect();
    let rhat = split_rhat(&[chain.clone(), chain.clone(), chain.clone(), chain]).unwrap();
    assert!((rhat - 1.0).abs() < 0.01, "rhat {rhat}");
}

#[test]
fn hpdi_of_0_to_99_at_90_percent() {
    let draws: Vec<f64> = (0..100).map(f64::from).collect();
    assert_eq!(hpdi(&draws, 0.9).unwrap(), (0.0, 90.0));
    // Order does not matter.
    let reversed: Vec<f64> = draws.iter().rev().copied().collect();
    assert_eq!(hpdi(&reversed, 0.9).unwrap(), (0.0, 90.0));
    // A skewed set: the interval hugs the dense end.
    let skewed: Vec<f64> = (0..100).map(|i| (i as f64).powi(2)).collect();
    assert_eq!(hpdi(&skewed, 0.5).unwrap(), (0.0, 2500.0));
}

#[test]
fn constant_and_tiny_inputs_follow_arviz() {
    let constant = vec![vec![2.0; 9], vec![2.0; 9]];
    assert!(split_rhat(&constant).unwrap().is_nan());
    // ArviZ counts the 2 * 2 * 4 draws kept after splitting.
    assert_eq!(ess_bulk(&constant).unwrap(), 16.0);
    assert_eq!(ess_tail(&constant).unwrap(), 16.0);

    let three = vec![vec![0.1, 0.5, 0.2], vec![0.3, 0.9, 0.4]];
    assert!(split_rhat(&three).unwrap().is_nan());
    assert!(ess_bulk(&three).unwrap().is_nan());
    assert!(ess_tail(&three).unwrap().is_nan());

    let with_nan = vec![vec![0.1, 0.5, f64::NAN, 0.2, 0.7], vec![0.3, 0.9, 0.4, 0.1, 0.0]];
    assert!(split_rhat(&with_nan).unwrap().is_nan());
    assert!(ess_bulk(&with_nan).unwrap().is_nan());
    assert!(median(&with_nan[0]).unwrap().is_nan());
    let (lo, hi) = hpdi(&with_nan[0], 0.5).unwrap();
    assert!(lo.is_nan() && hi.is_nan());

    let one_chain = [[0.3, -0.2, 0.5, 0.1, 0.9, -0.4, 0.2, 0.0]];
    assert!(split_rhat(&one_chain).unwrap().is_nan());
    assert!(ess_bulk(&one_chain).unwrap().is_finite());

    assert!(autocovariance(&[]).is_empty());
    assert_eq!(autocovariance(&[3.0]), vec![0.0]);
}

#[test]
fn malformed_inputs_are_typed_errors() {
    let invalid = |r: Result<f64, PyriteError>| matches!(r, Err(PyriteError::InvalidInput { .. }));
    let none: [Vec<f64>; 0] = [];
    assert!(invalid(split_rhat(&none)));
    assert!(invalid(ess_bulk(&[Vec::<f64>::new(), Vec::new()])));
    assert!(invalid(ess_tail(&[vec![1.0, 2.0, 3.0, 4.0], vec![1.0, 2.0, 3.0]])));
    assert!(invalid(median(&[])));
    assert!(invalid(quantile(&[1.0], 1.5)));
    assert!(matches!(hpdi(&[], 0.9), Err(PyriteError::InvalidInput { .. })));
    assert!(matches!(hpdi(&[1.0, 2.0], 1.0), Err(PyriteError::InvalidInput { .. })));

    let scalar: IndexMap<String, Tensor> = [("x".to_string(), Tensor::from(1.0f64))].into_iter().collect();
    assert!(matches!(summary(&scalar, 0.9, false), Err(PyriteError::InvalidInput { .. })));
    let one_dim: IndexMap<String, Tensor> = [("x".to_string(), Tensor::zeros([10], (Kind::Double, Device::Cpu)))].into_iter().collect();
    assert!(matches!(summary(&one_dim, 0.9, true), Err(PyriteError::InvalidInput { .. })));
    assert!(matches!(summary(&one_dim, 0.0, false), Err(PyriteError::InvalidInput { .. })));
    let no_draws: IndexMap<String, Tensor> = [("x".to_string(), Tensor::zeros([2, 0], (Kind::Double, Device::Cpu)))].into_iter().collect();
    assert!(matches!(summary(&no_draws, 0.9, true), Err(PyriteError::InvalidInput { .. })));
}

#[test]
fn summary_of_a_vector_site_grouped_by_chain() {
    tch::manual_seed(0);
    // [chains, draws, 3], element k centred at k.
    let draws = Tensor::randn([2, 100, 3], (Kind::Double, Device::Cpu)) + Tensor::from_slice(&[0.0f64, 1.0, 2.0]);
    let samples: IndexMap<String, Tensor> = [("theta".to_string(), draws.shallow_clone())].into_iter().collect();
    let s = &posterior_summary(&samples, 0.89, true).unwrap()["theta"];
    assert_eq!(s.shape, vec![3]);
    for v in [&s.mean, &s.sd, &s.median, &s.hpdi_low, &s.hpdi_high, &s.ess_bulk, &s.ess_tail, &s.r_hat] {
        assert_eq!(v.len(), 3);
    }
    for k in 0..3 {
        // Element k is the draws[:, :, k] column, chain-major.
        let column: Vec<f64> = Vec::try_from(&draws.select(2, k as i64).reshape([-1])).unwrap();
        let chains = [&column[..100], &column[100..]];
        assert_eq!(s.r_hat[k], split_rhat(&chains).unwrap());
        assert_eq!(s.ess_bulk[k], ess_bulk(&chains).unwrap());
        assert_eq!(s.median[k], median(&column).unwrap());
        assert!((s.mean[k] - k as f64).abs() < 0.5 && s.r_hat[k] < 1.1);
        assert!(s.hpdi_low[k] < s.median[k] && s.median[k] < s.hpdi_high[k]);
    }
    let table = format_summary(&[("theta".to_string(), s.clone())].into_iter().collect(), 0.89);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].ends_with("      mean       std    median      5.5%     94.5%     n_eff     r_hat"));
    assert!(lines[1].starts_with("  theta[0] ") && lines[3].starts_with("  theta[2] "));
    let json = summary_to_json(&[("theta".to_string(), s.clone())].into_iter().collect(), 0.89);
    assert_eq!(json["theta"]["hpdi_5.5"].as_array().unwrap().len(), 3);
    assert_eq!(json["theta"]["r_hat"][2].as_f64(), Some(s.r_hat[2]));
}

#[test]
fn summary_of_a_single_chain_scalar_site() {
    let values: Vec<f64> = (0..100).map(|i| ((i * 37) % 100) as f64).collect();
    let samples: IndexMap<String, Tensor> = [("sigma".to_string(), Tensor::from_slice(&values))].into_iter().collect();
    let s = &summary(&samples, 0.9, false).unwrap()["sigma"];
    assert!(s.shape.is_empty());
    assert_eq!(s.mean, vec![49.5]);
    assert_eq!(s.median, vec![49.5]);
    assert_eq!((s.hpdi_low[0], s.hpdi_high[0]), (0.0, 90.0));
    assert!((s.sd[0] - (100.0f64 * 101.0 / 12.0).sqrt()).abs() < 1e-12); // sd of 0..99, ddof = 1
    assert!(s.r_hat[0].is_nan(), "one chain: no R-hat, as ArviZ");
    assert_eq!(s.ess_bulk[0], ess_bulk(&[&values]).unwrap());
    let table = format_summary(&[("sigma".to_string(), s.clone())].into_iter().collect(), 0.9);
    let row = format!("{:>10}     49.50     29.01     49.50      0.00     90.00 {:>9.2}       nan", "sigma", s.ess_bulk[0]);
    assert_eq!(table.lines().nth(1).unwrap(), row);
    assert!(table.lines().next().unwrap().contains("     5.0%     95.0%"));
    let json = summary_to_json(&[("sigma".to_string(), s.clone())].into_iter().collect(), 0.9);
    assert_eq!(json["sigma"]["hpdi_95.0"], 90.0);
    assert!(json["sigma"]["mean"].is_number() && json["sigma"]["r_hat"].is_null());
}

#[test]
fn matrix_sites_get_two_dimensional_row_names() {
    let draws = Tensor::arange(2 * 10 * 6, (Kind::Double, Device::Cpu)).reshape([2, 10, 2, 3]);
    let samples: IndexMap<String, Tensor> = [("w".to_string(), draws)].into_iter().collect();
    let summaries = summary(&samples, 0.5, true).unwrap();
    assert_eq!(summaries["w"].shape, vec![2, 3]);
    // Element (1, 2) is the last of each draw: values 5, 11, ..., 59 then 65, ..., 119.
    assert_eq!(summaries["w"].mean[5], (5..120).step_by(6).map(f64::from).sum::<f64>() / 20.0);
    let table = format_summary(&summaries, 0.5);
    let rows: Vec<&str> = table.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(rows, ["w[0,0]", "w[0,1]", "w[0,2]", "w[1,0]", "w[1,1]", "w[1,2]"]);
    let json = summary_to_json(&summaries, 0.5);
    assert_eq!(json["w"]["mean"][1][2].as_f64(), Some(summaries["w"].mean[5]));
}
