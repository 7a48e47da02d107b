//! Reader for the IDX files MNIST is distributed in, plain or gzipped.

use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

use crate::error::{DataError, Result};
use crate::images::ImageSet;
use crate::source::{maybe_gunzip, read_file};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
const IMAGES_MAGIC: u32 = 0x0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
const LABELS_MAGIC: u32 = 0x0801;

/// Reads an IDX image file (magic 2051): returns f32 `[n, rows * cols]` with
/// pixels scaled from 0-255 to `[0, 1]`. Gzipped files are detected by their
/// content and decompressed.
///
/// # Errors
///
/// [`DataError::Io`] when the file cannot be read or decompressed,
/// [`DataError::BadMagic`] for another magic number and
/// [`DataError::Truncated`] when the file is shorter than its header says.
///
/// ```
/// // Two 1x2 images.
/// let bytes = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 255, 51, 102];
/// let path = std::env::temp_dir().join(format!("pyrite-doc-{}.idx", std::process::id()));
/// std::fs::write(&path, bytes).unwrap();
/// let images = pyrite_data::read_idx_images(&path)?;
/// std::fs::remove_file(&path).unwrap();
/// assert_eq!(images.size(), [2, 2]);
/// assert_eq!(images.double_value(&[0, 1]), 1.0);
/// # Ok::<(), pyrite_data::DataError>(())
/// ```
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Tensor> {
    let (dims, pixels) = read_idx(path.as_ref(), IMAGES_MAGIC, 3)?;
    Ok(pixels.to_kind(Kind::Float).view([dims[0], dims[1] * dims[2]]) / 255.0)
}

/// Reads an IDX label file (magic 2049): returns i64 `[n]`. Gzipped files
/// are detected by their content and decompressed.
///
/// # Errors
///
/// As for [`read_idx_images`].
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Tensor> {
    let (_, labels) = read_idx(path.as_ref(), LABELS_MAGIC, 1)?;
    Ok(labels.to_kind(Kind::Int64))
}

/// Loads MNIST from the four standard IDX files in `dir`
/// (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally with
/// a `.gz` suffix) and returns `(train, test)` with 10 classes.
///
/// # Errors
///
/// [`DataError::MissingFile`] when a file is absent, the errors of
/// [`read_idx_images`], and [`ImageSet::new`]'s errors when the files do
/// not fit together (label counts, image sizes, labels above 9).
pub fn mnist_idx(dir: impl AsRef<Path>) -> Result<(ImageSet, ImageSet)> {
    let dir = dir.as_ref();
    let load = |images: &str, labels: &str, width: Option<i64>| -> Result<ImageSet> {
        let images = read_idx_images(find(dir, images)?)?;
        let labels = read_idx_labels(find(dir, labels)?)?;
        let width = width.unwrap_or(images.size()[1]);
        ImageSet::new(images, labels, width, 10)
    };
    let train = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte", None)?;
    let test = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", Some(train.width()))?;
    Ok((train, test))
}

/// `dir/name` or, failing that, `dir/name.gz`.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz = format!("{name}.gz");
    [dir.join(name), dir.join(&gz)].into_iter().find(|p| p.is_file()).ok_or_else(|| DataError::MissingFile {
        file: name.to_string(),
        looked_in: format!("{} for `{name}` and `{gz}`", dir.display()),
        hint: "the directory must hold the four standard MNIST IDX files \
                   (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, \
                   t10k-labels-idx1-ubyte), each plain or gzipped"
            .to_string(),
    })
}

/// Reads an unsigned-byte IDX file with `ndims` dimensions and the given
/// magic number, returning its dimensions and its data as a flat u8 tensor.
fn read_idx(path: &Path, magic: u32, ndims: usize) -> Result<(Vec<i64>, Tensor)> {
    let raw = read_file(path)?;
    let bytes = maybe_gunzip(path, &raw)?;
    let truncated = |expected: u64| DataError::Truncated { path: path.to_path_buf(), expected, found: bytes.len() as u64 };
    let header_len = 4 + 4 * ndims;
    // Cannot fail: a range of four bytes converts to `[u8; 4]`; each call below follows a length
    // check covering word `i`.
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    if bytes.len() < 4 {
        return Err(truncated(header_len as u64));
    }
    if word(0) != magic {
        return Err(DataError::BadMagic { path: path.to_path_buf(), expected: magic, found: word(0) });
    }
    if bytes.len() < header_len {
        return Err(truncated(header_len as u64));
    }
    let dims: Vec<u64> = (1..=ndims).map(|i| u64::from(word(i))).collect();
    let needed = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).and_then(|data| data.checked_add(header_len as u64)).unwrap_or(u64::MAX);
    if (bytes.len() as u64) < needed {
        return Err(truncated(needed));
    }
    let data = Tensor::from_slice(&bytes[header_len..needed as usize]);
    Ok((dims.into_iter().map(|d| d as i64).collect(), data))
}
