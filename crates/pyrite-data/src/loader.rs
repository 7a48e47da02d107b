//! `DataLoader`: shuffled minibatches of tensors on a chosen device.

use tch::{Device, Kind, Tensor};

/// Yields minibatches of rows of several tensors (same first dimension), reshuffled each epoch
/// with libtorch's generator (seed it with `set_rng_seed`), moved to `device`. Each batch also
/// carries its row indices, for `Plate::subsample`.
///
/// ```
/// use pyrite_data::DataLoader;
/// let x = tch::Tensor::arange(10, (tch::Kind::Float, tch::Device::Cpu));
/// let loader = DataLoader::new(vec![x], 4, true, tch::Device::Cpu);
/// let batches: Vec<_> = loader.epoch().collect();
/// assert_eq!(batches.len(), 3);
/// assert_eq!(batches[2].indices.size(), vec![2]);
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
    /// Batches of `batch_size` rows (the last may be smaller). Panics if the tensors' first
    /// dimensions differ or `batch_size` is not positive.
    pub fn new(tensors: Vec<Tensor>, batch_size: i64, shuffle: bool, device: Device) -> Self {
        let len = tensors.first().map(|t| t.size()[0]).unwrap_or(0);
        assert!(tensors.iter().all(|t| t.size()[0] == len), "DataLoader: tensors differ in their first dimension");
        assert!(batch_size > 0, "DataLoader: batch_size must be positive");
        let tensors = tensors.into_iter().map(|t| t.to_device(device)).collect();
        DataLoader { tensors, batch_size, shuffle, device, len }
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
        let order = if self.shuffle {
            Tensor::randperm(self.len, (Kind::Int64, Device::Cpu))
        } else {
            Tensor::arange(self.len, (Kind::Int64, Device::Cpu))
        };
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
