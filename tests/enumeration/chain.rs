//! A long hidden Markov chain (40 steps, 3 states, one enumeration dim per step): variables are
//! eliminated one at a time, so the loss is the forward algorithm's `-log p(x)` (a table of all
//! 3^40 joint states could not exist), its gradients are autograd's through the forward
//! algorithm, and `infer_discrete` at temperature 0 is the Viterbi path.

use pyrite::prelude::*;

use super::common::*;

const T: usize = 40;

fn xs() -> Vec<f64> {
    (0..T).map(|t| (t as f64 * 0.7).sin() * 1.4 + if t % 9 < 3 { 0.8 } else { 0.0 }).collect()
}

fn long_hmm() -> Result<()> {
    let init = param("init", f64t(&[0.5, 0.3, 0.2]), Constraint::Simplex)?;
    let trans = param("trans", f64m(&[&[0.8, 0.15, 0.05], &[0.1, 0.7, 0.2], &[0.25, 0.25, 0.5]]), Constraint::Simplex)?;
    let locs = param("locs", f64t(&[-1.0, 0.2, 1.5]), Constraint::Real)?;
    let x = xs();
    let mut z = SampleSite::new("z_0", Categorical::new(&init)?).enumerate().run()?;
    observe("x_0", Normal::new(locs.index(&[Some(&z)]), Tensor::from(0.6f64))?, &Tensor::from(x[0]))?;
    for (t, xt) in x.iter().enumerate().skip(1) {
        z = SampleSite::new(&format!("z_{t}"), Categorical::new(trans.index(&[Some(&z)]))?).enumerate().run()?;
        observe(&format!("x_{t}"), Normal::new(locs.index(&[Some(&z)]), Tensor::from(0.6f64))?, &Tensor::from(*xt))?;
    }
    Ok(())
}

/// The forward algorithm in tensors: `log p(x)`, differentiable in the params.
fn forward(p: &Params) -> Tensor {
    let (init, trans, locs) = (p.get("init"), p.get("trans"), p.get("locs"));
    let emit = |x: f64| normal_lp(x, locs, &Tensor::from(0.6f64));
    let x = xs();
    let mut alpha = init.log() + emit(x[0]);
    for xt in &x[1..] {
        alpha = (alpha.unsqueeze(1) + trans.log()).logsumexp([0].as_slice(), false) + emit(*xt);
    }
    alpha.logsumexp([0].as_slice(), false)
}

/// The Viterbi path, by hand in f64.
fn viterbi(p: &Params) -> Vec<i64> {
    let (init, trans, locs) = (to_vec(p.get("init")), to_vec(p.get("trans")), to_vec(p.get("locs")));
    let emit = |x: f64, k: usize| -0.5 * ((x - locs[k]) / 0.6).powi(2);
    let x = xs();
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

#[test]
fn a_forty_step_chain_is_the_forward_algorithm_and_its_map_is_viterbi() {
    fresh(|| {
        let lp = TraceEnumElbo::new().loss_and_params(&long_hmm, &|| Ok(())).unwrap();
        lp.surrogate.backward();
        let p = Params::current();
        let want = forward(&p);
        assert_rel(lp.loss, -scalar(&want), 1e-9, "loss against the forward algorithm");
        let leaves: Vec<Tensor> = p.0.values().map(|(u, _)| u.shallow_clone()).collect();
        let grads = Tensor::run_backward(&[want.neg()], &leaves, false, false);
        for ((name, (leaf, _)), want) in p.0.iter().zip(grads) {
            let (got, want) = (to_vec(&leaf.grad()), to_vec(&want));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-7 * w.abs().max(1.0), "param `{name}`: gradient {got:?} != forward algorithm's {want:?}");
            }
        }
        let tr = infer_discrete(&long_hmm, -1, 0.0).unwrap();
        let names: Vec<String> = (0..T).map(|t| format!("z_{t}")).collect();
        let path: Vec<i64> = names.iter().map(|n| to_ivec(&tr.site(n).unwrap().value)[0]).collect();
        assert_eq!(path, viterbi(&p));
        assert!(path.iter().any(|&k| k != path[0]), "the test needs a path that changes state");
    });
}
