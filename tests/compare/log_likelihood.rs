//! `log_likelihood`: per draw and observation, against hand-computed densities; vectorised and
//! sequential runs agree; typed errors.

use std::f64::consts::PI;

use pyrite::prelude::*;
use pyrite_examples::models::radon::{model as radon, Radon};

fn normal_lpdf(x: f64, mu: f64, sigma: f64) -> f64 {
    -0.5 * ((x - mu) / sigma).powi(2) - sigma.ln() - 0.5 * (2.0 * PI).ln()
}

fn samples(sites: &[(&str, Tensor)]) -> Samples {
    sites.iter().map(|(k, v)| (k.to_string(), v.shallow_clone())).collect()
}

fn opts() -> (Kind, Device) {
    (Kind::Double, Device::Cpu)
}

/// Groups (dim -2) of observations (dim -1), a group effect and a scale.
fn grouped(y: &Tensor) -> Result<()> {
    let (g, n) = (y.size()[0], y.size()[1]);
    let sigma = sample("sigma", HalfNormal::new(1.0)?)?;
    let effect = Plate::new("groups", g).dim(-2).run(|_| sample("effect", Normal::new(0.0, 1.0)?.expand(&[g, 1])?))?;
    Plate::new("groups", g).dim(-2).run(|_| Plate::new("obs", n).dim(-1).run(|_| observe("y", Normal::new(&effect, &sigma)?, y).map(drop)))
}

#[test]
fn nested_plates_match_hand_computed_densities() {
    let y = Tensor::from_slice(&[0.5, -1.0, 2.0, 0.0, 1.5, -0.5]).reshape([2, 3]);
    let draws = samples(&[
        ("sigma", Tensor::from_slice(&[1.0, 0.5, 2.0, 1.5])),
        ("effect", Tensor::from_slice(&[0.0, 1.0, -1.0, 0.5, 0.2, 0.2, 2.0, -2.0]).reshape([4, 2, 1])),
    ]);
    for ll in [log_likelihood(&grouped, &draws, &y).unwrap(), log_likelihood_sequential(&grouped, &draws, &y).unwrap()] {
        let ll = &ll["y"];
        assert_eq!(ll.size(), vec![4, 2, 3]);
        for d in 0..4 {
            let sigma = draws["sigma"].double_value(&[d]);
            for g in 0..2 {
                let mu = draws["effect"].double_value(&[d, g, 0]);
                for i in 0..3 {
                    let want = normal_lpdf(y.double_value(&[g, i]), mu, sigma);
                    assert!((ll.double_value(&[d, g, i]) - want).abs() < 1e-12, "draw {d}, group {g}, obs {i}");
                }
            }
        }
    }
}

#[test]
fn radon_vectorised_equals_sequential_and_feeds_loo() {
    tch::manual_seed(3);
    let data = pyrite::data::radon().unwrap();
    let d = Radon::from_data(&data);
    let n = 40;
    // Single precision, as the data (and as draws from MCMC or a guide).
    let f32s = (Kind::Float, Device::Cpu);
    let draws = samples(&[
        ("county_scale", Tensor::rand([n], f32s) * 0.3 + 0.2),
        ("intercept", Tensor::randn([n], f32s) * 0.05 + 1.46),
        ("floor_weight", Tensor::randn([n], f32s) * 0.05 - 0.69),
        ("sigma", Tensor::rand([n], f32s) * 0.05 + 0.73),
        ("county_effect", Tensor::randn([n, d.num_counties], f32s) * 0.3),
    ]);
    let vectorised = log_likelihood(&radon, &draws, &d).unwrap();
    let sequential = log_likelihood_sequential(&radon, &draws, &d).unwrap();
    assert_eq!(vectorised.keys().collect::<Vec<_>>(), vec!["obs"]);
    let (a, b) = (&vectorised["obs"], &sequential["obs"]);
    assert_eq!(a.size(), vec![n, 919]);
    assert_eq!(a.kind(), Kind::Float);
    // The same float32 arithmetic, batched or not: equal to rounding.
    assert!(a.allclose(b, 1e-6, 1e-6, false), "largest difference {}", (a - b).abs().max().double_value(&[]));
    // One reading by hand: draw 5, reading 100.
    let (k, i) = (5, 100);
    let c = d.county.int64_value(&[i]);
    let mean = draws["intercept"].double_value(&[k])
        + draws["floor_weight"].double_value(&[k]) * d.floor.double_value(&[i])
        + draws["county_effect"].double_value(&[k, c]);
    let want = normal_lpdf(data.log_radon.double_value(&[i]), mean, draws["sigma"].double_value(&[k]));
    assert!((a.double_value(&[k, i]) - want).abs() < 1e-5, "{} vs {want}", a.double_value(&[k, i]));
    let l = loo(&LogLikMatrix::from_tensor(a).unwrap(), 1.0).unwrap();
    assert_eq!((l.estimate.draws, l.estimate.observations), (40, 919));
    assert!(l.estimate.elpd.is_finite());
}

#[test]
fn masked_observations_have_zero_log_likelihood() {
    let y = Tensor::from_slice(&[0.5, -1.0, 2.0]);
    let keep = Tensor::from_slice(&[true, false, true]);
    let model = |y: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(0.0, 1.0)?)?;
        plate("obs", 3, |_| mask(&keep, || observe("y", Normal::new(&mu, 1.0)?, y).map(drop)))?;
        Ok(())
    };
    let ll = log_likelihood(&model, &samples(&[("mu", Tensor::from_slice(&[0.0, 1.0]))]), &y).unwrap();
    assert_eq!(ll["y"].double_value(&[1, 1]), 0.0);
    assert!((ll["y"].double_value(&[1, 2]) - normal_lpdf(2.0, 1.0, 1.0)).abs() < 1e-12);
}

#[test]
fn bad_samples_are_typed_errors() {
    let y = Tensor::from_slice(&[0.5, -1.0]);
    let model = |y: &Tensor| -> Result<()> {
        let mu = sample("mu", Normal::new(0.0, 1.0)?)?;
        let s = sample("s", HalfNormal::new(1.0)?)?;
        plate("obs", 2, |_| observe("y", Normal::new(&mu, &s)?, y).map(drop))?;
        Ok(())
    };
    let invalid = |r: Result<Samples>, needle: &str| match r {
        Err(PyriteError::InvalidInput { problem, .. }) => assert!(problem.contains(needle), "{problem}"),
        other => panic!("expected InvalidInput ({needle}), got {other:?}"),
    };
    let mu = Tensor::zeros([3], opts());
    let s = Tensor::ones([3], opts());
    invalid(log_likelihood(&model, &samples(&[("mu", mu.shallow_clone())]), &y), "latent site `s`");
    invalid(log_likelihood(&model, &samples(&[("mu", mu.shallow_clone()), ("s", Tensor::ones([4], opts()))]), &y), "4 draws");
    invalid(log_likelihood_sequential(&model, &Samples::new(), &y), "empty");
    invalid(log_likelihood(&model, &samples(&[("mu", Tensor::from(0.0)), ("s", s.shallow_clone())]), &y), "scalar tensor");
    let prior_only = |_: &Tensor| -> Result<()> { sample("mu", Normal::new(0.0, 1.0)?).map(drop) };
    invalid(log_likelihood(&prior_only, &samples(&[("mu", mu)]), &y), "no observed site");
}
