//! The error type shared by every loader in this crate.

use std::path::PathBuf;

use tch::Kind;

/// Errors raised while loading, parsing or validating a data set.
///
/// Every variant that concerns a file names it; files embedded in the crate
/// are named `<embedded>/FILE`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A data file that is not shipped with the crate could not be found.
    #[error("{file} not found (looked in {looked_in}); {hint}")]
    MissingFile {
        /// The file name that was looked for.
        file: String,
        /// Where the loader looked.
        looked_in: String,
        /// How to obtain the file and tell the loader where it is.
        hint: String,
    },
    /// Reading or decompressing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A text (CSV) file has malformed content.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file being parsed.
        path: PathBuf,
        /// The 1-based line number of the offending line.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// An IDX file starts with the wrong magic number.
    #[error("{}: bad IDX magic number {found} (expected {expected})", path.display())]
    BadMagic {
        /// The file being read.
        path: PathBuf,
        /// The magic number for the requested content (2051 images, 2049 labels).
        expected: u32,
        /// The magic number found in the file.
        found: u32,
    },
    /// An IDX file is shorter than its header says.
    #[error("{}: truncated IDX file: needs {expected} bytes, has {found}", path.display())]
    Truncated {
        /// The file being read.
        path: PathBuf,
        /// Number of bytes the header (or the header's own size) requires.
        expected: u64,
        /// Number of bytes actually present (after decompression).
        found: u64,
    },
    /// A tensor passed to [`ImageSet::new`](crate::ImageSet::new) has the wrong kind.
    #[error("image set: {what} have kind {found:?}, expected {expected:?}")]
    WrongKind {
        /// `"images"` or `"labels"`.
        what: &'static str,
        /// The required kind.
        expected: Kind,
        /// The kind that was passed.
        found: Kind,
    },
    /// Images passed to [`ImageSet::new`](crate::ImageSet::new) are not `[n, width]`.
    #[error("image set: images have shape {shape:?}, expected [n, {width}]")]
    ImageShape {
        /// The shape that was passed.
        shape: Vec<i64>,
        /// The required row width.
        width: i64,
    },
    /// Labels passed to [`ImageSet::new`](crate::ImageSet::new) are not `[n]` for `n` images.
    #[error("image set: labels have shape {shape:?}, expected [{rows}]")]
    LabelShape {
        /// The shape that was passed.
        shape: Vec<i64>,
        /// The number of images.
        rows: i64,
    },
    /// A label lies outside `0..num_classes`.
    #[error("image set: label {label} is outside 0..{num_classes}")]
    LabelOutOfRange {
        /// The offending label.
        label: i64,
        /// The number of classes.
        num_classes: i64,
    },
    /// A per-class split asked for more training rows than a class has.
    #[error("split: class {class} has {available} rows, fewer than the {requested} requested for training")]
    ClassTooSmall {
        /// The class label.
        class: i64,
        /// Rows of that class in the set.
        available: usize,
        /// Training rows requested per class.
        requested: usize,
    },
    /// A shuffled split was given a training fraction outside `[0, 1]`.
    #[error("split: training fraction {0} is not in [0, 1]")]
    BadFraction(f64),
    /// A [`DataLoader`](crate::DataLoader) argument it cannot work with: a batch size that is
    /// not positive, a tensor without dimensions, tensors whose first dimensions differ.
    #[error("data loader: `{what}` {problem}")]
    Loader {
        /// The argument (`"batch_size"`, `"tensors"`).
        what: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A device libtorch cannot use on this machine (a CUDA GPU where there is none), or one
    /// the data could not be moved to; the message says what libtorch sees and what to use
    /// instead.
    #[error("data loader: {0}")]
    Device(String),
}

/// Shorthand for `Result<T, DataError>`.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
