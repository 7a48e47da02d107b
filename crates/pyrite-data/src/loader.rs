//! `DataLoader`: shuffled minibatches of tensors on a chosen device.

use tch::{Device, Kind, Tensor};

use crate::error::{DataError, Result};

/// Yields minibatches of rows of several tensors (same first dimension), reshuffled each epoch
/// with libtorch's generator (seed it with `set_rng_seed`), moved to `device`. Each batch also
/// carries its row indices, for `Plate::subsample`.
///
/// ```
/// use pyrite_data::DataLoader;
/// let x = tch::Tensor::arange(10, (tch::Kind::Float, tch::Device::Cpu));
/// let loader = DataLoader::new(vec![x], 4, true, tch::Device::Cpu)?;
/// let batches: Vec<_> = loader.epoch().collect();
/// assert_eq!(batches.len(), 3);
/// assert_eq!(batches[2].indices.size(), vec![2]);
/// # Ok::<(), pyrite_data::DataError>(())
/// ```
#[derive(Debug)]
pub struct DataLoader {
    tensors: Vec<Tensor>,
    batch_size: i64,
    shuffle: bool,
    device: Device,
    len: i64,
}

/// One minibatch: the selected rows of each tensor and their indices in the full data.
#[derive(Debug)]
pub struct Batch {
    /// The rows of each tensor, in the loader's order.
    pub tensors: Vec<Tensor>,
    /// Their row indices in the full data.
    pub indices: Tensor,
}

impl DataLoader {
    /// Batches of `batch_size` rows (the last may be smaller) of `tensors`, moved to `device`.
    ///
    /// # Errors
    ///
    /// [`DataError::Loader`] when `batch_size` is not positive, a tensor has no dimensions or
    /// the tensors' first dimensions differ; [`DataError::Device`] when libtorch cannot use
    /// `device` on this machine (a CUDA GPU where there is none) or cannot move the data there.
    ///
    /// ```
    /// use pyrite_data::{DataError, DataLoader};
    /// use tch::{Device, Kind, Tensor};
    /// let x = Tensor::zeros([5, 2], (Kind::Float, Device::Cpu));
    /// let err = DataLoader::new(vec![x], 0, true, Device::Cpu).unwrap_err();
    /// assert_eq!(err.to_string(), "data loader: `batch_size` must be positive, got 0");
    /// assert!(matches!(err, DataError::Loader { what: "batch_size", .. }));
    /// ```
    pub fn new(tensors: Vec<Tensor>, batch_size: i64, shuffle: bool, device: Device) -> Result<Self> {
        let loader_err = |what: &'static str, problem: String| DataError::Loader { what, problem };
        if batch_size <= 0 {
            return Err(loader_err("batch_size", format!("must be positive, got {batch_size}")));
        }
        let shapes: Vec<Vec<i64>> = tensors.iter().map(Tensor::size).collect();
        if let Some(i) = shapes.iter().position(|s| s.is_empty()) {
            return Err(loader_err("tensors", format!("tensor {i} has no dimensions; each needs a first dimension of rows")));
        }
        let len = shapes.first().map_or(0, |s| s[0]);
        if shapes.iter().any(|s| s[0] != len) {
            let firsts: Vec<i64> = shapes.iter().map(|s| s[0]).collect();
            return Err(loader_err("tensors", format!("first dimensions differ: {firsts:?}; each tensor needs one row per data point")));
        }
        pyrite_distributions::device::check_device(device).map_err(|e| DataError::Device(e.to_string()))?;
        let tensors = tensors
            .into_iter()
            .map(|t| {
                t.f_to_device(device)
                    .map_err(|e| DataError::Device(format!("cannot move the data to {device:?}: {}", pyrite_distributions::error::torch_message(&e))))
            })
            .collect::<Result<_>>()?;
        Ok(DataLoader { tensors, batch_size, shuffle, device, len })
    }
    /// Number of rows.
    pub fn len(&self) -> i64 {
        self.len
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Batches per epoch.
    pub fn num_batches(&self) -> i64 {
        (self.len + self.batch_size - 1) / self.batch_size
    }
    /// One pass over the data: every row exactly once.
    pub fn epoch(&self) -> impl Iterator<Item = Batch> + '_ {
        let order = if self.shuffle { Tensor::randperm(self.len, (Kind::Int64, Device::Cpu)) } else { Tensor::arange(self.len, (Kind::Int64, Device::Cpu)) };
        // Cannot fail: `new` already moved the data to `self.device`.
        let order = order.to_device(self.device);
        (0..self.num_batches()).map(move |b| {
            let start = b * self.batch_size;
            let n = self.batch_size.min(self.len - start);
            let idx = order.narrow(0, start, n);
            Batch { tensors: self.tensors.iter().map(|t| t.index_select(0, &idx)).collect(), indices: idx }
        })
    }
}
