//! A long hidden Markov chain (40 steps, 3 states, one enumeration dim per step): variables are
//! eliminated one at a time, so the loss is the forward algorithm's `-log p(x)` (a table of all
//! 3^40 joint states could not exist), its gradients are autograd's through the forward
//! algorithm, and `infer_discrete` at temperature 0 is the Viterbi path.

use std::collections::BTreeSet;

use pyrite::prelude::*;

use super::common::*;

fn xs(n: usize) -> Vec<f64> {
    (0..n).map(|t| (t as f64 * 0.7).sin() * 1.4 + if t % 9 < 3 { 0.8 } else { 0.0 }).collect()
}

/// An HMM over `n` steps, its loop under `markov` or not.
fn hmm(n: usize, with_markov: bool) -> Result<()> {
    let init = param("init", f64t(&[0.5, 0.3, 0.2]), Constraint::Simplex)?;
    let trans = param("trans", f64m(&[&[0.8, 0.15, 0.05], &[0.1, 0.7, 0.2], &[0.25, 0.25, 0.5]]), Constraint::Simplex)?;
    let locs = param("locs", f64t(&[-1.0, 0.2, 1.5]), Constraint::Real)?;
    let x = xs(n);
    let mut z = Tensor::from(0i64);
    let mut step = |t: usize| -> Result<()> {
        let probs = if t == 0 { init.shallow_clone() } else { trans.index(&[Some(&z)]) };
        z = SampleSite::new(&format!("z_{t}"), Categorical::new(probs)?).enumerate().run()?;
        observe(&format!("x_{t}"), Normal::new(locs.index(&[Some(&z)]), Tensor::from(0.6f64))?, &Tensor::from(x[t]))?;
        Ok(())
    };
    if with_markov {
        for t in markov(0..n) {
            step(t)?;
        }
    } else {
        for t in 0..n {
            step(t)?;
        }
    }
    Ok(())
}

/// The forward algorithm in tensors: `log p(x)`, differentiable in the params.
fn forward(p: &Params, n: usize) -> Tensor {
    let (init, trans, locs) = (p.get("init"), p.get("trans"), p.get("locs"));
    let emit = |x: f64| normal_lp(x, locs, &Tensor::from(0.6f64));
    let x = xs(n);
    let mut alpha = init.log() + emit(x[0]);
    for xt in &x[1..] {
        alpha = (alpha.unsqueeze(1) + trans.log()).logsumexp([0].as_slice(), false) + emit(*xt);
    }
    alpha.logsumexp([0].as_slice(), false)
}

/// The Viterbi path, by hand in f64.
fn viterbi(p: &Params, n: usize) -> Vec<i64> {
    let (init, trans, locs) = (to_vec(p.get("init")), to_vec(p.get("trans")), to_vec(p.get("locs")));
    let emit = |x: f64, k: usize| -0.5 * ((x - locs[k]) / 0.6).powi(2);
    let x = xs(n);
    let mut score: Vec<f64> = (0..3).map(|k| init[k].ln() + emit(x[0], k)).collect();
    let mut back: Vec<Vec<usize>> = Vec::new();
    for xt in &x[1..] {
        let mut next = vec![0.0; 3];
        let mut arg = vec![0; 3];
        for (k, slot) in next.iter_mut().enumerate() {
            let (j, s) = (0..3).map(|j| (j, score[j] + trans[3 * j + k].ln())).max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
            *slot = s + emit(*xt, k);
            arg[k] = j;
        }
        score = next;
        back.push(arg);
    }
    let mut k = (0..3).max_by(|&a, &b| score[a].total_cmp(&score[b])).unwrap();
    let mut path = vec![k as i64];
    for arg in back.iter().rev() {
        k = arg[k];
        path.push(k as i64);
    }
    path.reverse();
    path
}

/// Loss and gradients against the forward algorithm, and the MAP path against Viterbi.
fn check_chain(n: usize, with_markov: bool) {
    fresh(|| {
        let model = || hmm(n, with_markov);
        let lp = TraceEnumElbo::new().loss_and_params(&model, &|| Ok(())).unwrap();
        lp.surrogate.backward();
        let p = Params::current();
        let want = forward(&p, n);
        assert_rel(lp.loss, -scalar(&want), 1e-9, "loss against the forward algorithm");
        let leaves: Vec<Tensor> = p.0.values().map(|(u, _)| u.shallow_clone()).collect();
        let grads = Tensor::run_backward(&[want.neg()], &leaves, false, false);
        for ((name, (leaf, _)), want) in p.0.iter().zip(grads) {
            let (got, want) = (to_vec(&leaf.grad()), to_vec(&want));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-7 * w.abs().max(1.0), "param `{name}`: gradient {got:?} != forward algorithm's {want:?}");
            }
        }
        let tr = infer_discrete(&model, -1, 0.0).unwrap();
        let path: Vec<i64> = (0..n).map(|t| to_ivec(&tr.site(&format!("z_{t}")).unwrap().value)[0]).collect();
        assert_eq!(path, viterbi(&p, n));
        assert!(path.iter().any(|&k| k != path[0]), "the test needs a path that changes state");
    });
}

#[test]
fn a_forty_step_chain_is_the_forward_algorithm_and_its_map_is_viterbi() {
    check_chain(40, false);
}

#[test]
fn under_markov_a_300_step_chain_takes_two_dims_and_is_still_exact() {
    check_chain(300, true);
    // the steps take turns on two dims; without markov they would need 300
    fresh(|| {
        let tr = get_trace(|| enumerate(-1, || hmm(300, true))).unwrap();
        let dims: BTreeSet<i64> = (0..300).map(|t| tr.site(&format!("z_{t}")).unwrap().infer.enumerate_dim.unwrap()).collect();
        assert_eq!(dims.into_iter().collect::<Vec<_>>(), [-2, -1]);
    });
}

const PAIR: [[f64; 2]; 4] = [[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]];

/// A second-order chain: `z_t ~ Cat(trans[2 z_{t-2} + z_{t-1}])`, under `markov_with_history(.., 2)`.
fn second_order(n: usize) -> Result<()> {
    let trans = param("trans2", f64m(&[&PAIR[0], &PAIR[1], &PAIR[2], &PAIR[3]]), Constraint::Simplex)?;
    let x = xs(n);
    let (mut prev, mut cur) = (Tensor::from(0i64), Tensor::from(0i64));
    for t in markov_with_history(0..n, 2) {
        let probs = trans.index(&[Some(&(&prev * 2 + &cur))]);
        let z = SampleSite::new(&format!("z_{t}"), Categorical::new(probs)?).enumerate().run()?;
        observe(&format!("x_{t}"), Normal::new(z.to_kind(Kind::Double) * 1.5 - 0.5, Tensor::from(0.8f64))?, &Tensor::from(x[t]))?;
        prev = cur;
        cur = z;
    }
    Ok(())
}

/// `log sum exp` of numbers, `-inf` for none that are finite.
fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[test]
fn a_second_order_chain_under_markov_with_history_two_is_exact() {
    let n = 60;
    fresh(|| {
        let lp = TraceEnumElbo::new().loss_and_params(&|| second_order(n), &|| Ok(())).unwrap();
        // forward algorithm over (z_{t-1}, z_t) pairs, starting from z_{-2} = z_{-1} = 0
        let trans = to_vec(&Params::current().get("trans2").shallow_clone());
        let emit = |x: f64, k: usize| -0.5 * ((x - (1.5 * k as f64 - 0.5)) / 0.8).powi(2) - 0.8f64.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
        let x = xs(n);
        let mut alpha = [[f64::NEG_INFINITY; 2]; 2];
        alpha[0][0] = 0.0;
        for xt in &x {
            let mut next = [[f64::NEG_INFINITY; 2]; 2];
            for (b, row) in next.iter_mut().enumerate() {
                for (c, slot) in row.iter_mut().enumerate() {
                    let terms: Vec<f64> = (0..2).map(|a| alpha[a][b] + trans[2 * (2 * a + b) + c].ln()).collect();
                    *slot = log_sum_exp(&terms) + emit(*xt, c);
                }
            }
            alpha = next;
        }
        let log_px = log_sum_exp(&alpha.iter().flatten().copied().collect::<Vec<_>>());
        assert_rel(lp.loss, -log_px, 1e-9, "loss against the second-order forward algorithm");
        // three dims take turns
        let tr = get_trace(|| enumerate(-1, || second_order(n))).unwrap();
        let dims: BTreeSet<i64> = (0..n).map(|t| tr.site(&format!("z_{t}")).unwrap().infer.enumerate_dim.unwrap()).collect();
        assert_eq!(dims.len(), 3);
    });
}
