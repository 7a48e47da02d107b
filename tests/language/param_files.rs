//! Malformed param-store files: each is refused with a typed error naming the file, the param
//! and the problem, and the store that tried to load it keeps its content exactly.

use pyrite::distributions::constraints::{interval, Bound};
use pyrite::prelude::*;
use serde_json::{json, Value};

use super::common::*;

/// A store's content as exactly as it can be compared: per param its name, dtype, shape,
/// constraint and the bits of its unconstrained values.
type Contents = Vec<(String, Kind, Vec<i64>, Constraint, Vec<u64>)>;

fn contents(s: &ParamStore) -> Contents {
    s.iter()
        .map(|(n, e)| {
            (n.clone(), e.unconstrained.kind(), e.unconstrained.size(), e.constraint.clone(), to_vec(&e.unconstrained).iter().map(|x| x.to_bits()).collect())
        })
        .collect()
}

/// The saved form of a store of three params: `loc` (float32, real, shape [3]), `scale` (float64,
/// positive) and `probs` (a simplex of 3, so 2 unconstrained values).
fn good_file() -> Value {
    let mut s = ParamStore::default();
    s.set("loc", &Tensor::from_slice(&[1.0f32, -2.0, 0.5]), Constraint::Real).unwrap();
    s.set("scale", &Tensor::from(2.0f64), Constraint::Positive).unwrap();
    s.set("probs", &Tensor::from_slice(&[0.2f64, 0.3, 0.5]), Constraint::Simplex).unwrap();
    s.to_json()
}

/// A store with content of its own, which a failed load must leave as it is.
fn target() -> ParamStore {
    let mut s = ParamStore::default();
    s.set("w", &Tensor::from_slice(&[0.25f32, 4.0]), Constraint::Positive).unwrap();
    s.set("b", &Tensor::from_slice(&[0.1f64, 0.7]), interval(0.0, 1.0)).unwrap();
    s
}

/// Which error a malformed file gives: a param's problem, or the whole file's.
enum Expect {
    /// `PyriteError::Param` naming this param, with this problem (before ` (in FILE)`).
    Param(&'static str, &'static str),
    /// `PyriteError::Io` naming the file, with this problem.
    File(&'static str),
}

/// A malformed file: its description, what it changes in the good file, the error it must give.
type Case = (&'static str, Box<dyn Fn(&mut Value)>, Expect);

/// Every malformed file.
fn catalogue() -> Vec<Case> {
    use Expect::{File, Param};
    vec![
        // Values.
        (
            "a string among the values",
            Box::new(|v: &mut Value| v["params"]["loc"]["values"][2] = json!("abc")),
            Param("loc", r#"values[2] is "abc", not a number"#),
        ),
        (
            "null (a NaN written by serde) among the values",
            Box::new(|v: &mut Value| v["params"]["loc"]["values"][0] = Value::Null),
            Param("loc", "values[0] is null, not a number"),
        ),
        ("values not a list", Box::new(|v: &mut Value| v["params"]["scale"]["values"] = json!(3)), Param("scale", "values is 3, not a list of numbers")),
        ("values missing", Box::new(|v: &mut Value| drop(v["params"]["scale"].as_object_mut().unwrap().remove("values"))), Param("scale", "values is missing")),
        (
            "a float32 value beyond float32's range",
            Box::new(|v: &mut Value| v["params"]["loc"]["values"][1] = json!(1e39)),
            Param("loc", "values[1] is 1e+39, beyond the range of float32"),
        ),
        (
            "fewer values than the shape holds",
            Box::new(|v: &mut Value| v["params"]["loc"]["shape"] = json!([2, 2])),
            Param("loc", "values has 3 numbers, but shape [2, 2] holds 4"),
        ),
        // Shape.
        (
            "a fractional shape entry",
            Box::new(|v: &mut Value| v["params"]["loc"]["shape"] = json!([1.5])),
            Param("loc", "shape[0] is 1.5, not a non-negative integer"),
        ),
        (
            "a negative shape entry",
            Box::new(|v: &mut Value| v["params"]["loc"]["shape"] = json!([-3])),
            Param("loc", "shape[0] is -3, not a non-negative integer"),
        ),
        (
            "a string shape entry",
            Box::new(|v: &mut Value| v["params"]["loc"]["shape"] = json!(["3"])),
            Param("loc", r#"shape[0] is "3", not a non-negative integer"#),
        ),
        (
            "a shape that is not a list",
            Box::new(|v: &mut Value| v["params"]["loc"]["shape"] = json!(3)),
            Param("loc", "shape is 3, not a list of non-negative integers"),
        ),
        ("shape missing", Box::new(|v: &mut Value| drop(v["params"]["loc"].as_object_mut().unwrap().remove("shape"))), Param("loc", "shape is missing")),
        // Dtype and device.
        (
            "an unknown dtype",
            Box::new(|v: &mut Value| v["params"]["loc"]["dtype"] = json!("float16")),
            Param("loc", r#"dtype is "float16", not one of float32, float64, int32, int64, bool"#),
        ),
        (
            "an integer dtype for a param",
            Box::new(|v: &mut Value| v["params"]["loc"]["dtype"] = json!("int64")),
            Param("loc", r#"dtype is "int64", not float32 or float64: a param is a floating-point tensor"#),
        ),
        ("a device that is not a name", Box::new(|v: &mut Value| v["params"]["loc"]["device"] = json!(3)), Param("loc", "device is 3, not a device name")),
        (
            "a param that is not an object",
            Box::new(|v: &mut Value| v["params"]["loc"] = json!([1.0, 2.0])),
            Param("loc", "the saved param is a list, not an object"),
        ),
        // Constraints.
        (
            "constraint missing",
            Box::new(|v: &mut Value| drop(v["params"]["scale"].as_object_mut().unwrap().remove("constraint"))),
            Param("scale", "constraint is missing"),
        ),
        (
            "a constraint that is not an object",
            Box::new(|v: &mut Value| v["params"]["scale"]["constraint"] = json!("positive")),
            Param("scale", r#"constraint is "positive", not an object"#),
        ),
        (
            "a constraint without type",
            Box::new(|v: &mut Value| v["params"]["scale"]["constraint"] = json!({"bound": 1.0})),
            Param("scale", "constraint.type is missing"),
        ),
        (
            "an unknown constraint",
            Box::new(|v: &mut Value| v["params"]["scale"]["constraint"] = json!({"type": "wobbly"})),
            Param("scale", r#"constraint.type is "wobbly", not a known constraint"#),
        ),
        (
            "greater_than without its bound",
            Box::new(|v: &mut Value| v["params"]["scale"]["constraint"] = json!({"type": "greater_than"})),
            Param("scale", "constraint.bound is missing"),
        ),
        (
            "a bound that is a string",
            Box::new(|v: &mut Value| v["params"]["scale"]["constraint"] = json!({"type": "interval", "low": "0", "high": 1.0})),
            Param("scale", r#"constraint.low is "0", not a number or a tensor object"#),
        ),
        (
            "a tensor bound with a string value",
            Box::new(|v: &mut Value| {
                v["params"]["scale"]["constraint"] = json!({"type": "interval", "low": {"shape": [], "dtype": "float64", "values": ["x"]}, "high": 1.0})
            }),
            Param("scale", r#"constraint.low.values[0] is "x", not a number"#),
        ),
        (
            "an interval whose low is above its high",
            Box::new(|v: &mut Value| v["params"]["scale"]["constraint"] = json!({"type": "interval", "low": 2.0, "high": 1.0})),
            Param("scale", "constraint interval(2, 1): low is not below high"),
        ),
        (
            "a tensor bound that does not broadcast to the param",
            Box::new(|v: &mut Value| {
                v["params"]["loc"]["constraint"] = json!({"type": "greater_than", "bound": {"shape": [2], "dtype": "float32", "values": [0.0, 1.0]}})
            }),
            Param("loc", "constraint greater_than(tensor[2]): a bound of shape [2] does not broadcast to the param's shape [3]"),
        ),
        (
            "a negative independent n",
            Box::new(|v: &mut Value| v["params"]["loc"]["constraint"] = json!({"type": "independent", "base": {"type": "real"}, "n": -1})),
            Param("loc", "constraint.n is -1, not a number of dimensions"),
        ),
        (
            "an unknown independent base",
            Box::new(|v: &mut Value| v["params"]["loc"]["constraint"] = json!({"type": "independent", "base": {"type": 7}, "n": 1})),
            Param("loc", "constraint.base.type is 7, not a known constraint"),
        ),
        (
            "more event dimensions than the param has",
            Box::new(|v: &mut Value| v["params"]["loc"]["constraint"] = json!({"type": "independent", "base": {"type": "real"}, "n": 3})),
            Param("loc", "shape [3] has 1 dimensions, but constraint independent(real, 3) needs at least 3"),
        ),
        (
            "a discrete constraint",
            Box::new(|v: &mut Value| v["params"]["loc"]["constraint"] = json!({"type": "integer_interval", "low": 0, "high": 3})),
            Param("loc", "constraint integer_interval(0, 3) has no bijection from the reals: a param's constraint must be continuous"),
        ),
        // Values outside the unconstrained domain of the constraint's bijection.
        (
            "a scalar simplex",
            Box::new(|v: &mut Value| v["params"]["probs"] = json!({"shape": [], "dtype": "float64", "values": [0.5], "constraint": {"type": "simplex"}})),
            Param("probs", "shape [] has 0 dimensions, but constraint simplex needs at least 1"),
        ),
        (
            "an empty simplex",
            Box::new(|v: &mut Value| v["params"]["probs"] = json!({"shape": [0], "dtype": "float64", "values": [], "constraint": {"type": "simplex"}})),
            Param("probs", "shape [0]: constraint simplex needs at least 1 unconstrained value in the last dimension"),
        ),
        (
            "a non-square lower Cholesky factor",
            Box::new(|v: &mut Value| {
                v["params"]["probs"] = json!({"shape": [2, 3], "dtype": "float64", "values": [0, 0, 0, 0, 0, 0], "constraint": {"type": "lower_cholesky"}})
            }),
            Param("probs", "shape [2, 3]: constraint lower_cholesky needs square matrices (the last two dimensions equal)"),
        ),
        (
            "a correlation Cholesky factor of 2 unconstrained values",
            Box::new(|v: &mut Value| v["params"]["probs"]["constraint"] = json!({"type": "corr_cholesky"})),
            Param("probs", "shape [2]: constraint corr_cholesky needs n(n-1)/2 values (0, 1, 3, 6, ...) in the last dimension"),
        ),
        // The file as a whole.
        ("params missing", Box::new(|v: &mut Value| drop(v.as_object_mut().unwrap().remove("params"))), File("params is missing")),
        ("params not an object", Box::new(|v: &mut Value| v["params"] = json!([1, 2])), File("params is a list, not an object")),
        (
            "another format",
            Box::new(|v: &mut Value| v["format"] = json!("pyrite-checkpoint")),
            File(r#"format is "pyrite-checkpoint", not "pyrite-param-store""#),
        ),
        ("another version", Box::new(|v: &mut Value| v["version"] = json!(2)), File("version is 2, not 1")),
        ("order not a list", Box::new(|v: &mut Value| v["order"] = json!("loc")), File(r#"order is "loc", not a list of param names"#)),
        ("order with a number", Box::new(|v: &mut Value| v["order"][0] = json!(1)), File("order[0] is 1, not a param name")),
        ("order naming an unknown param", Box::new(|v: &mut Value| v["order"][1] = json!("ghost")), File(r#"order[1] is "ghost", which is not among params"#)),
        ("order naming a param twice", Box::new(|v: &mut Value| v["order"][2] = json!("loc")), File(r#"order[2] is "loc", which order names twice"#)),
        ("a list instead of a store", Box::new(|v: &mut Value| *v = json!([])), File("the param store is a list, not an object")),
    ]
}

#[test]
fn every_malformed_file_is_refused_with_the_file_the_param_and_the_problem_and_changes_nothing() {
    let dir = TempDir::new("param-files");
    let path = dir.join("params.json");
    let mut store = target();
    let before = contents(&store);
    let mut failures = Vec::new();
    for (case, change, expect) in catalogue() {
        let mut v = good_file();
        change(&mut v);
        std::fs::write(&path, v.to_string()).unwrap();
        let err = match store.load(&path) {
            Ok(()) => {
                failures.push(format!("{case}: loaded"));
                store = target();
                continue;
            }
            Err(e) => e,
        };
        let want = match (&expect, &err) {
            (Expect::Param(name, problem), PyriteError::Param { name: got, .. }) if got == name => format!("param `{name}`: {problem} (in {})", path.display()),
            (Expect::File(problem), PyriteError::Io { .. }) => format!("{}: {problem}", path.display()),
            _ => {
                failures.push(format!("{case}: wrong variant: {err:?}"));
                continue;
            }
        };
        if err.to_string() != want {
            failures.push(format!("{case}:\n  got  {err}\n  want {want}"));
        }
        if contents(&store) != before {
            failures.push(format!("{case}: the store changed"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Truncated JSON, and a missing file: an error naming the file, and nothing changes.
    let text = good_file().to_string();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = store.load(&path).unwrap_err();
    assert!(matches!(err, PyriteError::Io { path: ref p, .. } if *p == path.display().to_string()), "{err:?}");
    assert!(err.to_string().starts_with(&format!("{}: EOF while parsing", path.display())), "{err}");
    let missing = dir.join("missing.json");
    let err = store.load(&missing).unwrap_err();
    assert!(matches!(err, PyriteError::Io { path: ref p, .. } if *p == missing.display().to_string()), "{err:?}");
    assert_eq!(contents(&store), before);
    // The good file itself loads.
    std::fs::write(&path, good_file().to_string()).unwrap();
    store.load(&path).unwrap();
    assert_eq!(store.names(), vec!["loc", "scale", "probs"]);
}

#[test]
fn json_from_memory_is_checked_the_same_and_named_without_a_file() {
    let mut store = target();
    let before = contents(&store);
    let mut v = good_file();
    v["params"]["loc"]["values"][2] = json!("abc");
    let err = store.load_json(&v).unwrap_err();
    assert!(matches!(err, PyriteError::Param { ref name, .. } if name == "loc"), "{err:?}");
    assert_eq!(err.to_string(), r#"param `loc`: values[2] is "abc", not a number"#);
    let err = store.load_json(&json!({"format": "pyrite-param-store"})).unwrap_err();
    assert!(matches!(err, PyriteError::Io { ref path, .. } if path == "param store"), "{err:?}");
    assert_eq!(err.to_string(), "param store: params is missing");
    assert_eq!(contents(&store), before);
}

/// Every continuous constraint, nested `independent`, tensor bounds, an empty param, and a
/// param whose constrained value has left its constraint by underflow (a positive param with
/// unconstrained value -800): all come back bit for bit.
#[test]
fn every_continuous_constraint_round_trips_exactly() {
    let dir = TempDir::new("param-files-round-trip");
    let path = dir.join("params.json");
    let mut s = ParamStore::default();
    let lower = Tensor::from_slice(&[2.0f64, 0.0, 0.5, 1.5]).view([2, 2]);
    s.set("lower", &lower, Constraint::LowerCholesky).unwrap();
    s.set("cov", &lower.matmul(&lower.tr()), Constraint::PositiveDefinite).unwrap();
    let corr = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 0.6, 0.8, 0.0, 0.0, 0.6, 0.8]).view([3, 3]);
    s.set("corr", &corr, Constraint::CorrCholesky).unwrap();
    s.set("simplexes", &Tensor::from_slice(&[0.5f32, 0.5, 0.1, 0.9]).view([2, 2]), Constraint::Simplex.independent(1)).unwrap();
    s.set("pos", &Tensor::from_slice(&[1.0f32, 2.0]), Constraint::Positive.independent(1)).unwrap();
    s.set("unit", &Tensor::from(0.25f64), Constraint::UnitInterval).unwrap();
    s.set("nonneg", &Tensor::from(3.0f64), Constraint::Nonnegative).unwrap();
    s.set("ge", &Tensor::from_slice(&[1.0f64, 5.0]), Constraint::GreaterThanEq(Bound::Tensor(Tensor::from_slice(&[0.0f64, 4.0])))).unwrap();
    s.set("between", &Tensor::from_slice(&[0.5f32, 0.0]), Constraint::Interval(Bound::Scalar(-1.0), Bound::Tensor(Tensor::from_slice(&[1.0f32, 2.0]))))
        .unwrap();
    s.set("empty", &Tensor::zeros([0, 3], (Kind::Float, Device::Cpu)), Constraint::Real).unwrap();
    s.set("underflow", &Tensor::from(1.0f64), Constraint::Positive).unwrap();
    tch::no_grad(|| s.entry("underflow").unwrap().unconstrained.shallow_clone().fill_(-800.0));
    assert_eq!(s.get("underflow").unwrap().double_value(&[]), 0.0, "the constrained value is 0, outside positive");
    s.save(&path).unwrap();
    let mut loaded = target();
    loaded.load(&path).unwrap();
    assert_eq!(contents(&loaded), contents(&s));
    for name in s.names() {
        assert!(loaded.get(&name).unwrap().equal(&s.get(&name).unwrap()), "{name}");
    }
}
