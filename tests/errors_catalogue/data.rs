//! `DataLoader::new` refuses what it cannot batch: a batch size that is not positive, a tensor
//! without rows, tensors of different lengths, a device this machine does not have.

use pyrite::data::{DataError, DataLoader};
use pyrite::prelude::*;

use super::{documented, no_panic};

fn rows(n: i64) -> Tensor {
    Tensor::zeros([n, 2], (Kind::Float, Device::Cpu))
}

#[test]
fn a_batch_size_that_is_not_positive_is_refused() {
    for b in [0, -4] {
        let err = no_panic("batch size", || DataLoader::new(vec![rows(5)], b, true, Device::Cpu)).unwrap_err();
        assert!(matches!(err, DataError::Loader { what: "batch_size", .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("data loader: `batch_size` must be positive, got {b}"));
    }
    documented(&DataLoader::new(vec![rows(5)], 0, true, Device::Cpu).unwrap_err(), "data loader: `batch_size` must be positive, got 0");
}

#[test]
fn tensors_without_rows_or_of_different_lengths_are_refused() {
    let err = no_panic("0-dim tensor", || DataLoader::new(vec![rows(3), Tensor::from(1.0f32)], 2, false, Device::Cpu)).unwrap_err();
    assert!(matches!(err, DataError::Loader { what: "tensors", .. }), "{err:?}");
    documented(&err, "data loader: `tensors` tensor 1 has no dimensions; each needs a first dimension of rows");
    let err = DataLoader::new(vec![rows(3), Tensor::from_slice(&[0i64, 1])], 2, false, Device::Cpu).unwrap_err();
    documented(&err, "data loader: `tensors` first dimensions differ: [3, 2]; each tensor needs one row per data point");
    // No tensors at all is an empty loader, not an error.
    let empty = DataLoader::new(vec![], 2, false, Device::Cpu).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.epoch().count(), 0);
}

#[test]
fn a_device_this_machine_lacks_is_refused_with_the_sentence() {
    if cuda_available() {
        eprintln!("a_device_this_machine_lacks_is_refused_with_the_sentence: CUDA is available; checking a missing index instead");
        let err = DataLoader::new(vec![rows(3)], 2, false, Device::Cuda(1 << 20)).unwrap_err();
        assert!(matches!(err, DataError::Device(_)), "{err:?}");
        return;
    }
    let err = no_panic("cuda", || DataLoader::new(vec![rows(3)], 2, false, Device::Cuda(0))).unwrap_err();
    assert!(matches!(err, DataError::Device(_)), "{err:?}");
    documented(
        &err,
        "data loader: no CUDA device is available: libtorch sees none (check `nvidia-smi` and that libtorch_cuda.so is installed); use --device cpu",
    );
}
