//! Compares every family with torch 2.13 on the cases in `tests/golden/distributions.json`
//! (written by `scripts/gen_golden.py`, float64 throughout).

use pyrite_distributions::prelude::*;
use serde_json::Value;
use tch::{Kind, Tensor};

use crate::util::*;

/// Relative tolerance of the comparisons with torch.
pub(crate) const RTOL: f64 = 1e-6;
/// Absolute tolerance of the comparisons with torch.
pub(crate) const ATOL: f64 = 1e-9;

/// The golden file `tests/golden/{file}`, written by `generator`.
pub(crate) fn load(file: &str, generator: &str) -> Value {
    let path = format!("{}/tests/golden/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e} (run {generator})"));
    serde_json::from_str(&text).expect("golden file is valid JSON")
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => panic!("not a number: {other}"),
    }
}

fn flatten(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(number(other)),
    }
}

fn shape_of(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect()
}

/// `(shape, row-major data)` of an encoded tensor.
pub(crate) fn decode(v: &Value) -> (Vec<i64>, Vec<f64>) {
    let shape = shape_of(&v["shape"]);
    let mut data = Vec::new();
    flatten(&v["data"], &mut data);
    assert_eq!(data.len() as i64, shape.iter().product::<i64>(), "golden tensor data and shape disagree");
    (shape, data)
}

/// An encoded tensor, as f64.
pub(crate) fn tensor(v: &Value) -> Tensor {
    let (shape, data) = decode(v);
    t64(&data, &shape)
}

/// The family `family` built by its constructor `ctor` from the parameters `p`, in order.
pub(crate) fn build(family: &str, ctor: &str, p: &[Tensor]) -> Result<DistRef, DistError> {
    let p = |i: usize| p[i].shallow_clone();
    Ok(match (family, ctor) {
        ("Normal", "new") => Normal::new(p(0), p(1))?.into_dist(),
        ("Cauchy", "new") => Cauchy::new(p(0), p(1))?.into_dist(),
        ("Laplace", "new") => Laplace::new(p(0), p(1))?.into_dist(),
        ("LogNormal", "new") => LogNormal::new(p(0), p(1))?.into_dist(),
        ("HalfNormal", "new") => HalfNormal::new(p(0))?.into_dist(),
        ("HalfCauchy", "new") => HalfCauchy::new(p(0))?.into_dist(),
        ("Uniform", "new") => Uniform::new(p(0), p(1))?.into_dist(),
        ("Exponential", "new") => Exponential::new(p(0))?.into_dist(),
        ("Gamma", "new") => Gamma::new(p(0), p(1))?.into_dist(),
        ("InverseGamma", "new") => InverseGamma::new(p(0), p(1))?.into_dist(),
        ("Beta", "new") => Beta::new(p(0), p(1))?.into_dist(),
        ("Dirichlet", "new") => Dirichlet::new(p(0))?.into_dist(),
        ("StudentT", "new") => StudentT::new(p(0), p(1), p(2))?.into_dist(),
        ("MultivariateNormal", "from_scale_tril") => MultivariateNormal::from_scale_tril(p(0), p(1))?.into_dist(),
        ("MultivariateNormal", "from_covariance") => MultivariateNormal::from_covariance(p(0), p(1))?.into_dist(),
        ("MultivariateNormal", "from_precision") => MultivariateNormal::from_precision(p(0), p(1))?.into_dist(),
        ("LowRankMultivariateNormal", "new") => LowRankMultivariateNormal::new(p(0), p(1), p(2))?.into_dist(),
        ("Categorical", "new") => Categorical::new(p(0))?.into_dist(),
        ("Categorical", "from_logits") => Categorical::from_logits(p(0))?.into_dist(),
        ("OneHotCategorical", "new") => OneHotCategorical::new(p(0))?.into_dist(),
        ("OneHotCategorical", "from_logits") => OneHotCategorical::from_logits(p(0))?.into_dist(),
        ("Bernoulli", "new") => Bernoulli::new(p(0))?.into_dist(),
        ("Bernoulli", "from_logits") => Bernoulli::from_logits(p(0))?.into_dist(),
        ("Binomial", "new") => Binomial::new(p(0), p(1))?.into_dist(),
        ("Binomial", "from_logits") => Binomial::from_logits(p(0), p(1))?.into_dist(),
        ("Poisson", "new") => Poisson::new(p(0))?.into_dist(),
        ("NegativeBinomial", "new") => NegativeBinomial::new(p(0), p(1))?.into_dist(),
        ("NegativeBinomial", "from_logits") => NegativeBinomial::from_logits(p(0), p(1))?.into_dist(),
        other => panic!("golden case for unknown family/constructor {other:?}"),
    })
}

/// Compares a moment (or the entropy) with the golden value; `null` means torch does not define
/// it, and the family must then answer with an error rather than a number.
fn check_stat(label: &str, what: &str, got: Result<Tensor, DistError>, expected: &Value) {
    match (expected, got) {
        (Value::Null, Err(_)) => {}
        (Value::Null, Ok(t)) => panic!("{label}: {what}: torch does not define it, but got {:?}", vals(&t)),
        (e, Err(err)) => panic!("{label}: {what}: expected {e}, got error {err}"),
        (e, Ok(t)) => {
            let (shape, data) = decode(e);
            assert_eq!(t.kind(), Kind::Double, "{label}: {what}: dtype");
            assert_values(&format!("{label}: {what}"), &t, &shape, &data, RTOL, ATOL);
        }
    }
}

#[test]
fn golden_values_match_torch() {
    let doc = load("distributions.json", "scripts/gen_golden.py");
    let cases = doc["cases"].as_array().expect("cases");
    let families: std::collections::BTreeSet<&str> = cases.iter().map(|c| c["family"].as_str().unwrap()).collect();
    for f in [
        "Normal",
        "HalfNormal",
        "LogNormal",
        "Uniform",
        "Exponential",
        "Gamma",
        "InverseGamma",
        "Beta",
        "Dirichlet",
        "StudentT",
        "Cauchy",
        "HalfCauchy",
        "Laplace",
        "MultivariateNormal",
        "LowRankMultivariateNormal",
        "Categorical",
        "OneHotCategorical",
        "Bernoulli",
        "Binomial",
        "Poisson",
        "NegativeBinomial",
    ] {
        assert!(families.contains(f), "golden file has no case for {f}");
    }
    check_all(cases, |i, case| {
        let family = case["family"].as_str().unwrap();
        let ctor = case["ctor"].as_str().unwrap();
        let label = format!("case {i} {family}::{ctor} ({})", case["note"].as_str().unwrap_or(""));
        check_case(&label, family, ctor, case);
    });
}

/// Runs `check` on every case (with its index), then fails with the messages of all the cases
/// whose check panicked, so that one run reports every mismatch.
pub(crate) fn check_all(cases: &[Value], check: impl Fn(usize, &Value)) {
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(i, case)));
        if let Err(e) = result {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            failures.push(msg.unwrap_or_else(|| format!("case {i}: panicked")));
        }
    }
    assert!(failures.is_empty(), "{} of {} golden cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

fn check_case(label: &str, family: &str, ctor: &str, case: &Value) {
    let params: Vec<Tensor> = case["params"].as_array().unwrap().iter().map(|p| tensor(&p[1])).collect();
    let d = build(family, ctor, &params).unwrap_or_else(|e| panic!("{label}: constructor failed: {e}"));
    assert_eq!(d.batch_shape(), shape_of(&case["batch_shape"]).as_slice(), "{label}: batch_shape");
    assert_eq!(d.event_shape(), shape_of(&case["event_shape"]).as_slice(), "{label}: event_shape");

    let value = tensor(&case["value"]);
    let (lp_shape, lp_data) = decode(&case["log_prob"]);
    let lp = d.log_prob(&value).unwrap_or_else(|e| panic!("{label}: log_prob failed: {e}"));
    assert_eq!(lp.kind(), Kind::Double, "{label}: log_prob dtype");
    assert_values(&format!("{label}: log_prob"), &lp, &lp_shape, &lp_data, RTOL, ATOL);
    if family == "Categorical" {
        // Indices usually come as integers.
        let lp_int = d.log_prob(&value.to_kind(Kind::Int64)).unwrap();
        assert_values(&format!("{label}: log_prob of i64 value"), &lp_int, &lp_shape, &lp_data, RTOL, ATOL);
    }

    check_stat(label, "mean", d.mean(), &case["mean"]);
    check_stat(label, "variance", d.variance(), &case["variance"]);
    check_stat(label, "entropy", d.entropy(), &case["entropy"]);
}

#[test]
fn golden_transforms_match_torch() {
    use pyrite_distributions::constraints;
    use pyrite_distributions::transforms::*;
    use std::rc::Rc;
    let doc = load("distributions.json", "scripts/gen_golden.py");
    let cases = doc["transforms"].as_array().expect("transforms");
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["transform"].as_str().unwrap();
        let t: TransformRef = match name {
            "Exp" => Rc::new(ExpTransform),
            "Softplus" => Rc::new(SoftplusTransform),
            "Sigmoid" => Rc::new(SigmoidTransform),
            "StickBreaking" => Rc::new(StickBreakingTransform),
            "LowerCholesky" => Rc::new(LowerCholeskyTransform),
            "CorrCholesky" => Rc::new(CorrCholeskyTransform),
            "biject_to(interval(-2, 5))" => biject_to(&constraints::interval(-2.0, 5.0)).unwrap(),
            "biject_to(greater_than(1.5))" => biject_to(&constraints::greater_than(1.5)).unwrap(),
            other => panic!("golden transform {other} unknown"),
        };
        let x = tensor(&case["x"]);
        let (y_shape, y_data) = decode(&case["y"]);
        let y = t.forward(&x);
        assert_values(&format!("{name}: forward"), &y, &y_shape, &y_data, RTOL, ATOL);
        // LowerCholesky forgets the upper triangle of its input.
        let recovered = if name == "LowerCholesky" { x.tril(0) } else { x.shallow_clone() };
        assert_tensors(&format!("{name}: inverse"), &t.inverse(&y), &recovered, 1e-6, 1e-8);
        let ladj = t.log_abs_det_jacobian(&x, &y);
        match &case["log_abs_det_jacobian"] {
            // torch defines none; ours is checked against the autograd Jacobian elsewhere.
            Value::Null => assert_eq!(ladj.size(), vec![x.size()[0]], "{name}: ladj shape"),
            e => {
                let (shape, data) = decode(e);
                assert_values(&format!("{name}: log_abs_det_jacobian"), &ladj, &shape, &data, RTOL, ATOL);
            }
        }
    }
}
