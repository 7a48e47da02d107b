//! Data sets for pyrite's examples and tests.
//!
//! Radon, iris, an MNIST subset and the 8x8 digits are embedded in the crate
//! and need no files at run time; the ruggedness data ([`rugged`]) is read
//! from a data directory, and [`mnist_idx`] reads the standard MNIST IDX
//! files. Tensors are created on the CPU.
//!
//! ```
//! let iris = pyrite_data::iris()?;
//! let (train, test) = pyrite_data::mnist_subset()?.split_per_class(400)?;
//! assert_eq!(iris.len(), 150);
//! assert_eq!(train.len() + test.len(), 5000);
//! # Ok::<(), pyrite_data::DataError>(())
//! ```

#![warn(missing_docs)]

mod csv;
mod error;
mod idx;
mod images;
mod iris;
mod loader;
mod radon;
mod rugged;
mod source;

pub use error::{DataError, Result};
pub use idx::{mnist_idx, read_idx_images, read_idx_labels};
pub use images::{digits, mnist_subset, ImageSet};
pub use iris::{iris, Iris};
pub use loader::{Batch, DataLoader};
pub use radon::{radon, Radon};
pub use rugged::{rugged, Rugged, DATA_DIR_ENV, RUGGED_FILE, RUGGED_URL};
