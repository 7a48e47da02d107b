//! Labelled image sets: the MNIST subset and the 8x8 digits, with splits.

use tch::{Kind, Tensor};

use crate::csv::records;
use crate::error::{DataError, Result};
use crate::source::{decode_text, embedded, maybe_gunzip};

const MNIST_GZ: &[u8] = include_bytes!("../data/mnist_5k.csv.gz");
const DIGITS_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

/// Flattened images with integer class labels, validated on construction.
///
/// Invariants: `images` is f32 `[n, width]`, `labels` is i64 `[n]` with every
/// label in `0..num_classes`.
#[derive(Debug)]
pub struct ImageSet {
    images: Tensor,
    labels: Tensor,
    width: i64,
    num_classes: i64,
}

impl ImageSet {
    /// Builds an image set from f32 `images` of shape `[n, width]` and i64
    /// `labels` of shape `[n]` in `0..num_classes`.
    ///
    /// # Errors
    ///
    /// [`DataError::WrongKind`], [`DataError::ImageShape`],
    /// [`DataError::LabelShape`] or [`DataError::LabelOutOfRange`] when the
    /// tensors break the invariants.
    ///
    /// ```
    /// use pyrite_data::{DataError, ImageSet};
    /// use tch::{Kind, Tensor};
    ///
    /// let images = Tensor::zeros([3, 4], (Kind::Float, tch::Device::Cpu));
    /// let set = ImageSet::new(images, Tensor::from_slice(&[0i64, 1, 1]), 4, 2)?;
    /// assert_eq!(set.len(), 3);
    ///
    /// let images = Tensor::zeros([3, 4], (Kind::Float, tch::Device::Cpu));
    /// let err = ImageSet::new(images, Tensor::from_slice(&[0i64, 1, 2]), 4, 2).unwrap_err();
    /// assert!(matches!(err, DataError::LabelOutOfRange { label: 2, num_classes: 2 }));
    /// # Ok::<(), DataError>(())
    /// ```
    pub fn new(images: Tensor, labels: Tensor, width: i64, num_classes: i64) -> Result<Self> {
        for (what, tensor, expected) in [("images", &images, Kind::Float), ("labels", &labels, Kind::Int64)] {
            if tensor.kind() != expected {
                return Err(DataError::WrongKind { what, expected, found: tensor.kind() });
            }
        }
        let shape = images.size();
        if shape.len() != 2 || shape[1] != width {
            return Err(DataError::ImageShape { shape, width });
        }
        if labels.size() != [shape[0]] {
            return Err(DataError::LabelShape { shape: labels.size(), rows: shape[0] });
        }
        if shape[0] > 0 {
            // Cannot fail: `labels` was checked above to be a 1-d i64 tensor.
            let values = Vec::<i64>::try_from(&labels).expect("an i64 vector converts");
            if let Some(&label) = values.iter().find(|&&l| !(0..num_classes).contains(&l)) {
                return Err(DataError::LabelOutOfRange { label, num_classes });
            }
        }
        Ok(ImageSet { images, labels, width, num_classes })
    }

    /// The images, f32 `[n, width]`.
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// The labels, i64 `[n]`.
    pub fn labels(&self) -> &Tensor {
        &self.labels
    }

    /// Number of pixels per image.
    pub fn width(&self) -> i64 {
        self.width
    }

    /// Number of classes; labels lie in `0..num_classes`.
    pub fn num_classes(&self) -> i64 {
        self.num_classes
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// Whether the set has no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Consumes the set, returning `(images, labels)`.
    pub fn into_parts(self) -> (Tensor, Tensor) {
        (self.images, self.labels)
    }

    /// Splits per class: of each class's rows, in order, the first
    /// `n_train_per_class` go to the training set and the rest to the test
    /// set. Both sets keep the original row order.
    ///
    /// # Errors
    ///
    /// [`DataError::ClassTooSmall`] when a class has fewer than
    /// `n_train_per_class` rows.
    ///
    /// ```
    /// let (train, test) = pyrite_data::mnist_subset()?.split_per_class(400)?;
    /// assert_eq!((train.len(), test.len()), (4000, 1000));
    /// # Ok::<(), pyrite_data::DataError>(())
    /// ```
    pub fn split_per_class(&self, n_train_per_class: usize) -> Result<(ImageSet, ImageSet)> {
        // Cannot fail: `new` checked that the labels are a 1-d i64 tensor.
        let labels = Vec::<i64>::try_from(&self.labels).expect("an i64 vector converts");
        let mut seen = vec![0usize; self.num_classes as usize];
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (row, &label) in labels.iter().enumerate() {
            let count = &mut seen[label as usize];
            if *count < n_train_per_class { &mut train } else { &mut test }.push(row as i64);
            *count += 1;
        }
        if let Some((class, &available)) = seen.iter().enumerate().find(|(_, &count)| count < n_train_per_class) {
            return Err(DataError::ClassTooSmall { class: class as i64, available, requested: n_train_per_class });
        }
        Ok((self.select(&train), self.select(&test)))
    }

    /// Shuffles the rows with a permutation determined by `seed`, then puts
    /// the first `round(len * train_fraction)` into the training set and the
    /// rest into the test set. The same seed always gives the same split.
    ///
    /// # Errors
    ///
    /// [`DataError::BadFraction`] when `train_fraction` is not in `[0, 1]`.
    ///
    /// ```
    /// let (train, test) = pyrite_data::digits()?.shuffled_split(0.8, 0)?;
    /// assert_eq!((train.len(), test.len()), (1438, 359));
    /// # Ok::<(), pyrite_data::DataError>(())
    /// ```
    pub fn shuffled_split(&self, train_fraction: f64, seed: u64) -> Result<(ImageSet, ImageSet)> {
        if !(0.0..=1.0).contains(&train_fraction) {
            return Err(DataError::BadFraction(train_fraction));
        }
        let rows = permutation(self.len(), seed);
        let n_train = (self.len() as f64 * train_fraction).round() as usize;
        Ok((self.select(&rows[..n_train]), self.select(&rows[n_train..])))
    }

    /// The rows `rows` (all in range) as a new set.
    fn select(&self, rows: &[i64]) -> ImageSet {
        // Cannot fail: the targets are the images' and labels' own devices.
        let index = Tensor::from_slice(rows).to_device(self.images.device());
        ImageSet {
            images: self.images.index_select(0, &index),
            labels: self.labels.index_select(0, &index.to_device(self.labels.device())),
            width: self.width,
            num_classes: self.num_classes,
        }
    }
}

/// A Fisher-Yates permutation of `0..n` driven by SplitMix64.
fn permutation(n: usize, seed: u64) -> Vec<i64> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut rows: Vec<i64> = (0..n as i64).collect();
    for i in (1..n).rev() {
        // Uniform in 0..=i by multiply-shift.
        let j = ((u128::from(next()) * (i as u128 + 1)) >> 64) as usize;
        rows.swap(i, j);
    }
    rows
}

/// Loads the 5,000-image MNIST subset embedded in the crate.
///
/// Images are 28x28, flattened row-major to f32 `[5000, 784]` and scaled
/// from 0-255 to `[0, 1]`; labels are i64 `[5000]` in `0..10`. Rows are
/// sorted by label, 500 per digit, so split with
/// [`ImageSet::split_per_class`] (or [`ImageSet::shuffled_split`]), never by
/// row ranges.
///
/// ```
/// let mnist = pyrite_data::mnist_subset()?;
/// assert_eq!(mnist.images().size(), [5000, 784]);
/// assert_eq!(mnist.num_classes(), 10);
/// # Ok::<(), pyrite_data::DataError>(())
/// ```
pub fn mnist_subset() -> Result<ImageSet> {
    load_csv_images("mnist_5k.csv.gz", MNIST_GZ, 784, 255.0)
}

/// Loads the 1,797 8x8 handwritten digits embedded in the crate (the
/// scikit-learn `digits` set).
///
/// Images are f32 `[1797, 64]`, scaled from 0-16 to `[0, 1]`; labels are i64
/// `[1797]` in `0..10`, in the original (mixed) order.
///
/// ```
/// let digits = pyrite_data::digits()?;
/// assert_eq!(digits.images().size(), [1797, 64]);
/// # Ok::<(), pyrite_data::DataError>(())
/// ```
pub fn digits() -> Result<ImageSet> {
    load_csv_images("digits.csv.gz", DIGITS_GZ, 64, 16.0)
}

/// Parses lines of `width` pixel values in `0..=max` followed by a label in `0..10`.
fn load_csv_images(name: &str, gz: &[u8], width: usize, max: f32) -> Result<ImageSet> {
    let path = embedded(name);
    let bytes = maybe_gunzip(&path, gz)?;
    let text = decode_text(&bytes);
    let parse_error = |line: usize, message: String| DataError::Parse { path: path.clone(), line, message };
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for record in records(&path, &text, b',')? {
        let line = record.line;
        let fields: Vec<&str> = record.fields().collect();
        if fields.len() != width + 1 {
            return Err(parse_error(line, format!("expected {} fields, found {}", width + 1, fields.len())));
        }
        for field in &fields[..width] {
            match field.parse::<f32>() {
                Ok(v) if (0.0..=max).contains(&v) => pixels.push(v / max),
                _ => return Err(parse_error(line, format!("pixel `{field}` is not a number in 0..={max}"))),
            }
        }
        let label = fields[width];
        labels.push(label.parse::<i64>().map_err(|_| parse_error(line, format!("label `{label}` is not an integer")))?);
    }
    let images = Tensor::from_slice(&pixels).view([labels.len() as i64, width as i64]);
    ImageSet::new(images, Tensor::from_slice(&labels), width as i64, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_deterministic_and_complete() {
        let p = permutation(100, 7);
        assert_eq!(p, permutation(100, 7));
        assert_ne!(p, permutation(100, 8));
        let mut sorted = p.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<i64>>());
        assert!(permutation(0, 1).is_empty());
    }
}
