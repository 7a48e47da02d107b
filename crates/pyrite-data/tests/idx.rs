//! The IDX reader on small files written by the tests, plain and gzipped.

use std::io::Write;
use std::path::{Path, PathBuf};

use pyrite_data::{mnist_idx, read_idx_images, read_idx_labels, DataError};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pyrite-data-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8], gzip: bool) -> PathBuf {
        let path = self.0.join(name);
        let bytes = if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(bytes).unwrap();
            enc.finish().unwrap()
        } else {
            bytes.to_vec()
        };
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An IDX file: magic, big-endian dimensions, then bytes.
fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(data);
    out
}

/// `n` images of 2x3 pixels; image i has pixels 10i..10i+5 (so values stay below 255).
fn images(n: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..n as u8).flat_map(|i| (0..6).map(move |p| 10 * i + p)).collect();
    idx(2051, &[n, 2, 3], &data)
}

fn labels(values: &[u8]) -> Vec<u8> {
    idx(2049, &[values.len() as u32], values)
}

fn check_images(path: &Path) {
    let t = read_idx_images(path).unwrap();
    assert_eq!((t.size(), t.kind()), (vec![3, 6], tch::Kind::Float));
    let expected: Vec<f32> = (0..3).flat_map(|i| (0..6).map(move |p| (10 * i + p) as f32 / 255.0)).collect();
    assert_eq!(Vec::<f32>::try_from(&t.flatten(0, 1)).unwrap(), expected);
}

#[test]
fn reads_plain_and_gzipped() {
    let dir = TempDir::new("plain-gz");
    for gzip in [false, true] {
        check_images(&dir.write("images", &images(3), gzip));
        let l = read_idx_labels(dir.write("labels", &labels(&[7, 0, 9]), gzip)).unwrap();
        assert_eq!((l.size(), l.kind()), (vec![3], tch::Kind::Int64));
        assert_eq!(Vec::<i64>::try_from(&l).unwrap(), [7, 0, 9]);
    }
}

#[test]
fn rejects_bad_magic() {
    let dir = TempDir::new("magic");
    for gzip in [false, true] {
        let path = dir.write("labels-as-images", &labels(&[1, 2]), gzip);
        match read_idx_images(&path) {
            Err(DataError::BadMagic { path: p, expected: 2051, found: 2049 }) => assert_eq!(p, path),
            other => panic!("expected BadMagic, got {other:?}"),
        }
        let err = read_idx_labels(dir.write("images-as-labels", &images(1), gzip)).unwrap_err();
        assert!(err.to_string().contains("bad IDX magic number 2051 (expected 2049)"), "{err}");
    }
}

#[test]
fn rejects_truncated_files() {
    let dir = TempDir::new("truncated");
    let full = images(3);
    for gzip in [false, true] {
        // Data cut short: header says 16 + 18 bytes.
        match read_idx_images(dir.write("short-data", &full[..full.len() - 1], gzip)) {
            Err(DataError::Truncated { expected: 34, found: 33, .. }) => {}
            other => panic!("expected Truncated, got {other:?}"),
        }
        // Header cut short, and a file too short for the magic number.
        for cut in [10, 2, 0] {
            match read_idx_images(dir.write("short-header", &full[..cut], gzip)) {
                Err(DataError::Truncated { expected: 16, found, .. }) => assert_eq!(found, cut as u64),
                other => panic!("expected Truncated, got {other:?}"),
            }
        }
        let l = labels(&[1, 2, 3]);
        assert!(matches!(read_idx_labels(dir.write("short-labels", &l[..l.len() - 2], gzip)), Err(DataError::Truncated { expected: 11, found: 9, .. })));
    }
    // A gzip stream cut short is an I/O error naming the file.
    let gz = std::fs::read(dir.write("whole.gz", &full, true)).unwrap();
    let path = dir.write("cut.gz", &gz[..gz.len() / 2], false);
    match read_idx_images(&path) {
        Err(DataError::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn loads_mnist_directory() {
    let dir = TempDir::new("mnist");
    dir.write("train-images-idx3-ubyte.gz", &images(3), true);
    dir.write("train-labels-idx1-ubyte.gz", &labels(&[1, 2, 3]), true);
    dir.write("t10k-images-idx3-ubyte", &images(2), false);
    match mnist_idx(&dir.0) {
        Err(DataError::MissingFile { file, looked_in, .. }) => {
            assert_eq!(file, "t10k-labels-idx1-ubyte");
            assert!(looked_in.contains("t10k-labels-idx1-ubyte.gz"), "{looked_in}");
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
    // Three labels for two test images.
    dir.write("t10k-labels-idx1-ubyte", &labels(&[4, 5, 6]), false);
    assert!(matches!(mnist_idx(&dir.0), Err(DataError::LabelShape { rows: 2, .. })));

    dir.write("t10k-labels-idx1-ubyte", &labels(&[4, 5]), false);
    let (train, test) = mnist_idx(&dir.0).unwrap();
    assert_eq!((train.len(), test.len(), train.width(), test.num_classes()), (3, 2, 6, 10));
    assert_eq!(Vec::<i64>::try_from(test.labels()).unwrap(), [4, 5]);

    dir.write("t10k-labels-idx1-ubyte", &labels(&[4, 10]), false);
    assert!(matches!(mnist_idx(&dir.0), Err(DataError::LabelOutOfRange { label: 10, .. })));
}
