//! `DataLoader`: each epoch visits every row exactly once, batches carry their rows' indices.

use pyrite::data::DataLoader;
use pyrite::prelude::*;

use super::common::*;

#[test]
fn loader_indices_cover_the_data_exactly_once_per_epoch() {
    for device in devices("loader_indices_cover_the_data_exactly_once_per_epoch") {
        seeded(1, || {
            let n = 103;
            let x = Tensor::arange(n, (Kind::Float, Device::Cpu)).view([n, 1]) * 10.0;
            let y = Tensor::arange(n, (Kind::Int64, Device::Cpu)) + 1000;
            let loader = DataLoader::new(vec![x.shallow_clone(), y.shallow_clone()], 10, true, device).unwrap();
            assert_eq!((loader.len(), loader.num_batches()), (n, 11));
            let mut orders = vec![];
            for _ in 0..3 {
                let mut seen: Vec<i64> = vec![];
                let mut sizes = vec![];
                for batch in loader.epoch() {
                    assert_eq!(batch.indices.device(), device);
                    let idx = Vec::<i64>::try_from(batch.indices.to_device(Device::Cpu)).unwrap();
                    // The rows of each tensor are those the indices name.
                    let bx = to_vec(&batch.tensors[0]);
                    let by = Vec::<i64>::try_from(batch.tensors[1].to_device(Device::Cpu)).unwrap();
                    for (k, &i) in idx.iter().enumerate() {
                        assert_eq!(bx[k], 10.0 * i as f64);
                        assert_eq!(by[k], 1000 + i);
                    }
                    sizes.push(idx.len());
                    seen.extend(idx);
                }
                assert_eq!(sizes, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
                orders.push(seen.clone());
                seen.sort_unstable();
                assert_eq!(seen, (0..n).collect::<Vec<i64>>(), "every row exactly once per epoch");
            }
            assert!(orders[0] != orders[1] && orders[1] != orders[2], "shuffled afresh each epoch");
        });
    }
}

#[test]
fn unshuffled_loader_keeps_row_order() {
    let x = Tensor::arange(7, (Kind::Float, Device::Cpu));
    let loader = DataLoader::new(vec![x], 3, false, Device::Cpu).unwrap();
    let idx: Vec<Vec<i64>> = loader.epoch().map(|b| Vec::<i64>::try_from(b.indices).unwrap()).collect();
    assert_eq!(idx, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
}
