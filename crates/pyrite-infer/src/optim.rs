//! Optimizers over the param store: Adam, ClippedAdam, SGD with momentum; learning-rate
//! schedules; gradient-norm clipping; state that saves and loads with the params.

use indexmap::IndexMap;
use pyrite_core::param_store::{tensor_from_json, tensor_json};
use pyrite_core::{PyriteError, Result};
use serde_json::{json, Value};
use tch::Tensor;

/// A learning-rate schedule, applied after each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LrSchedule {
    /// Constant.
    Constant,
    /// `lr *= gamma` every step.
    Exponential { gamma: f64 },
    /// `lr *= gamma` every `step_size` steps.
    Step { step_size: u64, gamma: f64 },
}

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Adam (Kingma & Ba).
    Adam { beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
    /// Pyro's ClippedAdam: each param's gradient clipped elementwise to `clip_norm`, and the
    /// learning rate decayed by `lrd` each step.
    ClippedAdam { beta1: f64, beta2: f64, eps: f64, clip_norm: f64, lrd: f64 },
    /// SGD with (optionally Nesterov) momentum.
    Sgd { momentum: f64, nesterov: bool, weight_decay: f64 },
}

/// An optimizer: a rule, a learning rate and schedule, optional global gradient-norm clipping,
/// and per-param state keyed by param name.
#[derive(Debug)]
pub struct Optimizer {
    pub rule: Rule,
    pub lr: f64,
    pub schedule: LrSchedule,
    /// Rescale all gradients together so that their global L2 norm is at most this.
    pub max_grad_norm: Option<f64>,
    step: u64,
    state: IndexMap<String, Vec<Tensor>>,
}

impl Optimizer {
    fn with(rule: Rule, lr: f64) -> Self {
        Optimizer { rule, lr, schedule: LrSchedule::Constant, max_grad_norm: None, step: 0, state: IndexMap::new() }
    }
    /// `Adam({"lr": lr})` with betas (0.9, 0.999).
    pub fn adam(lr: f64) -> Self {
        Self::with(Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }, lr)
    }
    /// Adam with given betas.
    pub fn adam_betas(lr: f64, beta1: f64, beta2: f64) -> Self {
        Self::with(Rule::Adam { beta1, beta2, eps: 1e-8, weight_decay: 0.0 }, lr)
    }
    /// Pyro's `ClippedAdam({"lr": lr, "clip_norm": 10, "lrd": 1})`.
    pub fn clipped_adam(lr: f64, clip_norm: f64, lrd: f64) -> Self {
        Self::with(Rule::ClippedAdam { beta1: 0.9, beta2: 0.999, eps: 1e-8, clip_norm, lrd }, lr)
    }
    /// SGD with momentum.
    pub fn sgd(lr: f64, momentum: f64) -> Self {
        Self::with(Rule::Sgd { momentum, nesterov: false, weight_decay: 0.0 }, lr)
    }
    /// Sets a learning-rate schedule.
    pub fn with_schedule(mut self, schedule: LrSchedule) -> Self {
        self.schedule = schedule;
        self
    }
    /// Clips the global gradient norm.
    pub fn with_max_grad_norm(mut self, max_norm: f64) -> Self {
        self.max_grad_norm = Some(max_norm);
        self
    }
    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Updates each `(name, leaf)` from its gradient; params without a gradient are skipped.
    pub fn step(&mut self, params: &[(String, Tensor)]) -> Result<()> {
        self.step += 1;
        let t = self.step as f64;
        let grads: Vec<Option<Tensor>> = params.iter().map(|(_, p)| {
            let g = p.grad();
            g.defined().then_some(g)
        }).collect();
        let clip = match self.max_grad_norm {
            Some(max) => {
                let sq: Vec<Tensor> = grads.iter().flatten().map(|g| g.square().sum(g.kind())).collect();
                if sq.is_empty() {
                    1.0
                } else {
                    let norm = Tensor::stack(&sq, 0).sum(tch::Kind::Double).sqrt().double_value(&[]);
                    if norm > max { max / (norm + 1e-6) } else { 1.0 }
                }
            }
            None => 1.0,
        };
        tch::no_grad(|| {
            for ((name, p), g) in params.iter().zip(grads) {
                let Some(mut g) = g else { continue };
                if clip != 1.0 {
                    g = g * clip;
                }
                let mut p = p.shallow_clone();
                match self.rule {
                    Rule::Adam { beta1, beta2, eps, weight_decay } => {
                        if weight_decay != 0.0 {
                            g = g + &p * weight_decay;
                        }
                        self.adam_update(name, &mut p, &g, beta1, beta2, eps, self.lr, t);
                    }
                    Rule::ClippedAdam { beta1, beta2, eps, clip_norm, .. } => {
                        let g = g.clamp(-clip_norm, clip_norm);
                        self.adam_update(name, &mut p, &g, beta1, beta2, eps, self.lr, t);
                    }
                    Rule::Sgd { momentum, nesterov, weight_decay } => {
                        if weight_decay != 0.0 {
                            g = g + &p * weight_decay;
                        }
                        let d = if momentum != 0.0 {
                            let st = self.state.entry(name.clone()).or_insert_with(|| vec![g.zeros_like()]);
                            let buf = &mut st[0];
                            let _ = buf.g_mul_scalar_(momentum).g_add_(&g);
                            if nesterov { &g + &*buf * momentum } else { buf.shallow_clone() }
                        } else {
                            g
                        };
                        let _ = p.g_add_(&(d * -self.lr));
                    }
                }
            }
        });
        if let Rule::ClippedAdam { lrd, .. } = self.rule {
            self.lr *= lrd;
        }
        match self.schedule {
            LrSchedule::Constant => {}
            LrSchedule::Exponential { gamma } => self.lr *= gamma,
            LrSchedule::Step { step_size, gamma } => {
                if step_size > 0 && self.step % step_size == 0 {
                    self.lr *= gamma;
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn adam_update(&mut self, name: &str, p: &mut Tensor, g: &Tensor, beta1: f64, beta2: f64, eps: f64, lr: f64, t: f64) {
        let st = self.state.entry(name.to_string()).or_insert_with(|| vec![g.zeros_like(), g.zeros_like()]);
        let _ = st[0].lerp_(g, 1.0 - beta1);
        let _ = st[1].g_mul_scalar_(beta2).g_add_(&(g.square() * (1.0 - beta2)));
        let bias1 = 1.0 - beta1.powf(t);
        let bias2 = 1.0 - beta2.powf(t);
        let denom = (&st[1] / bias2).sqrt() + eps;
        let _ = p.g_add_(&(&st[0] / denom * (-lr / bias1)));
    }

    /// The optimizer state as JSON (rule, lr, step count, per-param moment tensors).
    pub fn state_json(&self) -> Value {
        let mut state = serde_json::Map::new();
        for (name, ts) in &self.state {
            state.insert(name.clone(), Value::Array(ts.iter().map(|t| tensor_json(t, None)).collect()));
        }
        json!({ "lr": self.lr, "step": self.step, "state": state })
    }

    /// Restores the state written by `state_json`.
    pub fn load_state_json(&mut self, v: &Value) -> Result<()> {
        let bad = |p: &str| PyriteError::Io { path: "optimizer state".into(), problem: p.to_string() };
        self.lr = v.get("lr").and_then(|x| x.as_f64()).ok_or_else(|| bad("no lr"))?;
        self.step = v.get("step").and_then(|x| x.as_u64()).ok_or_else(|| bad("no step"))?;
        let mut state = IndexMap::new();
        for (name, arr) in v.get("state").and_then(|s| s.as_object()).ok_or_else(|| bad("no state"))? {
            let ts = arr.as_array().ok_or_else(|| bad("state entry not a list"))?;
            let ts: std::result::Result<Vec<Tensor>, String> = ts.iter().map(tensor_from_json).collect();
            state.insert(name.clone(), ts.map_err(|e| bad(&e))?);
        }
        self.state = state;
        Ok(())
    }
}
