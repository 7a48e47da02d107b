//! `infer_discrete`: at temperature 0 the brute-force joint MAP assignment, at temperature 1
//! samples from the exact joint posterior.

use pyrite::prelude::*;

use super::common::*;
use super::elbo::{
    global_feeds_plate, global_feeds_plate_joint, hmm, hmm_joint, mixture, mixture_joint, mixture_subsampled, nested_both, nested_both_joint, MIX_X, SUBSAMPLE,
};

/// The index of the largest element.
fn argmax(xs: &[f64]) -> usize {
    (0..xs.len()).max_by(|&a, &b| xs[a].partial_cmp(&xs[b]).unwrap()).unwrap()
}

/// Runs `model` once (creating its params) and returns the params.
fn params_of(model: &dyn Fn() -> Result<()>) -> Params {
    get_trace(model).unwrap();
    Params::current()
}

/// The values of the named sites in a trace, flattened and concatenated.
fn assignment(tr: &Trace, names: &[&str]) -> Vec<i64> {
    names.iter().flat_map(|n| to_ivec(&tr.site(n).unwrap().value)).collect()
}

/// The brute-force MAP assignment, checking that it is unique by a margin.
fn brute_map(sizes: &[i64], joint: impl Fn(&[i64]) -> Tensor) -> Vec<i64> {
    let post = brute_posterior(sizes, joint);
    let best = argmax(&post);
    let mut sorted = post.clone();
    sorted.sort_by(|a, b| b.partial_cmp(a).unwrap());
    assert!(sorted[0] > sorted[1] * 1.01, "the test model's MAP is not clear-cut: {:?}", &sorted[..2]);
    assignments(sizes)[best].clone()
}

#[test]
fn temperature_zero_is_the_brute_force_map_of_an_hmm() {
    fresh(|| {
        let p = params_of(&hmm);
        let want = brute_map(&[3, 3, 3], |a| hmm_joint(&p, a));
        let tr = infer_discrete(&hmm, -1, 0.0).unwrap();
        assert_eq!(assignment(&tr, &["z_1", "z_2", "z_3"]), want);
        // the trace is a run of the model with those values: observed sites are kept
        assert!(tr.site("x_2").unwrap().is_observed);
        assert_eq!(tr.site("z_1").unwrap().value.size(), Vec::<i64>::new());
        // with a first dim further left, the same answer
        let tr = infer_discrete(&hmm, -3, 0.0).unwrap();
        assert_eq!(assignment(&tr, &["z_1", "z_2", "z_3"]), want);
    });
}

#[test]
fn temperature_zero_is_the_brute_force_map_of_a_mixture() {
    fresh(|| {
        let p = params_of(&mixture);
        let want = brute_map(&[3; 4], |a| mixture_joint(&p, a));
        let tr = infer_discrete(&mixture, -2, 0.0).unwrap();
        assert_eq!(tr.site("z").unwrap().value.size(), vec![4]);
        assert_eq!(assignment(&tr, &["z"]), want);
        // the posterior factorises over the data: each datum's MAP component by hand
        let (probs, locs, scale) = (to_vec(p.get("probs")), to_vec(p.get("locs")), scalar(p.get("scale")));
        for (i, x) in MIX_X.iter().enumerate() {
            let lp: Vec<f64> = (0..3).map(|k| probs[k].ln() - 0.5 * ((x - locs[k]) / scale).powi(2)).collect();
            assert_eq!(want[i], argmax(&lp) as i64);
        }
    });
}

#[test]
fn temperature_zero_through_plates() {
    fresh(|| {
        // a site outside a plate feeding sites inside it
        let p = params_of(&global_feeds_plate);
        let want = brute_map(&[2, 3, 3, 3], |a| global_feeds_plate_joint(&p, a));
        let tr = infer_discrete(&global_feeds_plate, -2, 0.0).unwrap();
        assert_eq!(tr.site("w").unwrap().value.size(), vec![3]);
        assert_eq!(assignment(&tr, &["z", "w"]), want);
    });
    fresh(|| {
        // nested plates with enumerated sites in both
        let p = params_of(&nested_both);
        let want = brute_map(&[2; 8], |a| nested_both_joint(&p, a));
        let tr = infer_discrete(&nested_both, -3, 0.0).unwrap();
        assert_eq!(tr.site("z").unwrap().value.size(), vec![2, 1]);
        assert_eq!(tr.site("w").unwrap().value.size(), vec![2, 3]);
        assert_eq!(assignment(&tr, &["z", "w"]), want);
    });
}

const DRAWS: usize = 2000;

/// Frequencies of each value of `f(trace)` over `DRAWS` posterior samples, seeded.
fn frequencies(model: &dyn Fn() -> Result<()>, first_dim: i64, n_values: usize, f: impl Fn(&Trace) -> Vec<usize>, seed_value: u64) -> Vec<Vec<f64>> {
    seed(seed_value, || {
        let mut counts: Vec<Vec<f64>> = Vec::new();
        for _ in 0..DRAWS {
            let tr = infer_discrete(model, first_dim, 1.0).unwrap();
            let v = f(&tr);
            if counts.is_empty() {
                counts = vec![vec![0.0; n_values]; v.len()];
            }
            for (c, x) in counts.iter_mut().zip(v) {
                c[x] += 1.0 / DRAWS as f64;
            }
        }
        counts
    })
}

#[track_caller]
fn assert_freqs(got: &[f64], want: &[f64], what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 0.03, "{what}: sample frequencies {got:?}, exact posterior {want:?}");
    }
}

#[test]
fn temperature_one_samples_the_exact_posterior_of_an_hmm() {
    fresh(|| {
        let p = params_of(&hmm);
        let post = brute_posterior(&[3, 3, 3], |a| hmm_joint(&p, a));
        let mut marg = vec![vec![0.0; 3]; 3];
        let mut joint12 = vec![0.0; 9];
        for (a, pr) in assignments(&[3, 3, 3]).iter().zip(&post) {
            for t in 0..3 {
                marg[t][a[t] as usize] += pr;
            }
            joint12[(a[0] * 3 + a[1]) as usize] += pr;
        }
        // the posterior is spread, so that sampling and maximising differ
        assert!(marg[0].iter().filter(|&&q| q > 0.1).count() >= 2, "{marg:?}");
        let freqs = frequencies(
            &hmm,
            -1,
            9,
            |tr| {
                let a = assignment(tr, &["z_1", "z_2", "z_3"]);
                vec![a[0] as usize, a[1] as usize, a[2] as usize, (a[0] * 3 + a[1]) as usize]
            },
            7,
        );
        for t in 0..3 {
            assert_freqs(&freqs[t][..3], &marg[t], &format!("z_{}", t + 1));
        }
        assert_freqs(&freqs[3], &joint12, "(z_1, z_2)");
    });
}

#[test]
fn temperature_one_samples_the_exact_posterior_of_a_mixture() {
    fresh(|| {
        let p = params_of(&mixture);
        let post = brute_posterior(&[3; 4], |a| mixture_joint(&p, a));
        let mut marg = vec![vec![0.0; 3]; 4];
        for (a, pr) in assignments(&[3; 4]).iter().zip(&post) {
            for i in 0..4 {
                marg[i][a[i] as usize] += pr;
            }
        }
        assert!(marg.iter().any(|m| m.iter().filter(|&&q| q > 0.1).count() >= 2), "{marg:?}");
        let freqs = frequencies(&mixture, -2, 3, |tr| assignment(tr, &["z"]).iter().map(|&v| v as usize).collect(), 11);
        for i in 0..4 {
            assert_freqs(&freqs[i], &marg[i], &format!("z[{i}]"));
        }
    });
}

#[test]
fn a_subsample_scale_does_not_temper_the_posterior() {
    fresh(|| {
        let p = params_of(&mixture_subsampled);
        let (probs, locs, scale) = (to_vec(p.get("probs")), to_vec(p.get("locs")), scalar(p.get("scale")));
        let marg: Vec<Vec<f64>> = SUBSAMPLE
            .iter()
            .map(|&i| {
                let w: Vec<f64> = (0..3).map(|k| probs[k] * (-0.5 * ((MIX_X[i as usize] - locs[k]) / scale).powi(2)).exp()).collect();
                let z: f64 = w.iter().sum();
                w.iter().map(|x| x / z).collect()
            })
            .collect();
        assert!(marg.iter().all(|m| m.iter().filter(|&&q| q > 0.15).count() >= 2), "{marg:?}");
        let freqs = frequencies(&mixture_subsampled, -2, 3, |tr| assignment(tr, &["z"]).iter().map(|&v| v as usize).collect(), 17);
        for i in 0..2 {
            assert_freqs(&freqs[i], &marg[i], &format!("z[{i}] (datum {})", SUBSAMPLE[i]));
        }
    });
}

#[test]
fn temperature_one_samples_a_site_outside_a_plate_jointly_with_those_inside() {
    fresh(|| {
        let p = params_of(&global_feeds_plate);
        let sizes = [2, 3, 3, 3];
        let post = brute_posterior(&sizes, |a| global_feeds_plate_joint(&p, a));
        // (z, w_0) jointly, and w_2
        let mut zw0 = vec![0.0; 6];
        let mut w2 = vec![0.0; 3];
        for (a, pr) in assignments(&sizes).iter().zip(&post) {
            zw0[(a[0] * 3 + a[1]) as usize] += pr;
            w2[a[3] as usize] += pr;
        }
        let freqs = frequencies(
            &global_feeds_plate,
            -2,
            6,
            |tr| {
                let a = assignment(tr, &["z", "w"]);
                vec![(a[0] * 3 + a[1]) as usize, a[3] as usize]
            },
            13,
        );
        assert_freqs(&freqs[0], &zw0, "(z, w_0)");
        assert_freqs(&freqs[1][..3], &w2, "w_2");
    });
}

#[test]
fn temperature_other_than_zero_or_one_is_an_error() {
    fresh(|| {
        let err = infer_discrete(&hmm, -1, 0.5).unwrap_err();
        assert!(matches!(err, PyriteError::InvalidInput { .. }), "{err}");
    });
}
