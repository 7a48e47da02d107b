//! WAIC, PSIS-LOO, `psislw` and `compare` against ArviZ.

use pyrite::infer::psis::psislw;
use pyrite::prelude::*;
use serde_json::Value;

/// Relative tolerance against ArviZ.
const RTOL: f64 = 1e-8;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/compare.json");
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

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

/// `actual` within `rtol` of `expected` relative to `scale` (the magnitude the quantity is
/// computed at: a difference of two sums is only as exact as the sums).
fn assert_close_at(what: &str, actual: f64, expected: f64, scale: f64, rtol: f64) {
    let ok = if expected.is_nan() {
        actual.is_nan()
    } else if expected.is_infinite() {
        actual == expected
    } else {
        (actual - expected).abs() <= rtol * scale.abs().max(expected.abs()).max(1e-300)
    };
    assert!(ok, "{what}: got {actual:e}, expected {expected:e} (diff {:e})", actual - expected);
}

fn assert_close(what: &str, actual: f64, expected: f64) {
    assert_close_at(what, actual, expected, expected, RTOL);
}

fn assert_all_close(what: &str, actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_close(&format!("{what}[{i}]"), *a, *e);
    }
}

fn matrices() -> Vec<(String, Value)> {
    let g = golden();
    let m = g["matrices"].as_object().expect("matrices");
    assert!(m.len() >= 4);
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn matrix(m: &Value) -> LogLikMatrix {
    let draws = m["draws"].as_u64().expect("draws") as usize;
    let ll = LogLikMatrix::new(&nums(&m["log_lik"]), draws).expect("matrix");
    assert_eq!(ll.observations() as u64, m["observations"].as_u64().unwrap());
    ll
}

#[test]
fn waic_matches_arviz() {
    for (name, m) in matrices() {
        let w = waic(&matrix(&m));
        let e = &m["waic"];
        assert_all_close(&format!("{name} waic_i"), &w.pointwise, &nums(&e["pointwise"]));
        assert_close(&format!("{name} elpd_waic"), w.elpd, num(&e["elpd"]));
        assert_close(&format!("{name} waic se"), w.se, num(&e["se"]));
        assert_close(&format!("{name} p_waic"), w.p, num(&e["p"]));
        assert_eq!(w.warning.is_some(), e["warning"].as_bool().unwrap(), "{name} warning");
    }
}

#[test]
fn loo_matches_arviz() {
    let mut warned = 0;
    for (name, m) in matrices() {
        let l = loo(&matrix(&m), num(&m["r_eff"])).unwrap();
        let e = &m["loo"];
        assert_all_close(&format!("{name} loo_i"), &l.estimate.pointwise, &nums(&e["pointwise"]));
        assert_all_close(&format!("{name} pareto_k"), &l.pareto_k, &nums(&e["pareto_k"]));
        assert_close(&format!("{name} elpd_loo"), l.estimate.elpd, num(&e["elpd"]));
        assert_close(&format!("{name} loo se"), l.estimate.se, num(&e["se"]));
        // p_loo = lppd - elpd_loo: a difference of sums, exact to the sums' precision.
        assert_close_at(&format!("{name} p_loo"), l.estimate.p, num(&e["p"]), l.estimate.elpd, RTOL);
        assert_close(&format!("{name} good_k"), l.good_k, num(&e["good_k"]));
        assert_eq!(l.estimate.warning.is_some(), e["warning"].as_bool().unwrap(), "{name} warning");
        warned += usize::from(l.pareto_k.iter().any(|&k| k > 0.7));
    }
    assert!(warned >= 2, "the golden matrices include heavy tails (k > 0.7)");
}

#[test]
fn psislw_matches_arviz() {
    for (name, m) in matrices() {
        let ll = matrix(&m);
        let r_eff = num(&m["r_eff"]);
        let expected_w = nums(&m["psislw"]["log_weights"]);
        let expected_k = nums(&m["psislw"]["k"]);
        let ties = m["ties"].as_bool().unwrap();
        for i in 0..ll.observations() {
            let neg: Vec<f64> = ll.observation(i).iter().map(|v| -v).collect();
            let s = psislw(&neg, r_eff).unwrap();
            assert_close(&format!("{name} k[{i}]"), s.k, expected_k[i]);
            if expected_w.is_empty() {
                continue; // left out of the file; loo_i checks them
            }
            let mut expected = expected_w[i * ll.draws()..(i + 1) * ll.draws()].to_vec();
            let mut actual = s.log_weights.clone();
            if ties {
                // Tied ratios in the tail: only the multiset of weights is defined.
                expected.sort_by(f64::total_cmp);
                actual.sort_by(f64::total_cmp);
            }
            assert_all_close(&format!("{name} log_weights[{i}]"), &actual, &expected);
        }
    }
}

#[test]
fn compare_matches_arviz() {
    let g = golden();
    let c = &g["compare"];
    let draws = c["draws"].as_u64().unwrap() as usize;
    let models: Vec<(String, LogLikMatrix)> =
        c["log_lik"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), LogLikMatrix::new(&nums(v), draws).unwrap())).collect();
    for table in c["tables"].as_array().unwrap() {
        let ic = table["ic"].as_str().unwrap();
        let method = table["method"].as_str().unwrap();
        let estimates: Vec<(String, Elpd)> =
            models.iter().map(|(k, ll)| (k.clone(), if ic == "loo" { loo(ll, 1.0).unwrap().estimate } else { waic(ll) })).collect();
        let refs: Vec<(&str, &Elpd)> = estimates.iter().map(|(k, e)| (k.as_str(), e)).collect();
        let weights = if method == "stacking" { ModelWeights::Stacking } else { ModelWeights::PseudoBma };
        let ours = compare(&refs, weights).unwrap();
        let what = format!("compare {ic} {method}");
        let expected = table["rows"].as_array().unwrap();
        assert_eq!(ours.rows.len(), expected.len());
        for (r, e) in ours.rows.iter().zip(expected) {
            let w = format!("{what} {}", r.name);
            assert_eq!(r.name, e["name"].as_str().unwrap(), "{what}: order");
            assert_eq!(r.rank as u64, e["rank"].as_u64().unwrap());
            assert_close(&format!("{w} elpd"), r.elpd, num(&e["elpd"]));
            assert_close_at(&format!("{w} p"), r.p, num(&e["p"]), r.elpd, RTOL);
            assert_close_at(&format!("{w} elpd_diff"), r.elpd_diff, num(&e["elpd_diff"]), r.elpd, RTOL);
            assert_close(&format!("{w} se"), r.se, num(&e["se"]));
            assert_close_at(&format!("{w} dse"), r.dse, num(&e["dse"]), r.se, RTOL);
            assert_eq!(r.warning, e["warning"].as_bool().unwrap(), "{w} warning");
            if weights == ModelWeights::PseudoBma {
                assert_close_at(&format!("{w} weight"), r.weight, num(&e["weight"]), 1.0, RTOL);
            } else {
                // ArviZ's SLSQP stops at its default tolerance (1e-6 on the objective), up to 2e-4
                // from the maximiser here.
                assert_close_at(&format!("{w} weight"), r.weight, num(&e["weight"]), 1.0, 1e-3);
            }
        }
        if weights == ModelWeights::Stacking {
            // The same optimiser run to a tolerance of 1e-15 agrees with ours to 1e-7 (the weights
            // are only as exact as the square root of the objective's precision).
            for (r, t) in ours.rows.iter().zip(nums(&table["tight_weights"])) {
                assert_close_at(&format!("{what} {} weight (tight)", r.name), r.weight, t, 1.0, 1e-7);
            }
        }
        if weights == ModelWeights::Stacking {
            // Our weights score at least as well as ArviZ's on the stacking objective.
            let score: f64 = (0..refs[0].1.observations)
                .map(|i| ours.rows.iter().map(|r| r.weight * estimates.iter().find(|(k, _)| *k == r.name).unwrap().1.pointwise[i].exp()).sum::<f64>().ln())
                .sum();
            let arviz = num(&table["log_score"]);
            assert!(score >= arviz - 1e-12, "{what}: log score {score} below ArviZ's {arviz}");
        }
        let text = ours.to_string();
        assert!(text.contains(&format!("elpd_{ic}")) && text.lines().count() == 1 + models.len(), "{text}");
    }
}

#[test]
fn displays_follow_arviz() {
    let (_, m) = matrices().into_iter().find(|(k, _)| k == "heavy").unwrap();
    let l = loo(&matrix(&m), 0.6).unwrap();
    let text = l.to_string();
    assert!(text.starts_with("Computed from 800 posterior samples and 8 observations log-likelihood matrix.\n"), "{text}");
    assert!(text.contains("elpd_loo") && text.contains("p_loo") && text.contains("Pareto k diagnostic values:"), "{text}");
    assert!(text.contains("warning: Estimated shape parameter of Pareto distribution is greater than 0.66"), "{text}");
    let counts = l.k_counts();
    assert_eq!(counts.iter().sum::<usize>(), 8);
    assert!(text.contains(&format!("(very bad) {:4}", counts[2])), "{text}");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let invalid = |r: Result<LogLikMatrix>| matches!(r, Err(PyriteError::InvalidInput { .. }));
    assert!(invalid(LogLikMatrix::new(&[-1.0, -2.0], 1)));
    assert!(invalid(LogLikMatrix::new(&[-1.0, -2.0, -3.0], 2)));
    assert!(invalid(LogLikMatrix::new(&[], 2)));
    assert!(invalid(LogLikMatrix::new(&[-1.0, f64::NEG_INFINITY], 2)));
    assert!(invalid(LogLikMatrix::from_tensor(&Tensor::from(1.0))));
    let ll = LogLikMatrix::new(&[-1.0, -2.0, -1.5, -2.5], 2).unwrap();
    assert!(matches!(loo(&ll, 0.0), Err(PyriteError::InvalidInput { .. })));
    let w = waic(&ll);
    let other = waic(&LogLikMatrix::new(&[-1.0, -2.0], 2).unwrap());
    assert!(matches!(compare(&[], ModelWeights::Stacking), Err(PyriteError::InvalidInput { .. })));
    assert!(matches!(compare(&[("a", &w), ("b", &other)], ModelWeights::Stacking), Err(PyriteError::InvalidInput { .. })));
    let l = loo(&ll, 1.0).unwrap().estimate;
    assert!(matches!(compare(&[("a", &w), ("b", &l)], ModelWeights::Stacking), Err(PyriteError::InvalidInput { .. })));
}
