//! f32 and f64: every family computes in the dtype of its parameters, and the two agree.

use pyrite_distributions::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::util::*;

fn p(kind: Kind, data: &[f64], shape: &[i64]) -> Tensor {
    t64(data, shape).to_kind(kind)
}

type Builder = fn(Kind) -> DistRef;

fn families() -> Vec<(&'static str, Builder)> {
    vec![
        ("Normal", |k| Normal::new(p(k, &[0.0, 1.0, -1.0], &[3]), p(k, &[1.0, 2.0, 0.5], &[3])).unwrap().into_dist()),
        ("HalfNormal", |k| HalfNormal::new(p(k, &[1.0, 2.0, 0.5], &[3])).unwrap().into_dist()),
        ("LogNormal", |k| LogNormal::new(p(k, &[0.0, 1.0, -1.0], &[3]), p(k, &[1.0], &[1])).unwrap().into_dist()),
        ("Uniform", |k| Uniform::new(p(k, &[0.0, 1.0, -1.0], &[3]), p(k, &[3.0], &[1])).unwrap().into_dist()),
        ("Exponential", |k| Exponential::new(p(k, &[1.0, 2.0, 0.5], &[3])).unwrap().into_dist()),
        ("Gamma", |k| Gamma::new(p(k, &[0.5, 2.0, 5.0], &[3]), p(k, &[2.0], &[1])).unwrap().into_dist()),
        ("InverseGamma", |k| InverseGamma::new(p(k, &[3.0, 2.0, 5.0], &[3]), p(k, &[2.0], &[1])).unwrap().into_dist()),
        ("Beta", |k| Beta::new(p(k, &[0.5, 2.0, 5.0], &[3]), p(k, &[2.0], &[1])).unwrap().into_dist()),
        ("Dirichlet", |k| Dirichlet::new(p(k, &[0.5, 2.0, 5.0], &[3])).unwrap().into_dist()),
        ("StudentT", |k| StudentT::new(p(k, &[3.0, 4.0, 5.0], &[3]), p(k, &[0.0], &[1]), p(k, &[2.0], &[1])).unwrap().into_dist()),
        ("Cauchy", |k| Cauchy::new(p(k, &[0.0, 1.0, -1.0], &[3]), p(k, &[1.0], &[1])).unwrap().into_dist()),
        ("HalfCauchy", |k| HalfCauchy::new(p(k, &[1.0, 2.0, 0.5], &[3])).unwrap().into_dist()),
        ("Laplace", |k| Laplace::new(p(k, &[0.0, 1.0, -1.0], &[3]), p(k, &[1.0], &[1])).unwrap().into_dist()),
        ("MultivariateNormal", |k| MultivariateNormal::from_covariance(p(k, &[0.0, 1.0], &[2]), p(k, &[2.0, 0.5, 0.5, 1.0], &[2, 2])).unwrap().into_dist()),
        ("MultivariateNormal", |k| MultivariateNormal::from_precision(p(k, &[0.0, 1.0], &[2]), p(k, &[2.0, 0.5, 0.5, 1.0], &[2, 2])).unwrap().into_dist()),
        ("LowRankMultivariateNormal", |k| {
            LowRankMultivariateNormal::new(p(k, &[0.0, 1.0], &[2]), p(k, &[1.0, 0.5], &[2, 1]), p(k, &[1.0, 2.0], &[2])).unwrap().into_dist()
        }),
        ("Categorical", |k| Categorical::new(p(k, &[0.2, 0.3, 0.5], &[3])).unwrap().into_dist()),
        ("OneHotCategorical", |k| OneHotCategorical::from_logits(p(k, &[0.2, 0.3, 0.5], &[3])).unwrap().into_dist()),
        ("Bernoulli", |k| Bernoulli::new(p(k, &[0.2, 0.3, 0.5], &[3])).unwrap().into_dist()),
        ("Binomial", |k| Binomial::new(p(k, &[4.0], &[1]), p(k, &[0.2, 0.3, 0.5], &[3])).unwrap().into_dist()),
        ("Poisson", |k| Poisson::new(p(k, &[0.2, 3.0, 5.0], &[3])).unwrap().into_dist()),
        ("NegativeBinomial", |k| NegativeBinomial::from_logits(p(k, &[4.0], &[1]), p(k, &[0.2, 0.3, -0.5], &[3])).unwrap().into_dist()),
    ]
}

#[test]
fn outputs_follow_the_parameter_dtype() {
    let _g = seeded(10_000);
    for (name, build) in families() {
        let d32 = build(Kind::Float);
        let d64 = build(Kind::Double);
        let x64 = d64.sample(&[6]).unwrap();
        let x32 = d32.sample(&[6]).unwrap();
        let want_sample = |k: Kind| if name == "Categorical" { Kind::Int64 } else { k };
        assert_eq!(x32.kind(), want_sample(Kind::Float), "{name}: f32 sample dtype");
        assert_eq!(x64.kind(), want_sample(Kind::Double), "{name}: f64 sample dtype");
        if d64.has_rsample() {
            assert_eq!(d32.rsample(&[2]).unwrap().kind(), Kind::Float, "{name}: f32 rsample dtype");
            assert_eq!(d64.rsample(&[2]).unwrap().kind(), Kind::Double, "{name}: f64 rsample dtype");
        }
        // The same value in each dtype: log densities agree to f32 precision.
        let v32 = if name == "Categorical" { x64.shallow_clone() } else { x64.to_kind(Kind::Float) };
        let lp64 = d64.log_prob(&x64).unwrap();
        let lp32 = d32.log_prob(&v32).unwrap();
        assert_eq!(lp64.kind(), Kind::Double, "{name}: f64 log_prob dtype");
        assert_eq!(lp32.kind(), Kind::Float, "{name}: f32 log_prob dtype");
        assert_tensors(&format!("{name}: f32 vs f64 log_prob"), &lp32.to_kind(Kind::Double), &lp64, 1e-4, 1e-4);
        for (what, a, b) in [("mean", d32.mean(), d64.mean()), ("variance", d32.variance(), d64.variance()), ("entropy", d32.entropy(), d64.entropy())] {
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.kind(), Kind::Float, "{name}: f32 {what} dtype");
                    assert_eq!(b.kind(), Kind::Double, "{name}: f64 {what} dtype");
                    assert_tensors(&format!("{name}: f32 vs f64 {what}"), &a.to_kind(Kind::Double), &b, 1e-4, 1e-5);
                }
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{name}: {what}: f32 gives {a:?}, f64 gives {b:?}"),
            }
        }
        assert_eq!(d64.options(), (want_sample(Kind::Double), Device::Cpu), "{name}: options");
    }
}

#[test]
fn numbers_and_integer_tensors_become_default_float() {
    let _g = seeded(10_001);
    // Plain numbers are f32 tensors, torch's default dtype.
    let n = Normal::new(0.0, 1.0).unwrap();
    assert_eq!(n.sample(&[2]).unwrap().kind(), Kind::Float);
    assert_eq!(n.log_prob(&Tensor::from(0.5f32)).unwrap().kind(), Kind::Float);
    assert_eq!(Gamma::new(2.0, 3.0).unwrap().rsample(&[2]).unwrap().kind(), Kind::Float);
    // Integer tensors are promoted to f32.
    let n = Normal::new(Tensor::from_slice(&[1i64, 2]), 1.0).unwrap();
    assert_eq!(n.loc.kind(), Kind::Float);
    assert_eq!(n.sample(&[]).unwrap().kind(), Kind::Float);
    // A number next to an f64 tensor does not demote it.
    let n = Normal::new(Tensor::from_slice(&[1.0f64, 2.0]), 1.0).unwrap();
    assert_eq!(n.sample(&[3]).unwrap().kind(), Kind::Double);
    assert_eq!(n.log_prob(&Tensor::from_slice(&[0.0f64])).unwrap().kind(), Kind::Double);
    assert_eq!(n.entropy().unwrap().kind(), Kind::Double);
    let g = Gamma::new(2.0, Tensor::from_slice(&[1.0f64, 2.0])).unwrap();
    assert_eq!(g.rsample(&[3]).unwrap().kind(), Kind::Double);
    // f32 values against f64 parameters compute in f64.
    let lp = Normal::new(Tensor::from_slice(&[0.0f64]), 1.0).unwrap().log_prob(&Tensor::from_slice(&[0.5f32])).unwrap();
    assert_eq!(lp.kind(), Kind::Double);
    assert!(close(scalar(&lp), -0.5 * 0.25 - 0.918_938_533_204_672_8, 1e-12, 0.0));
}

/// Each multi-parameter family with one f64 tensor parameter and numbers (f32) for the rest:
/// everything it returns is f64, as with torch's `broadcast_all`.
#[test]
fn numbers_follow_tensor_parameters() {
    let _g = seeded(10_002);
    let t = || Tensor::from_slice(&[0.3f64, 0.6]);
    let eye = || Tensor::eye(2, (Kind::Double, Device::Cpu));
    let cases: Vec<(&str, DistRef)> = vec![
        ("Normal loc", Normal::new(t(), 1.0).unwrap().into_dist()),
        ("Normal scale", Normal::new(0.0, t()).unwrap().into_dist()),
        ("LogNormal", LogNormal::new(t(), 1.0).unwrap().into_dist()),
        ("Cauchy", Cauchy::new(t(), 1.0).unwrap().into_dist()),
        ("Laplace", Laplace::new(t(), 1.0).unwrap().into_dist()),
        ("Uniform", Uniform::new(t(), 1.0).unwrap().into_dist()),
        ("Gamma", Gamma::new(2.0, t()).unwrap().into_dist()),
        ("InverseGamma", InverseGamma::new(t() + 3.0, 1.0).unwrap().into_dist()),
        ("Beta", Beta::new(2.0, t()).unwrap().into_dist()),
        ("StudentT", StudentT::new(3.0, t(), 2.0).unwrap().into_dist()),
        ("MultivariateNormal", MultivariateNormal::from_scale_tril(0.0f64.into_param().expand([2], false), eye()).unwrap().into_dist()),
        (
            "LowRankMultivariateNormal",
            LowRankMultivariateNormal::new(t(), Tensor::ones([2, 1], (Kind::Float, Device::Cpu)), 1.0f32.into_param().expand([2], false)).unwrap().into_dist(),
        ),
        ("Binomial", Binomial::new(Tensor::from_slice(&[3.0f64, 5.0]), 0.5).unwrap().into_dist()),
        ("NegativeBinomial", NegativeBinomial::new(Tensor::from_slice(&[3.0f64, 5.0]), 0.5).unwrap().into_dist()),
    ];
    for (name, d) in cases {
        let x = d.sample(&[3]).unwrap();
        assert_eq!(x.kind(), Kind::Double, "{name}: sample");
        assert_eq!(d.log_prob(&x).unwrap().kind(), Kind::Double, "{name}: log_prob");
        assert_eq!(d.options().0, Kind::Double, "{name}: options");
        for (what, r) in [("mean", d.mean()), ("variance", d.variance()), ("entropy", d.entropy())] {
            if let Ok(r) = r {
                assert_eq!(r.kind(), Kind::Double, "{name}: {what}");
            }
        }
    }
}
