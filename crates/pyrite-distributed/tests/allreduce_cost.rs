//! The cost of an all-reduce between two processes on this machine, by size (ignored by default:
//! a measurement, not a check; `docs/distributed.md` quotes it):
//!
//! `cargo test --release -p pyrite-distributed --test allreduce_cost -- --ignored --nocapture`

mod common;

use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor};

#[test]
#[ignore = "a measurement, not a check (docs/distributed.md quotes it); the two-process tests and the distributed example run in CI"]
fn allreduce_cost_by_size() {
    let Some(ranks) = common::two_ranks("allreduce_cost_by_size", Duration::from_secs(120)) else { return };
    let pg = &ranks.pg;
    if ranks.rank() == 0 {
        println!("{:>12} {:>8} {:>12} {:>12}", "bytes", "repeats", "median µs", "MiB/s");
    }
    for floats in [1i64, 256, 4096, 65_536, 262_144, 1 << 20, 4 << 20, 16 << 20] {
        let mut t = Tensor::ones([floats], (Kind::Float, Device::Cpu));
        let repeats = (64 << 20) / (floats * 4).max(1 << 16) + 5;
        let mut times = Vec::with_capacity(repeats as usize);
        pg.barrier().unwrap();
        for _ in 0..repeats {
            let start = Instant::now();
            pg.all_reduce_sum(&mut t).unwrap();
            times.push(start.elapsed());
        }
        // Each rank's median; rank 0 reports the larger of the two.
        times.sort();
        let mut median = Tensor::from_slice(&[times[times.len() / 2].as_secs_f64()]);
        let mut worst = median.copy();
        pg.broadcast(&mut worst, 1).unwrap();
        median = median.maximum(&worst);
        let seconds = median.double_value(&[0]);
        if ranks.rank() == 0 {
            let bytes = floats * 4;
            println!("{bytes:>12} {repeats:>8} {:>12.1} {:>12.1}", seconds * 1e6, bytes as f64 / seconds / (1 << 20) as f64);
        }
    }
    ranks.finish();
}
