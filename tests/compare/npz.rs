//! `save_npz`: the archive read back by the zip crate (through tch's `read_npz`), parsed by hand
//! (zip records and NPY headers), and, when a Python with numpy is at hand (`PYRITE_PYTHON`, else
//! `python3`), loaded by numpy and by ArviZ's `from_dict` if it is installed.

use std::path::PathBuf;
use std::process::Command;

use pyrite::prelude::*;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pyrite-npz-{}-{name}.npz", std::process::id()))
}

/// Two chains of 50 draws: `mu` (f64, value `100 c + d`), `theta` (f32, `[3]`, counting up),
/// `flag` (bool, `d % 3 == 0`) and `count` (i64, `d`).
fn by_chain() -> Samples {
    let c = Tensor::arange(2, (Kind::Double, Device::Cpu)).unsqueeze(1);
    let d = Tensor::arange(50, (Kind::Int64, Device::Cpu)).unsqueeze(0);
    let mu = c * 100.0 + d.to_kind(Kind::Double);
    let theta = Tensor::arange(300, (Kind::Float, Device::Cpu)).reshape([2, 50, 3]);
    let flag = d.remainder(3).eq(0).expand([2, 50], false);
    let count = d.expand([2, 50], false);
    [("mu", mu), ("theta", theta), ("flag", flag), ("count", count)].into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn u16_at(b: &[u8], i: usize) -> usize {
    u16::from_le_bytes([b[i], b[i + 1]]) as usize
}

fn u32_at(b: &[u8], i: usize) -> usize {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize
}

/// The entries of a zip of stored entries: (name, data), checking the central directory.
fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let end = bytes.len() - 22;
    assert_eq!(u32_at(bytes, end), 0x0605_4b50, "end of central directory record");
    let count = u16_at(bytes, end + 10);
    let (cd_size, cd_start) = (u32_at(bytes, end + 12), u32_at(bytes, end + 16));
    assert_eq!(cd_start + cd_size, end);
    let mut out = Vec::new();
    let mut at = cd_start;
    for _ in 0..count {
        assert_eq!(u32_at(bytes, at), 0x0201_4b50, "central directory record");
        assert_eq!(u16_at(bytes, at + 10), 0, "stored");
        let size = u32_at(bytes, at + 20);
        assert_eq!(size, u32_at(bytes, at + 24), "stored: sizes agree");
        let name_len = u16_at(bytes, at + 28);
        let local = u32_at(bytes, at + 42);
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        assert_eq!(u32_at(bytes, local), 0x0403_4b50, "local header of {name}");
        assert_eq!(&bytes[local + 30..local + 30 + name_len], name.as_bytes());
        let data = local + 30 + name_len + u16_at(bytes, local + 28);
        out.push((name, bytes[data..data + size].to_vec()));
        at += 46 + name_len;
    }
    out
}

/// An NPY 1.0 file: (descr, shape, data bytes).
fn parse_npy(b: &[u8]) -> (String, Vec<i64>, Vec<u8>) {
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
    let len = u16_at(b, 8);
    assert_eq!((10 + len) % 64, 0, "header aligned to 64 bytes");
    let header = std::str::from_utf8(&b[10..10 + len]).unwrap();
    assert!(header.ends_with('\n'));
    let field = |key: &str| {
        let start = header.find(key).unwrap_or_else(|| panic!("{key} in {header}")) + key.len();
        header[start..].trim_start().to_string()
    };
    let descr = field("'descr':");
    let descr = descr[1..].split('\'').next().unwrap().to_string();
    assert!(field("'fortran_order':").starts_with("False"));
    let shape = field("'shape':");
    let shape = &shape[1..shape.find(')').unwrap()];
    let shape = shape.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    (descr, shape, b[10 + len..].to_vec())
}

fn tensor_bytes(t: &Tensor) -> Vec<u8> {
    let t = t.contiguous();
    let mut v = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
    t.copy_data_u8(&mut v, t.numel());
    v
}

#[test]
fn archive_parses_by_hand_and_by_the_zip_crate() {
    let samples = by_chain();
    let path = temp("hand");
    save_npz(&path, &samples, true).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let parsed = entries(&bytes);
    assert_eq!(parsed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec!["mu.npy", "theta.npy", "flag.npy", "count.npy"]);
    let descrs = ["<f8", "<f4", "|b1", "<i8"];
    for ((name, data), descr) in parsed.iter().zip(descrs) {
        let site = &samples[name.strip_suffix(".npy").unwrap()];
        let (d, shape, values) = parse_npy(data);
        assert_eq!(d, descr, "{name}");
        assert_eq!(shape, site.size(), "{name}");
        assert_eq!(values, tensor_bytes(site), "{name}");
    }
    // The zip crate checks every entry's CRC-32 as it reads.
    let read = Tensor::read_npz(&path).unwrap();
    assert_eq!(read.len(), 4);
    for (name, t) in read {
        assert!(t.equal(&samples[&name].to_kind(t.kind())), "{name}");
    }
    // The same draws give the same bytes.
    save_npz(&path, &samples, true).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn single_chain_draws_get_a_chain_dimension() {
    let samples: Samples =
        [("x".to_string(), Tensor::randn([20, 2], (Kind::Float, Device::Cpu))), ("s".to_string(), Tensor::randn([20], (Kind::BFloat16, Device::Cpu)))]
            .into_iter()
            .collect();
    let path = temp("single");
    save_npz(&path, &samples, false).unwrap();
    let parsed = entries(&std::fs::read(&path).unwrap());
    let (descr, shape, _) = parse_npy(&parsed[0].1);
    assert_eq!((descr.as_str(), shape), ("<f4", vec![1, 20, 2]));
    let (descr, shape, values) = parse_npy(&parsed[1].1);
    assert_eq!((descr.as_str(), shape), ("<f4", vec![1, 20]), "bfloat16 is written as float32");
    assert_eq!(values, tensor_bytes(&samples["s"].to_kind(Kind::Float)));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn bad_samples_and_paths_are_typed_errors() {
    let ok = Tensor::zeros([2, 10], (Kind::Float, Device::Cpu));
    let path = temp("bad");
    let invalid = |s: Samples, by_chain: bool| matches!(save_npz(&path, &s, by_chain), Err(PyriteError::InvalidInput { .. }));
    let of = |sites: Vec<(&str, Tensor)>| -> Samples { sites.into_iter().map(|(k, v)| (k.to_string(), v)).collect() };
    assert!(invalid(Samples::new(), true));
    assert!(invalid(of(vec![("x", Tensor::zeros([10], (Kind::Float, Device::Cpu)))]), true));
    assert!(invalid(of(vec![("x", Tensor::from(1.0))]), false));
    assert!(invalid(of(vec![("x", ok.shallow_clone()), ("y", Tensor::zeros([2, 11], (Kind::Float, Device::Cpu)))]), true));
    assert!(invalid(of(vec![("", ok.shallow_clone())]), true));
    assert!(!path.exists());
    let missing = std::env::temp_dir().join("pyrite-no-such-dir").join("x.npz");
    match save_npz(&missing, &of(vec![("x", ok)]), true) {
        Err(PyriteError::Io { path, .. }) => assert!(path.contains("pyrite-no-such-dir")),
        other => panic!("expected Io, got {other:?}"),
    }
}

/// The Python to check with, if it has numpy.
fn python_with_numpy() -> Option<String> {
    let python = std::env::var("PYRITE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python).args(["-c", "import numpy"]).output().map(|o| o.status.success()).unwrap_or(false);
    ok.then_some(python)
}

#[test]
fn numpy_and_arviz_read_the_archive() {
    let Some(python) = python_with_numpy() else {
        eprintln!("skipped: no Python with numpy (set PYRITE_PYTHON)");
        return;
    };
    let path = temp("python");
    save_npz(&path, &by_chain(), true).unwrap();
    let script = r#"
import sys
import numpy as np
draws = dict(np.load(sys.argv[1]))
c, d = np.arange(2)[:, None], np.arange(50)[None, :]
assert list(draws) == ["mu", "theta", "flag", "count"], list(draws)
assert draws["mu"].dtype == np.float64 and (draws["mu"] == 100.0 * c + d).all()
assert draws["theta"].dtype == np.float32 and (draws["theta"] == np.arange(300, dtype=np.float32).reshape(2, 50, 3)).all()
assert draws["flag"].dtype == np.bool_ and (draws["flag"] == np.broadcast_to(d % 3 == 0, (2, 50))).all()
assert draws["count"].dtype == np.int64 and (draws["count"] == np.broadcast_to(d, (2, 50))).all()
try:
    import arviz as az
except ImportError:
    print("numpy ok; arviz not installed")
    sys.exit(0)
idata = az.from_dict(posterior=draws)
post = idata.posterior
assert dict(post.sizes)["chain"] == 2 and dict(post.sizes)["draw"] == 50, post.sizes
assert post["theta"].shape == (2, 50, 3)
print("numpy ok; arviz ok")
"#;
    let out = Command::new(&python).arg("-c").arg(script).arg(&path).output().unwrap();
    std::fs::remove_file(&path).unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{python} could not read the archive:\n{text}");
    eprintln!("{}", text.trim());
}
