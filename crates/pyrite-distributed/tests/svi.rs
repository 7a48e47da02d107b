//! Data-parallel SVI on two processes: equal to one process on the same global minibatch, params
//! identical on both ranks, the radon posterior the same on 2 ranks as on 1, and every fault
//! (another model, a non-finite or failing step on one rank, a killed rank) an error on both.

mod common;

use std::time::Duration;

use pyrite_core::param_store::lock;
use pyrite_core::prelude::*;
use pyrite_distributed::{DistributedSvi, Error, Fault, ProcessGroup, Shard};
use pyrite_distributions::prelude::*;
use pyrite_infer::prelude::*;
use tch::{Device, Kind, Tensor};

const N: i64 = 64;

/// Rows `x`, `y` of a regression (deterministic, no random draws), the global minibatch's
/// indices, and the arguments of the model for a subset of them.
type Args = (Tensor, Tensor, Tensor);

fn data() -> (Tensor, Tensor) {
    let x = Tensor::linspace(-2.0, 2.0, N, (Kind::Float, Device::Cpu));
    let y = &x * 2.0 + 1.5 + (&x * 7.0).sin() * 0.3;
    (x, y)
}

/// The model's arguments for the rows `idx` of the whole data set.
fn args_for(idx: &Tensor) -> Args {
    let (x, y) = data();
    (x.index_select(0, idx), y.index_select(0, idx), idx.shallow_clone())
}

/// The global minibatch: every other row (32 rows).
fn global_batch() -> Tensor {
    Tensor::arange_start_step(0, N, 2, (Kind::Int64, Device::Cpu))
}

fn model((x, y, idx): &Args) -> Result<()> {
    let a = sample("a", Normal::new(0.0, 10.0)?)?;
    let b = sample("b", Normal::new(0.0, 10.0)?)?;
    let s = sample("s", HalfNormal::new(2.0)?)?;
    let mean = a + b * x;
    Plate::new("data", N).subsample(idx).run(|_| observe("obs", Normal::new(&mean, &s)?, y).map(drop))
}

/// The same model with one more latent site: a rank running it has other params.
fn other_model(args: &Args) -> Result<()> {
    let _ = sample("extra", Normal::new(0.0, 1.0)?)?;
    model(args)
}

/// Every param of this thread's store, by name, detached.
fn params() -> Vec<(String, Tensor)> {
    let store = get_param_store();
    let s = lock(&store);
    s.names()
        .into_iter()
        .map(|n| {
            let v = s.get(&n).unwrap().detach().copy();
            (n, v)
        })
        .collect()
}

/// The losses of a run (or its error) and the params after it.
type Fit = (Result<Vec<f64>, Error>, Vec<(String, Tensor)>);

/// `k` steps of data-parallel SVI with `seed`, in a fresh param store; the losses and params.
fn fit_distributed(pg: &ProcessGroup, m: &dyn Fn(&Args) -> Result<()>, args: &Args, k: usize, rng_seed: u64) -> Fit {
    with_param_store(&new_param_store(), || {
        seed(rng_seed, || {
            let guide = AutoNormal::new(&m, args).unwrap();
            let mut svi = DistributedSvi::new(Svi::new(m, &guide, Optimizer::adam(0.05), TraceElbo::new()), pg);
            let losses = (0..k).map(|_| svi.step(args)).collect::<Result<Vec<f64>, Error>>();
            (losses, params())
        })
    })
}

/// Whether every rank holds exactly rank 0's values of `params`.
fn identical_on_all_ranks(pg: &ProcessGroup, params: &[(String, Tensor)]) -> bool {
    let flat = Tensor::cat(&params.iter().map(|(_, p)| p.reshape([-1])).collect::<Vec<_>>(), 0);
    let mut rank0 = flat.copy();
    pg.broadcast(&mut rank0, 0).unwrap();
    let mut same = Tensor::from_slice(&[f64::from(u8::from(rank0.equal(&flat)))]);
    pg.all_reduce_sum(&mut same).unwrap();
    same.double_value(&[0]) == pg.world_size() as f64
}

#[test]
fn two_ranks_equal_one_process_on_the_same_global_minibatch() {
    let Some(ranks) = common::two_ranks("two_ranks_equal_one_process_on_the_same_global_minibatch", Duration::from_secs(120)) else { return };
    let pg = &ranks.pg;
    // Each rank takes its half of the global minibatch; the plate has the whole data set's size.
    let mine = global_batch().chunk(2, 0)[ranks.rank()].shallow_clone();
    let (losses, dist) = fit_distributed(pg, &model, &args_for(&mine), 20, 7);
    let losses = losses.unwrap();
    assert!(identical_on_all_ranks(pg, &dist));
    if ranks.rank() == 0 {
        // One process, the whole global minibatch, the same seed.
        let (single_losses, single) = with_param_store(&new_param_store(), || {
            seed(7, || {
                let args = args_for(&global_batch());
                let guide = AutoNormal::new(&model, &args).unwrap();
                let mut svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new());
                svi.progress = false;
                ((0..20).map(|_| svi.step(&args).unwrap()).collect::<Vec<f64>>(), params())
            })
        });
        for (d, s) in losses.iter().zip(&single_losses) {
            assert!((d - s).abs() <= 1e-4 * s.abs().max(1.0), "mean loss over ranks {d}, one process {s}");
        }
        assert_eq!(dist.iter().map(|(n, _)| n).collect::<Vec<_>>(), single.iter().map(|(n, _)| n).collect::<Vec<_>>());
        for ((name, d), (_, s)) in dist.iter().zip(&single) {
            let diff = (d - s).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "param {name}: 2 ranks {d:?}, 1 process {s:?}");
        }
    }
    ranks.finish();
}

#[test]
fn params_differing_at_creation_become_rank_0s_and_stay_identical() {
    let Some(ranks) = common::two_ranks("params_differing_at_creation_become_rank_0s_and_stay_identical", Duration::from_secs(120)) else { return };
    let pg = &ranks.pg;
    let mine = Tensor::arange(N, (Kind::Int64, Device::Cpu)).chunk(2, 0)[ranks.rank()].shallow_clone();
    // Another seed on each rank: other initial params, other guide draws.
    let (losses, params) = fit_distributed(pg, &model, &args_for(&mine), 30, 100 + ranks.rank() as u64);
    let losses = losses.unwrap();
    assert!(identical_on_all_ranks(pg, &params));
    // The reported loss is the mean over the ranks: the same on both.
    let l = Tensor::from_slice(&losses);
    let mut rank0 = l.copy();
    pg.broadcast(&mut rank0, 0).unwrap();
    assert!(rank0.equal(&l));
    ranks.finish();
}

#[test]
fn ranks_running_different_models_fail_together_on_the_first_step() {
    let Some(ranks) = common::two_ranks("ranks_running_different_models_fail_together_on_the_first_step", Duration::from_secs(60)) else { return };
    let m: &dyn Fn(&Args) -> Result<()> = if ranks.rank() == 0 { &model } else { &other_model };
    let (out, params) = fit_distributed(&ranks.pg, m, &args_for(&global_batch()), 1, 0);
    let err = out.unwrap_err();
    assert!(matches!(err, Error::ParamMismatch { rank: 1, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "param `AutoNormal.locs.extra`: rank 1 differs from rank 0: param #0 is `AutoNormal.locs.extra` on rank 1 but `AutoNormal.locs.a` on rank 0"
    );
    // The failed first step leaves no params behind.
    assert!(params.is_empty());
    let as_pyrite = PyriteError::from(err);
    assert!(matches!(as_pyrite, PyriteError::Param { ref name, .. } if name == "AutoNormal.locs.extra"), "{as_pyrite:?}");
    ranks.finish();
}

#[test]
fn a_failing_or_non_finite_step_on_one_rank_fails_it_on_every_rank() {
    let Some(ranks) = common::two_ranks("a_failing_or_non_finite_step_on_one_rank_fails_it_on_every_rank", Duration::from_secs(60)) else { return };
    let (pg, rank) = (&ranks.pg, ranks.rank());
    let good = args_for(&global_batch().chunk(2, 0)[rank]);
    let nan = (good.0.shallow_clone(), good.1.fill(f64::NAN), good.2.shallow_clone());
    let failing = |args: &Args| -> Result<()> {
        if args.1.isnan().any().int64_value(&[]) == 1 && rank == 1 {
            return Err(PyriteError::InvalidInput { what: "y".into(), problem: "refused".into() });
        }
        model(args)
    };
    with_param_store(&new_param_store(), || {
        seed(3, || {
            let guide = AutoNormal::new(&model, &good).unwrap();
            let mut svi = DistributedSvi::new(Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new()), pg);
            svi.step(&good).unwrap();
            // Rank 1's data is NaN: its loss is not finite.
            let out = svi.step(if rank == 1 { &nan } else { &good });
            match (rank, out) {
                (0, Err(Error::PeerFailed { faults })) => assert_eq!(faults, [(1, Fault::NonFinite)]),
                (1, Err(Error::Pyrite(PyriteError::NonFinite { .. }))) => {}
                (_, other) => panic!("rank {rank}: {other:?}"),
            }
            // Both ranks are still in step: the next step works everywhere.
            svi.step(&good).unwrap();
            let before = params();
            // Rank 1's model returns an error.
            let mut svi2 = DistributedSvi::new(Svi::new(failing, &guide, Optimizer::adam(0.05), TraceElbo::new()), pg);
            let out = svi2.step(if rank == 1 { &nan } else { &good });
            match (rank, out) {
                (0, Err(Error::PeerFailed { faults })) => assert_eq!(faults, [(1, Fault::Error)]),
                (1, Err(Error::Pyrite(PyriteError::InvalidInput { .. }))) => {}
                (_, other) => panic!("rank {rank}: {other:?}"),
            }
            // The failed step changed no param.
            for ((name, a), (_, b)) in before.iter().zip(&params()) {
                assert!(a.equal(b), "{name} changed");
            }
            svi.step(&good).unwrap();
        })
    });
    ranks.finish();
}

#[test]
fn a_rank_killed_mid_run_is_an_error_in_the_other_within_the_timeout() {
    let timeout = Duration::from_secs(5);
    let Some(mut ranks) = common::two_ranks("a_rank_killed_mid_run_is_an_error_in_the_other_within_the_timeout", timeout) else { return };
    let args = args_for(&global_batch().chunk(2, 0)[ranks.rank()]);
    let pg = ranks.pg.clone();
    with_param_store(&new_param_store(), || {
        seed(5, || {
            let guide = AutoNormal::new(&model, &args).unwrap();
            let mut svi = DistributedSvi::new(Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new()), &pg);
            for _ in 0..3 {
                svi.step(&args).unwrap();
            }
            if ranks.rank() == 0 {
                ranks.kill_rank1();
                let (out, took) = common::timed(|| svi.step(&args));
                assert!(matches!(out, Err(Error::PeerLost { .. } | Error::Timeout { .. })), "{out:?}");
                assert!(took <= timeout + Duration::from_secs(2), "took {took:?}");
                // The group is unusable from now on, at once.
                assert!(matches!(svi.step(&args), Err(Error::Broken(_))));
            } else {
                std::thread::sleep(Duration::from_secs(60)); // killed long before
            }
        })
    });
    ranks.finish();
}

#[test]
fn rank_0_saves_and_every_rank_loads() {
    let Some(ranks) = common::two_ranks("rank_0_saves_and_every_rank_loads", Duration::from_secs(60)) else { return };
    let pg = &ranks.pg;
    let args = args_for(&global_batch().chunk(2, 0)[ranks.rank()]);
    let path = ranks.dir().join("checkpoint.json");
    with_param_store(&new_param_store(), || {
        seed(11 + ranks.rank() as u64, || {
            let guide = AutoNormal::new(&model, &args).unwrap();
            let mut svi = DistributedSvi::new(Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new()), pg);
            for _ in 0..5 {
                svi.step(&args).unwrap();
            }
            svi.save(&path).unwrap();
            assert!(path.exists());
            let saved = params();
            for _ in 0..5 {
                svi.step(&args).unwrap();
            }
            svi.load(&path).unwrap();
            for ((name, a), (_, b)) in saved.iter().zip(&params()) {
                assert!(a.equal(b), "{name} not restored");
            }
            assert!(identical_on_all_ranks(pg, &params()));
            // A missing file on every rank fails everywhere.
            assert!(matches!(svi.load(ranks.dir().join("missing.json")), Err(Error::Pyrite(PyriteError::Io { .. }))));
        })
    });
    ranks.finish();
}

#[test]
fn the_radon_posterior_on_two_ranks_is_the_one_on_one() {
    let Some(ranks) = common::two_ranks("the_radon_posterior_on_two_ranks_is_the_one_on_one", Duration::from_secs(120)) else { return };
    let data = pyrite_data::radon().unwrap();
    let n = data.log_radon.size()[0];
    type RadonArgs = (Tensor, Tensor, Tensor, Tensor);
    let counties = data.num_counties;
    let radon = |(floor, county, y, idx): &RadonArgs| -> Result<()> {
        let county_scale = sample("county_scale", HalfNormal::new(1.0)?)?;
        let intercept = sample("intercept", Normal::new(0.0, 1.0)?)?;
        let floor_weight = sample("floor_weight", Normal::new(0.0, 1.0)?)?;
        let sigma = sample("sigma", HalfNormal::new(1.0)?)?;
        let effect = plate("counties", counties, |_| sample("county_effect", Normal::new(0.0, &county_scale)?))?;
        let mean = intercept + floor_weight * floor + effect.index_select(-1, county);
        Plate::new("data", n).subsample(idx).run(|_| observe("obs", Normal::new(&mean, &sigma)?, y).map(drop))
    };
    let rows = |shard: &Shard| -> RadonArgs {
        let r = |t: &Tensor| shard.rows(t).unwrap();
        (r(&data.floor), r(&data.county), r(&data.log_radon), Tensor::arange(shard.len, (Kind::Int64, Device::Cpu)) + shard.start)
    };
    let fit = |args: &RadonArgs, pg: Option<&ProcessGroup>| {
        with_param_store(&new_param_store(), || {
            seed(0, || {
                let guide = AutoNormal::new(&radon, args).unwrap();
                let mut svi = Svi::new(radon, &guide, Optimizer::adam(0.02), TraceElbo::new());
                svi.progress = false;
                match pg {
                    Some(pg) => {
                        DistributedSvi::new(svi, pg).run(800, args).unwrap();
                    }
                    None => {
                        svi.run(800, args).unwrap();
                    }
                }
                params()
            })
        })
    };
    let two = fit(&rows(&Shard::of(&ranks.pg, n).unwrap()), Some(&ranks.pg));
    if ranks.rank() == 0 {
        let one = fit(&rows(&Shard::new(n, 0, 1).unwrap()), None);
        let mut worst = 0.0f64;
        for ((name, a), (_, b)) in two.iter().zip(&one) {
            let diff = (a - b).abs().max().double_value(&[]);
            worst = worst.max(diff);
            assert!(diff < 2e-3, "{name}: 2 ranks {a:?}, 1 rank {b:?}");
        }
        eprintln!("radon, 800 steps: largest difference of a variational param between 2 ranks and 1: {worst:.2e}");
    }
    ranks.finish();
}
