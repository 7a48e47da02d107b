//! Sharding: each rank's block of a data set's rows, and its minibatches, with the indices that a
//! plate of the whole data set's size needs so that the ELBO's scale is right.

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::group::ProcessGroup;

/// The rows of a data set of `total` rows that one rank holds: a contiguous block, the first
/// `total % world_size` ranks holding one row more.
///
/// ```
/// use pyrite_distributed::Shard;
/// let shards: Vec<Shard> = (0..3).map(|r| Shard::new(10, r, 3).unwrap()).collect();
/// assert_eq!(shards.iter().map(|s| (s.start, s.len)).collect::<Vec<_>>(), [(0, 4), (4, 3), (7, 3)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// The first row of the block, in the whole data set.
    pub start: i64,
    /// The number of rows of the block.
    pub len: i64,
    /// The number of rows of the whole data set: the size of its plate.
    pub total: i64,
}

impl Shard {
    /// Rank `rank`'s block of `total` rows split over `world_size` ranks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a negative `total` or a rank outside the group.
    pub fn new(total: i64, rank: usize, world_size: usize) -> Result<Self> {
        if total < 0 {
            return Err(Error::InvalidArgument { what: "total".into(), problem: format!("{total} rows") });
        }
        if rank >= world_size {
            return Err(Error::InvalidArgument { what: "rank".into(), problem: format!("{rank} is not below the world size {world_size}") });
        }
        let (w, r) = (world_size as i64, rank as i64);
        let (base, extra) = (total / w, total % w);
        Ok(Shard { start: r * base + r.min(extra), len: base + i64::from(r < extra), total })
    }

    /// This process's block of `total` rows in `pg`.
    pub fn of(pg: &ProcessGroup, total: i64) -> Result<Self> {
        Shard::new(total, pg.rank(), pg.world_size())
    }

    /// This block's rows of `data`, a tensor of the whole data set (`total` rows along
    /// dimension 0), without a copy.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `data` does not have `total` rows.
    pub fn rows(&self, data: &Tensor) -> Result<Tensor> {
        match data.size().first() {
            Some(&n) if n == self.total => Ok(data.narrow(0, self.start, self.len)),
            _ => Err(Error::InvalidArgument { what: "data".into(), problem: format!("has shape {:?}, expected {} rows", data.size(), self.total) }),
        }
    }

    /// This rank's minibatches of `size` rows of its block: a random order of the block taken
    /// `size` rows at a time, reshuffled after each pass (as a distributed sampler does). With
    /// `size` rows per rank, a global minibatch has `size * world_size` rows.
    ///
    /// ```
    /// use pyrite_distributed::Shard;
    /// let shard = Shard::new(100, 1, 2)?;
    /// let mut batches = shard.minibatches(10)?;
    /// let b = batches.next_batch();
    /// assert_eq!(b.local.size(), [10]);
    /// // The global indices are those of the block's rows in the whole data set.
    /// assert!(b.global.equal(&(&b.local + 50)));
    /// # Ok::<(), pyrite_distributed::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] unless `0 < size <= len`.
    pub fn minibatches(&self, size: i64) -> Result<Minibatches> {
        if size <= 0 || size > self.len {
            return Err(Error::InvalidArgument { what: "minibatch size".into(), problem: format!("{size} rows, but the shard has {}", self.len) });
        }
        Ok(Minibatches { shard: *self, size, order: Tensor::zeros([0], (Kind::Int64, Device::Cpu)), next: 0 })
    }
}

/// One minibatch of a rank: which rows of its block, and which rows of the whole data set.
#[derive(Debug)]
pub struct Minibatch {
    /// Indices into the block's rows (`0..len`): to select the minibatch from the local data.
    pub local: Tensor,
    /// Indices into the whole data set (`start..start + len`): the subsample of a plate of
    /// `total` rows, `Plate::new(name, total).subsample(&global)`, so that log-likelihoods are
    /// scaled by `total / size` and the ranks' mean is the ELBO of the global minibatch.
    pub global: Tensor,
}

/// The minibatches of a [`Shard`]: see [`Shard::minibatches`].
#[derive(Debug)]
pub struct Minibatches {
    shard: Shard,
    size: i64,
    order: Tensor,
    next: i64,
}

impl Minibatches {
    /// The next minibatch (a fresh random order of the block at the start of each pass).
    pub fn next_batch(&mut self) -> Minibatch {
        if self.next + self.size > self.order.size()[0] {
            self.order = Tensor::randperm(self.shard.len, (Kind::Int64, Device::Cpu));
            self.next = 0;
        }
        let local = self.order.narrow(0, self.next, self.size);
        self.next += self.size;
        let global = &local + self.shard.start;
        Minibatch { local, global }
    }
}
