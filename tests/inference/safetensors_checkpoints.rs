//! Param stores and `Svi` checkpoints as safetensors: values bit for bit, constraints and the
//! optimizer's state as metadata, resuming exactly as from JSON; JSON files still load; a
//! safetensors file pyrite did not write, or whose tensors disagree with its metadata, is refused
//! with the file named and nothing changed.

use serde_json::Value;

use pyrite::distributions::constraints::interval;
use pyrite::prelude::*;

use super::checkpoints::{data, guide};
use super::common::*;

fn model(x: &Tensor) -> Result<()> {
    let loc = param("loc", Tensor::zeros([2], (Kind::Double, Device::Cpu)), Constraint::Real)?;
    let scale = param("scale", Tensor::ones([2], (Kind::Float, Device::Cpu)), Constraint::Positive)?;
    let w = param("w", Tensor::full([2], 0.5, (Kind::Double, Device::Cpu)), interval(0.0, 2.0))?;
    plate("data", x.size()[0], |_| observe("obs", Normal::new(&(loc * w), scale.to_kind(Kind::Double))?.to_event(1)?, x))?;
    Ok(())
}

fn new_svi() -> Svi<'static, Tensor> {
    let mut svi = Svi::new(model, guide, Optimizer::adam(0.05), TraceElbo::new());
    svi.progress = false;
    svi
}

/// The safetensors header: its length, then the JSON header itself.
fn header(path: &std::path::Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + n]).unwrap()
}

#[test]
fn a_checkpoint_in_safetensors_resumes_exactly_as_the_uninterrupted_run() {
    let dir = TempDir::new("safetensors-resume");
    let path = dir.join("svi.safetensors");
    let x = data();
    let uninterrupted = seeded(7, || {
        let mut svi = new_svi();
        svi.run(10, &x).unwrap();
        snapshot()
    });
    let resumed = seeded(7, || {
        let mut svi = new_svi();
        svi.run(5, &x).unwrap();
        svi.save(&path).unwrap();
        let saved = snapshot();
        let store = new_param_store();
        with_param_store(&store, || {
            let mut svi = new_svi();
            svi.load(&path).unwrap();
            assert_eq!(snapshot(), saved, "the params come back bit for bit");
            assert_eq!(svi.optim.steps(), 5);
            svi.run(5, &x).unwrap();
            snapshot()
        })
    });
    assert_eq!(resumed, uninterrupted);

    // A real safetensors file: binary tensors with their dtypes and shapes, the rest as metadata.
    let h = header(&path);
    assert_eq!(h["params/params/loc"]["dtype"], "F64");
    assert_eq!(h["params/params/scale"]["dtype"], "F32");
    assert_eq!(h["params/params/w"]["shape"], serde_json::json!([2]));
    assert!(h.as_object().unwrap().keys().any(|k| k.starts_with("optimizer/")), "the optimizer's moments are tensors: {h}");
    let document: Value = serde_json::from_str(h["__metadata__"]["pyrite"].as_str().unwrap()).unwrap();
    assert_eq!(document["params"]["params"]["w"]["constraint"]["type"], "interval");
    assert_eq!(document["params"]["params"]["loc"]["tensor"], "params/params/loc");
    assert!(document["params"]["params"]["loc"].get("values").is_none());
}

#[test]
fn a_param_store_in_safetensors_is_smaller_than_json_and_identical_on_reload() {
    let dir = TempDir::new("safetensors-store");
    let store = new_param_store();
    with_param_store(&store, || {
        param("big", Tensor::randn([100, 100], (Kind::Float, Device::Cpu)), Constraint::Real).unwrap();
        param("scale", Tensor::rand([3], (Kind::Double, Device::Cpu)) + 0.1, Constraint::Positive).unwrap();
    });
    let s = pyrite::core::param_store::lock(&store);
    let (binary, text) = (dir.join("params.safetensors"), dir.join("params.json"));
    s.save(&binary).unwrap();
    s.save(&text).unwrap();
    let (b, t) = (std::fs::metadata(&binary).unwrap().len(), std::fs::metadata(&text).unwrap().len());
    assert!(b * 3 < t, "safetensors {b} bytes, JSON {t} bytes");
    assert!(b < 41_000, "10,000 float32 values take 40,000 bytes; the file has {b}");
    for path in [&binary, &text] {
        let mut back = ParamStore::default();
        back.load(path).unwrap();
        assert_eq!(back.names(), s.names());
        for name in s.names() {
            let (a, b) = (s.entry(&name).unwrap(), back.entry(&name).unwrap());
            assert!(a.unconstrained.equal(&b.unconstrained), "{name} from {}", path.display());
            assert_eq!(a.unconstrained.kind(), b.unconstrained.kind());
            assert_eq!(a.constraint, b.constraint);
        }
    }
}

#[test]
fn json_content_loads_whatever_the_file_is_called() {
    let dir = TempDir::new("safetensors-sniff");
    let (json, renamed) = (dir.join("svi.json"), dir.join("svi.ckpt"));
    let x = data();
    seeded(8, || {
        let mut svi = new_svi();
        svi.run(3, &x).unwrap();
        svi.save(&json).unwrap();
        std::fs::copy(&json, &renamed).unwrap();
        let saved = snapshot();
        with_param_store(&new_param_store(), || {
            let mut svi = new_svi();
            svi.load(&renamed).unwrap();
            assert_eq!(snapshot(), saved);
        });
    });
}

#[test]
fn bad_safetensors_files_are_refused_naming_the_file_and_change_nothing() {
    let dir = TempDir::new("safetensors-bad");
    let x = data();
    seeded(9, || {
        let mut svi = new_svi();
        svi.run(3, &x).unwrap();
        let good = dir.join("good.safetensors");
        svi.save(&good).unwrap();
        let bytes = std::fs::read(&good).unwrap();

        // Not written by pyrite: a plain safetensors file from tch.
        let foreign = dir.join("foreign.safetensors");
        Tensor::write_safetensors(&[("loc", Tensor::zeros([2], (Kind::Double, Device::Cpu)))], &foreign).unwrap();
        // Cut short: the header promises more bytes than there are.
        let truncated = dir.join("truncated.safetensors");
        std::fs::write(&truncated, &bytes[..bytes.len() - 8]).unwrap();
        // Neither safetensors nor JSON.
        let garbage = dir.join("garbage.safetensors");
        std::fs::write(&garbage, b"\x00\x01 not a checkpoint").unwrap();
        // Neither safetensors nor JSON.
        let garbage = dir.join("garbage.safetensors");
        std::fs::write(&garbage, b"\x00\x01 not a checkpoint").unwrap();
        // The metadata says another shape than the tensor has.
        let reshaped = dir.join("reshaped.safetensors");
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let head = String::from_utf8(bytes[8..8 + n].to_vec()).unwrap();
        let edited = head.replace(r#"\"shape\":[2]"#, r#"\"shape\":[1]"#);
        assert_ne!(edited, head);
        let mut out = (edited.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(edited.as_bytes());
        out.extend_from_slice(&bytes[8 + n..]);
        std::fs::write(&reshaped, out).unwrap();

        let before = (snapshot(), svi.optim.state_json());
        for (path, problem) in [
            (&foreign, "not written by pyrite"),
            (&truncated, "a malformed safetensors file"),
            (&garbage, "expected value at line 1"),
            (&reshaped, "but its metadata says [1]"),
        ] {
            let err = svi.load(path).unwrap_err();
            let file = path.display().to_string();
            assert!(matches!(&err, PyriteError::Io { path, .. } if *path == file), "{err}");
            assert!(err.to_string().contains(problem), "{}: {err}", path.display());
            assert_eq!((snapshot(), svi.optim.state_json()), before, "{}", path.display());
        }
    });
}
