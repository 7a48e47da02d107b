//! `Predictive`: shapes for guide- and samples-based prediction, `return_sites`, parallel and
//! sequential draws agreeing in distribution, and `summary`.

use pyrite::prelude::*;

use super::common::*;

const N: i64 = 5;

struct Data {
    y: Option<Tensor>,
}

/// `mu ~ N(0, 2)`, `obs_i ~ N(mu, 1)` for 5 data, and `twice = 2 obs` recorded.
fn model(d: &Data) -> Result<()> {
    let mu = sample("mu", Normal::new(c64(0.0), c64(2.0))?)?;
    plate("data", N, |_| {
        let y = sample_obs("obs", Normal::new(&mu, c64(1.0))?, d.y.as_ref())?;
        deterministic("twice", &(y * 2.0), 0)
    })?;
    Ok(())
}

/// A fixed posterior: `mu ~ N(1, 0.5)`.
fn fixed_guide(_: &Data) -> Result<()> {
    sample("mu", Normal::new(c64(1.0), c64(0.5))?)?;
    Ok(())
}

#[test]
fn predictive_returns_every_site_with_a_leading_sample_dim() {
    seeded(31, || {
        // the guide is built on the data (so `obs` is observed there and not a guide site); the
        // predictions leave `obs` unobserved
        let y = t64(&[0.5, 1.0, 1.5, 2.0, 2.5]);
        let guide = AutoNormal::new(&model, &Data { y: Some(y.shallow_clone()) }).unwrap();
        assert_eq!(guide.prototype().sites.len(), 1);
        let d = Data { y: None };
        for parallel in [true, false] {
            let mut p = Predictive::new(&model, &guide, 7);
            if !parallel {
                p = p.sequential();
            }
            let out = p.call(&d).unwrap();
            assert_eq!(out.keys().collect::<Vec<_>>(), vec!["mu", "obs", "twice"], "parallel {parallel}");
            assert_eq!(out["mu"].size(), vec![7], "parallel {parallel}");
            assert_eq!(out["obs"].size(), vec![7, N], "parallel {parallel}");
            assert_eq!(out["twice"].size(), vec![7, N], "parallel {parallel}");
            // the deterministic site is computed from each sample's own draws
            assert!(out["twice"].allclose(&(&out["obs"] * 2.0), 1e-12, 1e-12, false), "parallel {parallel}");
            // draws differ from sample to sample (prior predictive sd about 1)
            assert!(scalar(&out["obs"].std(true)) > 0.5, "parallel {parallel}");
        }
        // with the data observed, `obs` is the data in every sample
        let out = Predictive::new(&model, &guide, 4).call(&Data { y: Some(y.shallow_clone()) }).unwrap();
        assert_eq!(out["obs"].size(), vec![4, N]);
        assert!(out["obs"].equal(&y.expand([4, N], false)));
    });
}

#[test]
fn predictive_from_samples_substitutes_each_sample() {
    seeded(32, || {
        let d = Data { y: None };
        let mut samples = Samples::new();
        samples.insert("mu".to_string(), t64(&[-10.0, 0.0, 10.0, 20.0]));
        for parallel in [true, false] {
            let mut p = Predictive::from_samples(&model, &samples);
            assert_eq!(p.num_samples, 4);
            if !parallel {
                p = p.sequential();
            }
            let out = p.call(&d).unwrap();
            assert!(out["mu"].equal(&samples["mu"]), "parallel {parallel}: the given samples come back");
            assert_eq!(out["obs"].size(), vec![4, N]);
            // each row of `obs` lies around its own `mu` (noise sd 1, samples 10 apart)
            let row_means = to_vec(&out["obs"].mean_dim(1, false, Kind::Double));
            for (m, want) in row_means.iter().zip([-10.0, 0.0, 10.0, 20.0]) {
                assert_near(&format!("parallel {parallel}: mean of obs given mu = {want}"), *m, want, 2.5);
            }
        }
    });
}

#[test]
fn predictive_from_samples_aligns_plate_local_samples() {
    seeded(33, || {
        // A local latent per datum: samples of shape [num_samples, N] land on the data plate.
        let local = |_: &()| -> Result<()> {
            let mu = sample("mu", Normal::new(c64(0.0), c64(1.0))?)?;
            plate("data", N, |_| {
                let z = sample("z", Normal::new(&mu, c64(1.0))?)?;
                sample("y", Normal::new(z, c64(0.01))?)
            })?;
            Ok(())
        };
        let z = Tensor::arange(3 * N, (Kind::Double, Device::Cpu)).reshape([3, N]);
        let mut samples = Samples::new();
        samples.insert("mu".to_string(), t64(&[0.0, 1.0, 2.0]));
        samples.insert("z".to_string(), z.shallow_clone());
        for parallel in [true, false] {
            let mut p = Predictive::from_samples(&local, &samples);
            if !parallel {
                p = p.sequential();
            }
            let out = p.call(&()).unwrap();
            assert_eq!(out["z"].size(), vec![3, N]);
            assert_eq!(out["y"].size(), vec![3, N]);
            assert!((&out["y"] - &z).abs().max().double_value(&[]) < 0.1, "parallel {parallel}: y follows its own z");
        }
    });
}

#[test]
fn return_sites_restricts_the_output() {
    seeded(34, || {
        let d = Data { y: None };
        let out = Predictive::new(&model, &fixed_guide, 3).return_sites(&["obs"]).call(&d).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["obs"]);
        let out = Predictive::new(&model, &fixed_guide, 3).return_sites(&["twice", "mu"]).sequential().call(&d).unwrap();
        let mut keys: Vec<_> = out.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, vec!["mu", "twice"]);
    });
}

#[test]
fn parallel_and_sequential_predictions_agree_in_distribution() {
    seeded(35, || {
        // mu ~ N(1, 0.5), obs_i ~ N(mu, 1): each obs has mean 1 and variance 1.25, and two obs
        // share mu, so their covariance is 0.25 (correlation 0.2).
        let d = Data { y: None };
        let n = 3000;
        for parallel in [true, false] {
            let mut p = Predictive::new(&model, &fixed_guide, n);
            if !parallel {
                p = p.sequential();
            }
            let obs = p.call(&d).unwrap()["obs"].to_kind(Kind::Double);
            assert_eq!(obs.size(), vec![n, N]);
            // mean: standard error sqrt(1.25 / 3000) = 0.02 per datum; tolerance 0.1
            for (i, m) in to_vec(&obs.mean_dim(0, false, Kind::Double)).into_iter().enumerate() {
                assert_near(&format!("parallel {parallel}: mean of obs[{i}]"), m, 1.0, 0.1);
            }
            // sd within 6%
            for (i, s) in to_vec(&obs.std_dim(0, true, false)).into_iter().enumerate() {
                assert_rel(&format!("parallel {parallel}: sd of obs[{i}]"), s, 1.25f64.sqrt(), 0.06);
            }
            // correlation of obs[0] and obs[1] through the shared mu: 0.2 within 0.07
            let c = Tensor::stack(&[obs.select(1, 0), obs.select(1, 1)], 0).corrcoef().double_value(&[0, 1]);
            assert_near(&format!("parallel {parallel}: correlation of obs[0] and obs[1]"), c, 0.2, 0.07);
        }
    });
}

#[test]
fn predictive_with_automultivariatenormal_on_a_plate_local_latent() {
    seeded(36, || {
        // AutoMultivariateNormal's joint draw inside Predictive's outer plate: a plate-local site
        // keeps its plate's size at the plate's dim.
        let local = |_: &()| -> Result<()> {
            let mu = sample("mu", Normal::new(c64(0.0), c64(1.0))?)?;
            plate("data", N, |_| {
                let z = sample("z", Normal::new(&mu, c64(1.0))?)?;
                sample("y", Normal::new(z, c64(0.5))?)
            })?;
            Ok(())
        };
        let guide = AutoMultivariateNormal::new(&local, &()).unwrap();
        for parallel in [true, false] {
            let mut p = Predictive::new(&local, &guide, 6);
            if !parallel {
                p = p.sequential();
            }
            let out = p.call(&()).unwrap();
            assert_eq!(out["mu"].size(), vec![6], "parallel {parallel}");
            assert_eq!(out["z"].size(), vec![6, N], "parallel {parallel}");
            assert_eq!(out["y"].size(), vec![6, N], "parallel {parallel}");
        }
    });
}

#[test]
fn summary_gives_mean_sd_and_quantiles_over_samples() {
    // 1..=101 in column 0 and its negation in column 1
    let a = Tensor::arange_start(1, 102, (Kind::Double, Device::Cpu));
    let mut samples = Samples::new();
    samples.insert("x".to_string(), Tensor::stack(&[a.shallow_clone(), -&a], 1));
    samples.insert("c".to_string(), Tensor::full([10], 3.0, (Kind::Float, Device::Cpu)));
    let s = summary(&samples);
    let x = &s["x"];
    assert_eq!(to_vec(&x.mean), vec![51.0, -51.0]);
    // unbiased sd of 1..=101: sqrt(101 * 102 / 12)
    let sd = (101.0f64 * 102.0 / 12.0).sqrt();
    assert_near("sd", to_vec(&x.std)[0], sd, 1e-9);
    assert_near("sd", to_vec(&x.std)[1], sd, 1e-9);
    // linear interpolation: the 5% quantile of 1..=101 is 1 + 0.05 * 100 = 6
    assert_eq!(to_vec(&x.q05), vec![6.0, -96.0]);
    assert_eq!(to_vec(&x.q95), vec![96.0, -6.0]);
    let c = &s["c"];
    assert_eq!((scalar(&c.mean), scalar(&c.std), scalar(&c.q05), scalar(&c.q95)), (3.0, 0.0, 3.0, 3.0));
}
