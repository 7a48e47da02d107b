//! Collectives between two processes on loopback: exact sums, broadcasts, a barrier, argument
//! errors, and the failures of a rank that never arrives or is killed.

mod common;

use std::time::Duration;

use pyrite_distributed::{Error, Op};
use tch::{Kind, Tensor};

#[test]
fn all_reduce_broadcast_barrier_give_exact_values() {
    let Some(ranks) = common::two_ranks("all_reduce_broadcast_barrier_give_exact_values", Duration::from_secs(60)) else { return };
    let (pg, r) = (&ranks.pg, ranks.rank() as f64);
    assert_eq!(pg.world_size(), 2);

    // Sums, exactly, in several dtypes.
    let mut t = Tensor::from_slice(&[r as f32 + 1.0, 10.0 * (r as f32 + 1.0), -0.5]);
    pg.all_reduce_sum(&mut t).unwrap();
    assert_eq!(Vec::<f32>::try_from(&t).unwrap(), [3.0, 30.0, -1.0]);
    let mut t = Tensor::from_slice(&[(1i64 << 40) + ranks.rank() as i64]);
    pg.all_reduce_sum(&mut t).unwrap();
    assert_eq!(i64::try_from(&t).unwrap(), (1i64 << 41) + 1);
    // A million doubles: every element the sum of its two values.
    let mut t = Tensor::arange(1_000_000, (Kind::Double, tch::Device::Cpu)) * (r + 1.0);
    pg.all_reduce_sum(&mut t).unwrap();
    let want = Tensor::arange(1_000_000, (Kind::Double, tch::Device::Cpu)) * 3.0;
    assert!(t.equal(&want));

    // Broadcast from either root.
    let mut t = Tensor::from_slice(&[r, r * 2.0]);
    pg.broadcast(&mut t, 1).unwrap();
    assert_eq!(Vec::<f64>::try_from(&t).unwrap(), [1.0, 2.0]);
    let mut t = Tensor::full([2, 3], r + 7.0, (Kind::Float, tch::Device::Cpu));
    pg.broadcast(&mut t, 0).unwrap();
    assert!(t.equal(&Tensor::full([2, 3], 7.0, (Kind::Float, tch::Device::Cpu))));
    pg.barrier().unwrap();

    // Arguments refused before any communication, without harming the group.
    let err = pg.broadcast(&mut Tensor::from_slice(&[1.0f32]), 2).unwrap_err();
    assert_eq!(err.to_string(), "invalid root: rank 2 is not below the world size 2");
    let mut strided = Tensor::zeros([3, 2], (Kind::Float, tch::Device::Cpu)).transpose(0, 1);
    assert!(matches!(pg.all_reduce_sum(&mut strided), Err(Error::InvalidArgument { .. })));
    let mut t = Tensor::from_slice(&[1.0f32]);
    pg.all_reduce_sum(&mut t).unwrap();
    assert_eq!(f32::try_from(&t).unwrap(), 2.0);
    ranks.finish();
}

#[test]
fn a_rank_that_never_arrives_is_a_timeout_and_breaks_the_group() {
    let timeout = Duration::from_secs(2);
    let Some(ranks) = common::two_ranks("a_rank_that_never_arrives_is_a_timeout_and_breaks_the_group", timeout) else { return };
    if ranks.rank() == 0 {
        let (out, took) = common::timed(|| ranks.pg.all_reduce_sum(&mut Tensor::from_slice(&[1.0f32])));
        assert!(matches!(out, Err(Error::Timeout { op: Op::AllReduce, .. })), "{out:?}");
        assert!(took < timeout + Duration::from_secs(3), "took {took:?}");
        // The ranks are out of step now: the group refuses further collectives at once.
        let (out, took) = common::timed(|| ranks.pg.barrier());
        assert!(matches!(out, Err(Error::Broken(_))), "{out:?}");
        assert!(took < Duration::from_millis(100));
        // Lets rank 1 leave.
        std::fs::write(ranks.dir().join("done"), b"").unwrap();
    } else {
        // Rank 1 takes no part until rank 0 has given up.
        while !ranks.dir().join("done").exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    ranks.finish();
}

#[test]
fn a_killed_rank_is_an_error_in_the_other_within_the_timeout() {
    let timeout = Duration::from_secs(5);
    let Some(mut ranks) = common::two_ranks("a_killed_rank_is_an_error_in_the_other_within_the_timeout", timeout) else { return };
    let mut t = Tensor::from_slice(&[1.0f32]);
    ranks.pg.all_reduce_sum(&mut t).unwrap();
    if ranks.rank() == 0 {
        ranks.kill_rank1();
        let (out, took) = common::timed(|| ranks.pg.all_reduce_sum(&mut t));
        assert!(matches!(out, Err(Error::PeerLost { .. } | Error::Timeout { .. })), "{out:?}");
        assert!(took <= timeout + Duration::from_secs(2), "took {took:?}");
        eprintln!("rank 0 saw, after {took:?}: {}", out.unwrap_err());
    } else {
        std::thread::sleep(Duration::from_secs(60)); // killed long before
    }
    ranks.finish();
}
