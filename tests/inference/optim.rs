//! Optimizers against hand-rolled updates (torch's Adam and SGD, Pyro's ClippedAdam), learning
//! rate schedules, gradient-norm clipping, and optimizer state saved and loaded with `Svi`.

use pyrite::core::param_store::lock;
use pyrite::infer::optim::Rule;
use pyrite::prelude::*;

use super::common::*;

/// The quadratic `sum(w * (x - c)^2)` over two params (a vector and a matrix, so that the
/// optimizer's flat layout is exercised); returns the params as `(name, leaf)`.
struct Quadratic {
    x: Tensor,
    y: Tensor,
}

const W: [f64; 7] = [1.0, 10.0, 0.1, 3.0, 0.5, 2.0, 7.0];
const C: [f64; 7] = [1.0, -2.0, 3.0, 0.5, -0.5, 4.0, -3.0];

impl Quadratic {
    fn new(init: &[f64; 7]) -> Self {
        Quadratic { x: t64(&init[..3]).set_requires_grad(true), y: t64(&init[3..]).reshape([2, 2]).set_requires_grad(true) }
    }
    fn params(&self) -> Vec<(String, Tensor)> {
        vec![("x".into(), self.x.shallow_clone()), ("y".into(), self.y.shallow_clone())]
    }
    /// Computes the gradients (into `.grad()`, zeroed first) and returns them flattened.
    fn backward(&self, scale: f64) {
        for p in [&self.x, &self.y] {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let flat = Tensor::cat(&[self.x.shallow_clone(), self.y.reshape([-1])], 0);
        let loss = ((flat - t64(&C)).square() * t64(&W)).sum(Kind::Double) * scale;
        loss.backward();
    }
    fn values(&self) -> Vec<f64> {
        let mut v = to_vec(&self.x);
        v.extend(to_vec(&self.y));
        v
    }
}

/// The gradient of `scale * sum(w * (x - c)^2)`.
fn grad(x: &[f64], scale: f64) -> Vec<f64> {
    x.iter().zip(W).zip(C).map(|((x, w), c)| scale * 2.0 * w * (x - c)).collect()
}

const INIT: [f64; 7] = [0.0, 0.5, -1.0, 2.0, 1.0, -2.0, 0.3];

#[track_caller]
fn assert_all_near(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_near(&format!("{what}[{i}]"), *g, *w, tol);
    }
}

#[test]
fn adam_matches_a_hand_rolled_adam() {
    for weight_decay in [0.0, 0.1] {
        let q = Quadratic::new(&INIT);
        let mut opt = Optimizer::adam(0.1);
        opt.rule = Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay };
        // torch.optim.Adam, by hand
        let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8, 0.1);
        let mut x = INIT.to_vec();
        let (mut m, mut v) = (vec![0.0; 7], vec![0.0; 7]);
        for t in 1..=6 {
            q.backward(1.0);
            opt.step(&q.params()).unwrap();
            let g: Vec<f64> = grad(&x, 1.0).iter().zip(&x).map(|(g, x)| g + weight_decay * x).collect();
            for i in 0..7 {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let denom = (v[i] / (1.0 - b2.powi(t))).sqrt() + eps;
                x[i] -= lr / (1.0 - b1.powi(t)) * m[i] / denom;
            }
            // f64 throughout: far tighter than the 1e-6 asked for
            assert_all_near(&format!("Adam (weight decay {weight_decay}) step {t}"), &q.values(), &x, 1e-10);
        }
        assert_eq!(opt.steps(), 6);
    }
}

#[test]
fn sgd_with_momentum_matches_a_hand_rolled_sgd() {
    for (nesterov, weight_decay) in [(false, 0.0), (true, 0.0), (false, 0.05)] {
        let q = Quadratic::new(&INIT);
        let mut opt = Optimizer::sgd(0.01, 0.9);
        opt.rule = Rule::Sgd { momentum: 0.9, nesterov, weight_decay };
        // torch.optim.SGD(momentum=0.9, dampening=0): the buffer starts as the first gradient
        let (lr, mu) = (0.01, 0.9);
        let mut x = INIT.to_vec();
        let mut buf: Option<Vec<f64>> = None;
        for t in 1..=6 {
            q.backward(1.0);
            opt.step(&q.params()).unwrap();
            let g: Vec<f64> = grad(&x, 1.0).iter().zip(&x).map(|(g, x)| g + weight_decay * x).collect();
            let b: Vec<f64> = match &buf {
                None => g.clone(),
                Some(b) => b.iter().zip(&g).map(|(b, g)| mu * b + g).collect(),
            };
            for i in 0..7 {
                let d = if nesterov { g[i] + mu * b[i] } else { b[i] };
                x[i] -= lr * d;
            }
            buf = Some(b);
            assert_all_near(&format!("SGD (nesterov {nesterov}, weight decay {weight_decay}) step {t}"), &q.values(), &x, 1e-10);
        }
    }
}

#[test]
fn clipped_adam_matches_pyros_clipped_adam() {
    // pyro.optim.ClippedAdam: lr *= lrd at the start of every step, gradients clamped to
    // [-clip_norm, clip_norm], eps added to sqrt(v) and the bias corrections folded into the
    // step size. Gradients here reach 2 * 10 * 2.5 = 50, so clipping at 5 matters.
    let q = Quadratic::new(&INIT);
    let (lr0, clip, lrd) = (0.1, 5.0, 0.9);
    let mut opt = Optimizer::clipped_adam(lr0, clip, lrd);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let mut x = INIT.to_vec();
    let (mut m, mut v) = (vec![0.0; 7], vec![0.0; 7]);
    let mut lr = lr0;
    for t in 1..=6 {
        q.backward(1.0);
        opt.step(&q.params()).unwrap();
        lr *= lrd;
        let g: Vec<f64> = grad(&x, 1.0).iter().map(|g| g.clamp(-clip, clip)).collect();
        for i in 0..7 {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let step_size = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
            x[i] -= step_size * m[i] / (v[i].sqrt() + eps);
        }
        assert_all_near(&format!("ClippedAdam step {t}"), &q.values(), &x, 1e-10);
        assert_near(&format!("ClippedAdam lr after step {t}"), opt.lr, lr, 1e-15);
    }
}

/// The learning rate each of `steps` SGD steps (momentum 0) actually used, read off the update:
/// `x_t - x_{t-1} = -lr_t * g`.
fn used_lrs(mut opt: Optimizer, steps: usize) -> Vec<f64> {
    let q = Quadratic::new(&INIT);
    (0..steps)
        .map(|_| {
            let before = q.values();
            q.backward(1.0);
            let g = grad(&before, 1.0);
            opt.step(&q.params()).unwrap();
            (before[1] - q.values()[1]) / g[1]
        })
        .collect()
}

#[test]
fn learning_rate_schedules_change_the_learning_rate_as_specified() {
    // ExponentialLR: step t uses lr * gamma^(t - 1).
    let lrs = used_lrs(Optimizer::sgd(0.01, 0.0).with_schedule(LrSchedule::Exponential { gamma: 0.5 }), 5);
    for (t, lr) in lrs.iter().enumerate() {
        assert_near(&format!("ExponentialLR, step {}", t + 1), *lr, 0.01 * 0.5f64.powi(t as i32), 1e-12);
    }
    // StepLR(step_size = 3, gamma = 0.1): steps 1-3 use lr, 4-6 lr / 10, 7 lr / 100.
    let lrs = used_lrs(Optimizer::sgd(0.01, 0.0).with_schedule(LrSchedule::Step { step_size: 3, gamma: 0.1 }), 7);
    let want = [0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.0001];
    for (t, (lr, w)) in lrs.iter().zip(want).enumerate() {
        assert_near(&format!("StepLR, step {}", t + 1), *lr, w, 1e-12);
    }
    // the optimizer reports the learning rate the next step will use
    let mut opt = Optimizer::sgd(0.01, 0.0).with_schedule(LrSchedule::Step { step_size: 2, gamma: 0.5 });
    let q = Quadratic::new(&INIT);
    for _ in 0..4 {
        q.backward(1.0);
        opt.step(&q.params()).unwrap();
    }
    assert_near("lr after 4 StepLR(2, 0.5) steps", opt.lr, 0.0025, 1e-15);
}

#[test]
fn max_grad_norm_rescales_all_gradients_together() {
    // gradient norm of the quadratic at INIT, scaled so that the norm is known
    let g0 = grad(&INIT, 1.0);
    let norm = g0.iter().map(|g| g * g).sum::<f64>().sqrt();
    for (max, clipped) in [(norm / 4.0, true), (norm * 2.0, false)] {
        let q = Quadratic::new(&INIT);
        let mut opt = Optimizer::sgd(0.01, 0.0).with_max_grad_norm(max);
        q.backward(1.0);
        opt.step(&q.params()).unwrap();
        // torch's clip_grad_norm_: the factor max / (norm + 1e-6) over all params at once
        let factor = if clipped { max / (norm + 1e-6) } else { 1.0 };
        let want: Vec<f64> = INIT.iter().zip(&g0).map(|(x, g)| x - 0.01 * factor * g).collect();
        assert_all_near(&format!("max_grad_norm {max} (clipped: {clipped})"), &q.values(), &want, 1e-12);
    }
}

/// `mu ~ N(0, 2)`, `x_i ~ N(mu, 1)`, `log_s ~ N(0, 1)` (two latent sites, one constrained, so that the
/// params have several shapes).
fn save_model(x: &Tensor) -> Result<()> {
    let mu = sample("mu", Normal::new(c64(0.0), c64(2.0))?)?;
    let s = sample("s", LogNormal::new(c64(0.0), c64(1.0))?)?;
    plate("data", x.size()[0], |_| observe("obs", Normal::new(&mu, &s)?, x))?;
    Ok(())
}

fn new_svi<'a>(guide: &'a AutoNormal) -> Svi<'a, Tensor> {
    let optim = Optimizer::adam(0.05).with_schedule(LrSchedule::Exponential { gamma: 0.99 });
    let mut svi = Svi::new(save_model, guide, optim, TraceElbo::with_particles(4, true));
    svi.progress = false;
    // Eager steps: a resumed run's first step is eager (a step is compiled after one eager
    // step), and the loss it reports may differ from the compiled step's in the last bit.
    svi.compiled = false;
    svi
}

/// The params after the first 10 steps of the seeded run.
fn straight_first_half(x: &Tensor) -> Vec<(String, Vec<f64>)> {
    seeded(21, || {
        let guide = AutoNormal::new(&save_model, x).unwrap();
        let mut svi = new_svi(&guide);
        set_rng_seed(1);
        svi.run(10, x).unwrap();
        snapshot()
    })
}

#[test]
fn f64_params_and_moments_survive_save_and_load_bit_for_bit() {
    // 2000 f64 values of all magnitudes: JSON must print and parse each one exactly.
    let dir = TempDir::new("svi-f64");
    let path = dir.join("svi.json");
    let model = |_: &()| -> Result<()> {
        let w = param(
            "w",
            lazy(|| Tensor::randn([2000], (Kind::Double, Device::Cpu)) * Tensor::randn([2000], (Kind::Double, Device::Cpu)).exp2() * 1e3),
            Constraint::Real,
        )?;
        factor("f", &(w.square().sum(Kind::Double) * -1e-3))?;
        Ok(())
    };
    let guide = |_: &()| -> Result<()> { Ok(()) };
    let (params, moments) = seeded(24, || {
        let mut svi = Svi::new(model, guide, Optimizer::adam(0.01), TraceElbo::new());
        svi.progress = false;
        svi.run(3, &()).unwrap();
        svi.save(&path).unwrap();
        (snapshot(), svi.optim.state_json())
    });
    seeded(25, || {
        let mut svi = Svi::new(model, guide, Optimizer::adam(0.01), TraceElbo::new());
        svi.load(&path).unwrap();
        let loaded = snapshot();
        assert_eq!(loaded.len(), 1);
        let bad = params[0].1.iter().zip(&loaded[0].1).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(bad, 0, "{bad} of 2000 f64 param values changed in the save/load round trip");
        let m_saved = &moments["state"]["w"];
        let m_loaded = &svi.optim.state_json()["state"]["w"];
        assert_eq!(m_saved, m_loaded);
    });
}

#[test]
fn optimizer_state_and_params_saved_with_svi_resume_exactly() {
    let x = t64(&[0.8, 1.9, 1.2, 0.4, 1.5, 2.2, 0.9, 1.1]);
    let dir = TempDir::new("svi-save");
    let path = dir.join("svi.json");
    // 20 steps straight
    let (straight, straight_losses) = seeded(21, || {
        let guide = AutoNormal::new(&save_model, &x).unwrap();
        let mut svi = new_svi(&guide);
        set_rng_seed(1);
        svi.run(10, &x).unwrap();
        set_rng_seed(2);
        let losses = svi.run(10, &x).unwrap();
        (snapshot(), losses)
    });
    // 10 steps, save; a fresh store, guide and Svi; load; 10 steps
    seeded(21, || {
        let guide = AutoNormal::new(&save_model, &x).unwrap();
        let mut svi = new_svi(&guide);
        set_rng_seed(1);
        svi.run(10, &x).unwrap();
        svi.save(&path).unwrap();
    });
    let at_save = straight_first_half(&x);
    let (resumed, resumed_losses) = seeded(22, || {
        let guide = AutoNormal::new(&save_model, &x).unwrap();
        let mut svi = new_svi(&guide);
        svi.load(&path).unwrap();
        assert_eq!(snapshot(), at_save, "the params as saved, bit for bit");
        assert_eq!(svi.optim.steps(), 10);
        assert_near("restored lr", svi.optim.lr, 0.05 * 0.99f64.powi(10), 1e-15);
        set_rng_seed(2);
        let losses = svi.run(10, &x).unwrap();
        (snapshot(), losses)
    });
    assert_eq!(straight.iter().map(|(n, _)| n).collect::<Vec<_>>(), resumed.iter().map(|(n, _)| n).collect::<Vec<_>>());
    assert!(straight[0].1.iter().all(|v| v.is_finite()));
    assert_eq!(straight, resumed, "params after 20 steps vs 10 + save + load + 10");
    assert_eq!(straight_losses, resumed_losses);
    // without the optimizer's state (fresh moments and lr) the run differs: the state matters
    let (fresh_moments, _) = seeded(23, || {
        let guide = AutoNormal::new(&save_model, &x).unwrap();
        let mut svi = new_svi(&guide);
        svi.load(&path).unwrap();
        svi.optim = Optimizer::adam(0.05).with_schedule(LrSchedule::Exponential { gamma: 0.99 });
        set_rng_seed(2);
        let losses = svi.run(10, &x).unwrap();
        (snapshot(), losses)
    });
    assert_ne!(straight, fresh_moments);
}

/// After its first step the optimizer moves the params the store made into one flat buffer
/// (their leaves become views of it) and updates them with one operation; a param registered by
/// its owner (a module's weight) keeps its tensor, and then every param is updated apart. Both
/// ways give the same values bit for bit, also after a param is set between steps.
#[test]
fn params_in_one_flat_buffer_take_the_same_updates_as_params_apart() {
    let x = t64(&[0.8, 1.9, 1.2, 0.4, 1.5, 2.2, 0.9, 1.1]);
    // `save_model` and a param `w` that the loss depends on (with a zero gradient).
    let model = |x: &Tensor| -> Result<()> {
        save_model(x)?;
        let w = param("w", c64(0.5), Constraint::Real)?;
        factor("w_term", &(w * 0.0))
    };
    let run = |registered: Option<&Tensor>| {
        seeded(31, || {
            if let Some(w) = registered {
                lock(&get_param_store()).register_leaf("w", w);
            }
            let guide = AutoNormal::new(&model, &x).unwrap();
            let mut svi = Svi::new(model, &guide, Optimizer::adam(0.05), TraceElbo::new());
            svi.progress = false;
            svi.run(5, &x).unwrap();
            let addresses: Vec<(usize, usize)> =
                lock(&get_param_store()).iter().map(|(_, e)| (e.unconstrained.data_ptr() as usize, e.unconstrained.numel() * 8)).collect();
            lock(&get_param_store()).set("AutoNormal.locs.mu", &c64(3.0), Constraint::Real).unwrap();
            svi.run(5, &x).unwrap();
            if let Some(w) = registered {
                let kept = lock(&get_param_store()).entry("w").map(|e| e.unconstrained.data_ptr());
                assert_eq!(kept, Some(w.data_ptr()), "the module's weight stays its own tensor");
            }
            (snapshot(), addresses)
        })
    };
    let (together, addresses) = run(None);
    // store order: the guide's params, then `w` (first read in the model run after the guide)
    assert!(addresses.windows(2).all(|w| w[1].0 == w[0].0 + w[0].1), "the params lie one after another in one buffer: {addresses:?}");
    let module_weight = c64(0.5).set_requires_grad(true);
    let (apart, _) = run(Some(&module_weight));
    assert_eq!(together, apart);
    let mu = &together.iter().find(|(n, _)| n == "AutoNormal.locs.mu").unwrap().1;
    assert!((mu[0] - 3.0).abs() < 5.0 * 0.05 + 1e-9, "five Adam steps of at most lr each from the value set: {mu:?}");
    assert_eq!(scalar(&module_weight), 0.5, "a zero gradient leaves the module's weight as it was");
}
