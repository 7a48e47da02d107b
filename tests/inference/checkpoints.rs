//! `Svi::load` is all or nothing: a checkpoint with any bad part (params, optimizer state, or
//! JSON) is refused with a typed error naming the file, and neither the params nor the optimizer
//! change; the next step is the one it would have been without the failed load.

use serde_json::{json, Value};

use pyrite::prelude::*;

use super::common::*;

/// Maximum likelihood of a normal's `loc` and `scale` (params of shape [2]) over rows of two
/// observations. Nothing is drawn: each step is exact however other tests' threads use libtorch's
/// shared generator meanwhile.
fn model(x: &Tensor) -> Result<()> {
    let loc = param("loc", Tensor::zeros([2], (Kind::Double, Device::Cpu)), Constraint::Real)?;
    let scale = param("scale", Tensor::ones([2], (Kind::Double, Device::Cpu)), Constraint::Positive)?;
    plate("data", x.size()[0], |_| observe("obs", Normal::new(&loc, &scale)?.to_event(1)?, x))?;
    Ok(())
}

/// No latent sites: the params are all in the model.
pub(super) fn guide(_: &Tensor) -> Result<()> {
    Ok(())
}

/// Four rows of two observations.
pub(super) fn data() -> Tensor {
    t64(&[0.8, 1.9, 1.2, 0.4, 1.5, 2.2, 0.9, 1.1]).view([4, 2])
}

fn new_svi() -> Svi<'static, Tensor> {
    let mut svi = Svi::new(model, guide, Optimizer::adam(0.05), TraceElbo::new());
    svi.progress = false;
    svi
}

/// Everything a load could change, and what the next step does: the params, the optimizer's
/// state, the loss of the step and the params after it.
type Outcome = (Vec<(String, Vec<f64>)>, Value, f64, Vec<(String, Vec<f64>)>);

fn outcome(svi: &mut Svi<Tensor>, x: &Tensor) -> Outcome {
    let (params, state) = (snapshot(), svi.optim.state_json());
    let loss = svi.step(x).unwrap();
    (params, state, loss, snapshot())
}

/// Which error a bad checkpoint gives: a param's problem, or the whole file's.
enum Expect {
    /// `PyriteError::Param` naming this param, with this problem (before ` (in FILE)`).
    Param(&'static str, &'static str),
    /// `PyriteError::Io` naming the file, with this problem.
    File(&'static str),
    /// `PyriteError::Io` naming the file, with a message starting so (serde's parse errors).
    FileStarting(&'static str),
}

/// Each bad checkpoint: its text made from the good one, and the error it must give.
fn catalogue(good: &Value) -> Vec<(&'static str, String, Expect)> {
    use Expect::{File, FileStarting, Param};
    let with = |change: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        change(&mut v);
        v.to_string()
    };
    let text = good.to_string();
    vec![
        ("(a) no optimizer state", with(&|v| drop(v.as_object_mut().unwrap().remove("optimizer"))), File("optimizer is missing")),
        ("(a) a null optimizer state", with(&|v| v["optimizer"] = Value::Null), File("optimizer is null, not an object")),
        (
            "(b) a moment with a string value",
            with(&|v| v["optimizer"]["state"]["loc"][0]["values"][1] = json!("x")),
            Param("loc", r#"optimizer.state.loc[0]: values[1] is "x", not a number"#),
        ),
        (
            "(b) a moment with a null value",
            with(&|v| v["optimizer"]["state"]["scale"][1]["values"][0] = Value::Null),
            Param("scale", "optimizer.state.scale[1]: values[0] is null, not a number"),
        ),
        (
            "(b) a moment that is not a tensor",
            with(&|v| v["optimizer"]["state"]["loc"][1] = json!(3)),
            Param("loc", "optimizer.state.loc[1]: the tensor is 3, not an object"),
        ),
        (
            "(b) an integer moment",
            with(&|v| v["optimizer"]["state"]["loc"][0] = json!({"shape": [2], "dtype": "int64", "values": [0, 0]})),
            Param("loc", "optimizer.state.loc[0] has an integer or bool dtype, not a floating-point one"),
        ),
        (
            "(b) one moment where Adam keeps two",
            with(&|v| drop(v["optimizer"]["state"]["loc"].as_array_mut().unwrap().pop())),
            Param("loc", "optimizer.state.loc holds 1 tensor, but Adam keeps 2 per param"),
        ),
        (
            "(b) moments not a list",
            with(&|v| v["optimizer"]["state"]["loc"] = json!({})),
            Param("loc", "optimizer.state.loc is an object, not a list of tensors"),
        ),
        (
            "(b) moments of two shapes",
            with(&|v| v["optimizer"]["state"]["loc"][1] = json!({"shape": [3], "dtype": "float64", "values": [0.0, 0.0, 0.0]})),
            Param("loc", "optimizer.state.loc[1] has shape [3], but optimizer.state.loc[0] has [2]"),
        ),
        (
            "(b) moments of another shape than the param",
            with(&|v| {
                let t = json!({"shape": [3], "dtype": "float64", "values": [0.0, 0.0, 0.0]});
                v["optimizer"]["state"]["loc"] = json!([t.clone(), t]);
            }),
            Param("loc", "optimizer.state.loc holds moments of shape [3], but the param has shape [2]"),
        ),
        ("(b) lr not a number", with(&|v| v["optimizer"]["lr"] = json!("fast")), File(r#"optimizer.lr is "fast", not a number"#)),
        ("(b) no lr", with(&|v| drop(v["optimizer"].as_object_mut().unwrap().remove("lr"))), File("optimizer.lr is missing")),
        ("(b) a negative step", with(&|v| v["optimizer"]["step"] = json!(-1)), File("optimizer.step is -1, not a non-negative integer")),
        ("(b) state not an object", with(&|v| v["optimizer"]["state"] = json!([])), File("optimizer.state is a list, not an object")),
        (
            "(c) moments of a param not in the file",
            with(&|v| {
                drop(v["params"]["params"].as_object_mut().unwrap().remove("scale"));
                v["params"]["order"] = json!(["loc"]);
            }),
            Param("scale", "optimizer.state.scale holds moments of a param that is not among the params"),
        ),
        (
            "(c) moments of an unknown name",
            with(&|v| v["optimizer"]["state"]["ghost"] = v["optimizer"]["state"]["loc"].clone()),
            Param("ghost", "optimizer.state.ghost holds moments of a param that is not among the params"),
        ),
        ("(d) truncated JSON", text[..text.len() / 2].to_string(), FileStarting("EOF while parsing")),
        ("(d) not JSON", "checkpoint".to_string(), FileStarting("expected value at line 1 column 1")),
        ("no params", with(&|v| drop(v.as_object_mut().unwrap().remove("params"))), File("params is missing")),
        ("a malformed param", with(&|v| v["params"]["params"]["loc"]["values"][0] = json!("x")), Param("loc", r#"values[0] is "x", not a number"#)),
    ]
}

#[test]
fn a_bad_checkpoint_changes_neither_params_nor_optimizer_state() {
    let dir = TempDir::new("checkpoints");
    let (good, scratch, bad) = (dir.join("good.json"), dir.join("scratch.json"), dir.join("bad.json"));
    let x = data();
    // The checkpoint after 3 steps; the reference: 3 more steps (after a save, as in the cases
    // below), then the outcome with no load attempted.
    let reference = seeded(41, || {
        let mut svi = new_svi();
        svi.run(3, &x).unwrap();
        svi.save(&good).unwrap();
        svi.run(3, &x).unwrap();
        outcome(&mut svi, &x)
    });
    let checkpoint: Value = serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    let mut failures = Vec::new();
    for (case, text, expect) in catalogue(&checkpoint) {
        std::fs::write(&bad, text).unwrap();
        let (err, got) = seeded(41, || {
            let mut svi = new_svi();
            svi.run(3, &x).unwrap();
            svi.save(&scratch).unwrap();
            svi.run(3, &x).unwrap();
            let err = svi.load(&bad).err();
            (err, outcome(&mut svi, &x))
        });
        let Some(err) = err else {
            failures.push(format!("{case}: loaded"));
            continue;
        };
        let file = bad.display().to_string();
        let fits = match (&expect, &err) {
            (Expect::Param(name, problem), PyriteError::Param { name: got, .. }) if got == name => {
                err.to_string() == format!("param `{name}`: {problem} (in {file})")
            }
            (Expect::File(problem), PyriteError::Io { path, .. }) if *path == file => err.to_string() == format!("{file}: {problem}"),
            (Expect::FileStarting(start), PyriteError::Io { path, .. }) if *path == file => err.to_string().starts_with(&format!("{file}: {start}")),
            _ => false,
        };
        if !fits {
            failures.push(format!("{case}: unexpected error {err:?}"));
        }
        if got != reference {
            failures.push(format!("{case}: the params, the optimizer state or the next step changed"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The good checkpoint loads both parts.
    seeded(41, || {
        let mut svi = new_svi();
        svi.run(6, &x).unwrap();
        svi.load(&good).unwrap();
        assert_eq!(svi.optim.steps(), 3);
        assert_eq!(svi.optim.state_json(), checkpoint["optimizer"]);
    });
}

/// `Svi::save` writes moments only for the params it writes: a param removed from the store
/// after training takes its moments with it, and the checkpoint loads.
#[test]
fn save_leaves_out_moments_of_params_no_longer_in_the_store() {
    let dir = TempDir::new("checkpoints-removed");
    let path = dir.join("svi.json");
    let x = data();
    seeded(42, || {
        let mut svi = new_svi();
        svi.run(3, &x).unwrap();
        assert!(pyrite::core::param_store::lock(&get_param_store()).remove("scale"));
        svi.save(&path).unwrap();
    });
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let with_moments: Vec<&String> = saved["optimizer"]["state"].as_object().unwrap().keys().collect();
    assert_eq!(with_moments, vec!["loc"]);
    seeded(43, || {
        let mut svi = new_svi();
        svi.load(&path).unwrap();
        assert_eq!(snapshot().into_iter().map(|(n, _)| n).collect::<Vec<_>>(), vec!["loc"]);
        assert_eq!(svi.optim.steps(), 3);
    });
}
