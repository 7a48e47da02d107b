//! `kl_divergence` against torch 2.13 on the cases in `tests/golden/kl.json` (written by
//! `scripts/gen_golden_kl.py`, float64 throughout), and its errors for the pairs it does not
//! cover.

use std::collections::BTreeSet;

use pyrite_distributions::prelude::*;
use serde_json::Value;
use tch::{Kind, Tensor};

use crate::golden::{build, check_all, decode, load, tensor, ATOL, RTOL};
use crate::util::*;

const F64: (Kind, tch::Device) = (Kind::Double, tch::Device::Cpu);

/// Every pair of families `kl_divergence` has a closed form for (all of torch's registry that
/// pyrite has the families of).
const PAIRS: &[(&str, &str)] = &[
    ("Bernoulli", "Bernoulli"),
    ("Beta", "Beta"),
    ("Binomial", "Binomial"),
    ("Categorical", "Categorical"),
    ("Cauchy", "Cauchy"),
    ("Dirichlet", "Dirichlet"),
    ("Exponential", "Exponential"),
    ("Gamma", "Gamma"),
    ("HalfCauchy", "HalfCauchy"),
    ("HalfNormal", "HalfNormal"),
    ("Independent", "Independent"),
    ("InverseGamma", "InverseGamma"),
    ("Laplace", "Laplace"),
    ("LogNormal", "LogNormal"),
    ("Normal", "Normal"),
    ("OneHotCategorical", "OneHotCategorical"),
    ("Poisson", "Poisson"),
    ("Uniform", "Uniform"),
    ("MultivariateNormal", "MultivariateNormal"),
    ("MultivariateNormal", "LowRankMultivariateNormal"),
    ("LowRankMultivariateNormal", "MultivariateNormal"),
    ("LowRankMultivariateNormal", "LowRankMultivariateNormal"),
    ("Bernoulli", "Poisson"),
    ("Beta", "Exponential"),
    ("Beta", "Gamma"),
    ("Beta", "Normal"),
    ("Beta", "Uniform"),
    ("Exponential", "Gamma"),
    ("Exponential", "Normal"),
    ("Gamma", "Exponential"),
    ("Gamma", "Normal"),
    ("Laplace", "Normal"),
    ("Normal", "Laplace"),
    ("Uniform", "Beta"),
    ("Uniform", "Exponential"),
    ("Uniform", "Gamma"),
    ("Uniform", "Normal"),
    ("Exponential", "Beta"),
    ("Exponential", "Uniform"),
    ("Gamma", "Beta"),
    ("Gamma", "Uniform"),
    ("Laplace", "Beta"),
    ("Laplace", "Exponential"),
    ("Laplace", "Gamma"),
    ("Laplace", "Uniform"),
    ("Normal", "Beta"),
    ("Normal", "Exponential"),
    ("Normal", "Gamma"),
    ("Normal", "Uniform"),
    ("Poisson", "Bernoulli"),
    ("Poisson", "Binomial"),
];

/// The distribution a golden case describes: a family and constructor with its parameters, or an
/// `Independent` of one.
fn dist(spec: &Value) -> DistRef {
    let family = spec["family"].as_str().unwrap();
    if family == "Independent" {
        let n = spec["reinterpreted"].as_u64().unwrap() as usize;
        return Independent::new(dist(&spec["base"]), n).unwrap().into_dist();
    }
    let ctor = spec["ctor"].as_str().unwrap();
    let params: Vec<Tensor> = spec["params"].as_array().unwrap().iter().map(|p| tensor(&p[1])).collect();
    build(family, ctor, &params).unwrap_or_else(|e| panic!("{family}::{ctor}: {e}"))
}

fn family(spec: &Value) -> &str {
    spec["family"].as_str().unwrap()
}

#[test]
fn kl_matches_torch() {
    let doc = load("kl.json", "scripts/gen_golden_kl.py");
    let cases = doc["cases"].as_array().expect("cases");
    check_all(cases, |i, case| {
        let (p, q) = (&case["p"], &case["q"]);
        let label = format!("case {i} KL({} || {}) ({})", family(p), family(q), case["note"].as_str().unwrap_or(""));
        let kl = kl_divergence(dist(p).as_ref(), dist(q).as_ref()).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(kl.kind(), Kind::Double, "{label}: dtype");
        let (shape, data) = decode(&case["kl"]);
        assert_values(&label, &kl, &shape, &data, RTOL, ATOL);
    });
}

#[test]
fn golden_file_covers_every_pair() {
    let doc = load("kl.json", "scripts/gen_golden_kl.py");
    let covered: BTreeSet<(&str, &str)> = doc["cases"].as_array().unwrap().iter().map(|c| (family(&c["p"]), family(&c["q"]))).collect();
    for pair in PAIRS {
        assert!(covered.contains(pair), "kl.json has no case for {pair:?}");
    }
}

fn assert_unsupported(what: &str, got: Result<Tensor, DistError>) {
    match got {
        Err(DistError::Unsupported { .. }) => {}
        Err(e) => panic!("{what}: expected Unsupported, got {e}"),
        Ok(t) => panic!("{what}: expected Unsupported, got {:?}", vals(&t)),
    }
}

#[test]
fn pairs_without_a_closed_form_are_unsupported() -> Result<(), DistError> {
    let normal = Normal::new(0.0, 1.0)?;
    let cauchy = Cauchy::new(0.0, 1.0)?;
    assert_unsupported("Cauchy, Normal", kl_divergence(&cauchy, &normal));
    assert_unsupported("Normal, Cauchy", kl_divergence(&normal, &cauchy));
    let t = StudentT::new(3.0, 0.0, 1.0)?;
    assert_unsupported("StudentT, StudentT", kl_divergence(&t, &t));
    // Both exponential families, but torch has no cross formula for them either.
    assert_unsupported("Normal, Poisson", kl_divergence(&normal, &Poisson::new(1.0)?));
    assert_unsupported("Gamma, InverseGamma", kl_divergence(&Gamma::new(2.0, 1.0)?, &InverseGamma::new(2.0, 1.0)?));
    // An Independent pairs only with an Independent of as many reinterpreted dims.
    let base = || Normal::new(t64(&[0.0; 6], &[2, 3]), 1.0);
    let one = Independent::new(base()?, 1)?;
    assert_unsupported("Independent(1), Independent(2)", kl_divergence(&one, &Independent::new(base()?, 2)?));
    assert_unsupported("Independent, Normal", kl_divergence(&one, &base()?));
    // torch implements two Binomials only where p has at least as many trials as q.
    let few = Binomial::new(t64(&[3.0, 5.0], &[2]), 0.5)?;
    assert_unsupported("Binomial with fewer trials", kl_divergence(&few, &Binomial::new(4.0, 0.5)?));
    Ok(())
}

#[test]
fn mismatched_shapes_are_shape_errors() -> Result<(), DistError> {
    let shape_error = |what: &str, got: Result<Tensor, DistError>| match got {
        Err(DistError::Shape { .. }) => {}
        other => panic!("{what}: expected a shape error, got {other:?}"),
    };
    let p = Normal::new(t64(&[0.0; 2], &[2]), 1.0)?;
    let q = Normal::new(t64(&[0.0; 3], &[3]), 1.0)?;
    shape_error("batch [2] and [3]", kl_divergence(&p, &q));
    let k3 = Categorical::new(t64(&[0.2, 0.3, 0.5], &[3]))?;
    let k2 = Categorical::new(t64(&[0.5, 0.5], &[2]))?;
    shape_error("3 and 2 categories", kl_divergence(&k3, &k2));
    let mvn = |d: i64| MultivariateNormal::from_scale_tril(Tensor::zeros([d], F64), Tensor::eye(d, F64));
    shape_error("MultivariateNormal of 2 and 3 dims", kl_divergence(&mvn(2)?, &mvn(3)?));
    let dirichlet = |k: i64| Dirichlet::new(Tensor::ones([k], F64));
    shape_error("Dirichlet of 2 and 3 dims", kl_divergence(&dirichlet(2)?, &dirichlet(3)?));
    Ok(())
}

/// As `TraceMeanFieldElbo` uses it: a guide with f64 parameters of batch `[3]` against a prior
/// built from numbers (f32, batch `[]`) gives one f64 divergence per element, with gradients.
#[test]
fn guide_against_a_number_prior_has_gradients() -> Result<(), DistError> {
    let a = t64(&[0.5, 1.5, 4.0], &[3]).set_requires_grad(true);
    let b = t64(&[2.0, 1.0, 0.5], &[3]).set_requires_grad(true);
    let guide = Beta::new(&a, &b)?;
    let kl = kl_divergence(&guide, &Beta::new(1.0, 1.0)?)?;
    assert_eq!((kl.size(), kl.kind()), (vec![3], Kind::Double));
    // KL(Beta(a, b) || Uniform on [0, 1]) is minus the entropy.
    assert_tensors("Beta against Beta(1, 1)", &kl, &-guide.entropy()?, 1e-12, 1e-12);
    kl.sum(Kind::Double).backward();
    for (name, t) in [("a", &a), ("b", &b)] {
        let g = vals(&t.grad());
        assert!(g.iter().all(|x| x.is_finite() && *x != 0.0), "gradient of {name}: {g:?}");
    }
    Ok(())
}
