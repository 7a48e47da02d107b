//! Chains stuck in a minor mode continue from a healthy chain part-way through warm-up
//! (`Mcmc::relocate_stuck_chains`), whichever way the chains run; chains in modes of equal mass
//! stay where they are; a chain whose thread dies before the meeting does not leave the others
//! waiting.

use std::sync::atomic::{AtomicUsize, Ordering};

use pyrite_core::prelude::*;
use pyrite_distributions::prelude::*;
use pyrite_infer::prelude::InitStrategy;
use pyrite_mcmc::prelude::*;
use tch::Tensor;

/// Modes at +3 and -3 (sd 0.3), 50 nats of barrier between them: a chain that starts below
/// zero never leaves. The mode at -3 holds e^-`minor_offset` of the mass of the one at +3.
fn modes(minor_offset: f64) -> Result<()> {
    let z = sample("z", Normal::new(0.0, 10.0))?;
    let major = -(&z - 3.0).square() / 0.18;
    let minor = -(&z + 3.0).square() / 0.18 - minor_offset;
    factor("modes", &major.logaddexp(&minor))
}

/// The mode at -3 is minor: e^-20 of the mass.
fn two_modes(_: &()) -> Result<()> {
    modes(20.0)
}

/// Two modes of equal mass.
fn even_modes(_: &()) -> Result<()> {
    modes(0.0)
}

type Model = fn(&()) -> Result<()>;
type TwoModesMcmc = Mcmc<pyrite_mcmc::kernel::ModelTarget<'static, Model>>;

fn mcmc(method: ChainMethod, relocate: bool) -> TwoModesMcmc {
    const MODEL: Model = two_modes;
    mcmc_of(&MODEL, method, relocate)
}

fn mcmc_of(model: &'static Model, method: ChainMethod, relocate: bool) -> TwoModesMcmc {
    // Uniform starts on (-2, 2): each chain's sign is a coin flip; seed 3 starts chains on both sides.
    let kernel = Nuts::new(model).compiled(false).init_strategy(InitStrategy::Uniform(2.0));
    Mcmc::new(kernel).warmup(500).samples(200).chains(4).chain_method(method).seed(3).relocate_stuck_chains(relocate).progress(false)
}

fn run(mut m: TwoModesMcmc, method: ChainMethod) -> (Tensor, Vec<Option<usize>>) {
    tch::set_num_threads(1);
    match method {
        ChainMethod::Parallel => m.run_parallel(|| ()).unwrap(),
        _ => m.run(&()).unwrap(),
    }
    let z = m.get_samples_by_chain().unwrap()["z"].shallow_clone();
    (z, m.chain_stats().unwrap().iter().map(|c| c.continued_from).collect())
}

/// Each chain's lowest and highest draw.
fn ranges(z: &Tensor) -> Vec<(f64, f64)> {
    (0..z.size()[0]).map(|c| (z.get(c).min().double_value(&[]), z.get(c).max().double_value(&[]))).collect()
}

#[test]
fn a_chain_in_a_minor_mode_is_left_there_when_asked() {
    let (z, moved) = run(mcmc(ChainMethod::Sequential, false), ChainMethod::Sequential);
    let r = ranges(&z);
    assert!(r.iter().any(|&(_, hi)| hi < 0.0), "seed 3 should start a chain in the minor mode: {r:?}");
    assert!(r.iter().any(|&(lo, _)| lo > 0.0), "{r:?}");
    assert_eq!(moved, vec![None; 4]);
}

#[test]
fn chains_in_a_minor_mode_continue_from_healthy_ones_whatever_the_chain_method() {
    let (sequential, moved) = run(mcmc(ChainMethod::Sequential, true), ChainMethod::Sequential);
    let r = ranges(&sequential);
    assert!(r.iter().all(|&(lo, _)| lo > 0.0), "every chain in the major mode: {r:?}");
    let stuck: Vec<usize> = (0..4).filter(|&c| moved[c].is_some()).collect();
    assert!(!stuck.is_empty(), "no chain was moved: {moved:?}");
    for &c in &stuck {
        let donor = moved[c].unwrap();
        assert!(moved[donor].is_none(), "chain {c} continued from chain {donor}, itself moved");
    }
    // The draws after the move are the chain's own: not a copy of its donor's.
    for &c in &stuck {
        assert!(!sequential.get(c as i64).equal(&sequential.get(moved[c].unwrap() as i64)));
    }
    // The major mode's draws: N(3, 0.3^2) (the prior's pull is negligible).
    let mean = sequential.mean(tch::Kind::Double).double_value(&[]);
    assert!((mean - 3.0).abs() < 0.1, "mean {mean}");
    for method in [ChainMethod::Parallel, ChainMethod::Vectorized] {
        let (draws, moved_too) = run(mcmc(method, true), method);
        assert_eq!(moved_too, moved, "{method:?}");
        if method == ChainMethod::Parallel {
            assert!(draws.equal(&sequential), "parallel chains differ from sequential ones");
        } else {
            assert!(ranges(&draws).iter().all(|&(lo, _)| lo > 0.0), "{method:?}");
        }
    }
}

#[test]
fn chains_in_modes_of_equal_mass_are_left_where_they_are() {
    const MODEL: Model = even_modes;
    let (z, moved) = run(mcmc_of(&MODEL, ChainMethod::Sequential, true), ChainMethod::Sequential);
    let r = ranges(&z);
    assert!(r.iter().any(|&(_, hi)| hi < 0.0) && r.iter().any(|&(lo, _)| lo > 0.0), "chains in both modes: {r:?}");
    assert_eq!(moved, vec![None; 4]);
}

static ARGS_MADE: AtomicUsize = AtomicUsize::new(0);

/// The third call (the second chain's thread) panics.
fn args_that_fail_once() {
    if ARGS_MADE.fetch_add(1, Ordering::SeqCst) == 2 {
        panic!("this chain's arguments could not be made");
    }
}

#[test]
fn a_chain_whose_thread_dies_before_the_meeting_does_not_hang_the_others() {
    tch::set_num_threads(1);
    let mut m = mcmc(ChainMethod::Parallel, true);
    let e = m.run_parallel(args_that_fail_once).unwrap_err();
    assert!(e.to_string().contains("panicked"), "{e}");
}
