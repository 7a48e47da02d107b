//! Optimizers over the param store: Adam, ClippedAdam, SGD with momentum; learning-rate
//! schedules; gradient-norm clipping; state that saves and loads with the params.

use std::path::Path;

use indexmap::IndexMap;
use pyrite_compile::Real;
use pyrite_core::param_store::{describe, get_param_store, json_file_error, json_param_error, lock, tensor_from_json, tensor_json, LoadedParams};
use pyrite_core::{PyriteError, Result};
use serde_json::{json, Value};
use tch::Tensor;

/// A learning-rate schedule, applied after each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LrSchedule {
    /// Constant.
    Constant,
    /// `lr *= gamma` every step.
    Exponential {
        /// Decay factor per step.
        gamma: f64,
    },
    /// `lr *= gamma` every `step_size` steps.
    Step {
        /// Steps between decays.
        step_size: u64,
        /// Decay factor.
        gamma: f64,
    },
}

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Adam (Kingma & Ba).
    Adam {
        /// Decay rate of the first-moment (mean) estimate.
        beta1: f64,
        /// Decay rate of the second-moment (uncentred variance) estimate.
        beta2: f64,
        /// Added to the denominator for numerical stability.
        eps: f64,
        /// L2 penalty: `weight_decay * param` is added to the gradient.
        weight_decay: f64,
    },
    /// Pyro's ClippedAdam: each param's gradient clipped elementwise to `clip_norm`, and the
    /// learning rate multiplied by `lrd` at the start of each step (the first step already uses
    /// `lr * lrd`), with `eps` added to `sqrt(v)` before the bias correction, as in
    /// `pyro.optim.clipped_adam.ClippedAdam`.
    ClippedAdam {
        /// Decay rate of the first-moment estimate.
        beta1: f64,
        /// Decay rate of the second-moment estimate.
        beta2: f64,
        /// Added to `sqrt(v)` for numerical stability.
        eps: f64,
        /// Gradients are clamped elementwise to `[-clip_norm, clip_norm]`.
        clip_norm: f64,
        /// Learning-rate decay factor per step.
        lrd: f64,
    },
    /// SGD with (optionally Nesterov) momentum.
    Sgd {
        /// Momentum factor (`0` for plain SGD).
        momentum: f64,
        /// Use Nesterov momentum.
        nesterov: bool,
        /// L2 penalty: `weight_decay * param` is added to the gradient.
        weight_decay: f64,
    },
}

/// The layout of the params last updated (names and shapes) and the flat moment buffers.
type FlatState = (Vec<(String, Vec<i64>)>, Vec<Tensor>);

/// An optimizer: a rule, a learning rate and schedule, optional global gradient-norm clipping,
/// and per-param state keyed by param name.
///
/// All params are updated together: their gradients are concatenated into one flat vector and
/// the rule runs once on it (a dozen tensor operations per step however many params there are),
/// then each param takes its slice of the update.
#[derive(Debug)]
pub struct Optimizer {
    /// The update rule and its hyperparameters.
    pub rule: Rule,
    /// The current learning rate (changed by the schedule, and by ClippedAdam's `lrd`).
    pub lr: f64,
    /// How `lr` changes after each step.
    pub schedule: LrSchedule,
    /// Rescale all gradients together so that their global L2 norm is at most this.
    pub max_grad_norm: Option<f64>,
    step: u64,
    /// Per-param state (moments), used when the flat state is not built.
    state: IndexMap<String, Vec<Tensor>>,
    /// State over the flat vector of the params last updated: their names and shapes, and the
    /// flat moment buffers.
    flat: Option<FlatState>,
    /// The values of those params, moved into one flat buffer, when the param store let it.
    shared: Shared,
}

/// Whether the params of the current layout live in one flat buffer (each store leaf a view of
/// it), so that an update is one operation on the buffer instead of two per param.
#[derive(Debug)]
enum Shared {
    /// Not tried yet for this layout.
    Untried,
    /// The buffer, and the address of each param's values in it.
    Buffer(Tensor, Vec<usize>),
    /// Some param's leaf is not the store's to move (a module's weight): per-param updates.
    Refused,
}

impl Shared {
    /// Moves the params' values into one flat buffer and each store param onto its view.
    fn adopt(used: &[(&String, &Tensor)]) -> Shared {
        let (kind, device) = (used[0].1.kind(), used[0].1.device());
        if used.iter().any(|(_, p)| p.kind() != kind || p.device() != device) {
            return Shared::Refused;
        }
        let values = Tensor::flatten_dense_tensors(&used.iter().map(|(_, p)| p.detach()).collect::<Vec<_>>());
        let store = get_param_store();
        let mut store = lock(&store);
        let mut addresses = Vec::with_capacity(used.len());
        let mut offset = 0;
        for (name, p) in used {
            let n = p.numel() as i64;
            let leaf = values.narrow(0, offset, n).view(p.size().as_slice()).detach().set_requires_grad(true);
            addresses.push(leaf.data_ptr() as usize);
            // A param moved before a refusal keeps its (equal) values in the buffer: harmless.
            if !store.move_leaf(name, p, leaf) {
                return Shared::Refused;
            }
            offset += n;
        }
        Shared::Buffer(values, addresses)
    }

    /// The flat buffer, if `used` are exactly the params living in it.
    fn buffer(&self, used: &[(&String, &Tensor)]) -> Option<&Tensor> {
        match self {
            Shared::Buffer(values, addresses) if addresses.len() == used.len() && used.iter().zip(addresses).all(|((_, p), &a)| p.data_ptr() as usize == a) => {
                Some(values)
            }
            _ => None,
        }
    }
}

fn numel(shape: &[i64]) -> i64 {
    shape.iter().product()
}

impl Optimizer {
    fn with(rule: Rule, lr: f64) -> Self {
        Optimizer { rule, lr, schedule: LrSchedule::Constant, max_grad_norm: None, step: 0, state: IndexMap::new(), flat: None, shared: Shared::Untried }
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

    fn num_buffers(&self) -> usize {
        match self.rule {
            Rule::Adam { .. } | Rule::ClippedAdam { .. } => 2,
            Rule::Sgd { momentum, .. } => usize::from(momentum != 0.0),
        }
    }

    /// Moves the flat state back into per-param state.
    fn unpack(&mut self) {
        if let Some((layout, bufs)) = self.flat.take() {
            let mut off = 0;
            for (name, shape) in layout {
                let n = numel(&shape);
                let per: Vec<Tensor> = bufs.iter().map(|b| b.narrow(0, off, n).reshape(shape.as_slice()).copy()).collect();
                self.state.insert(name, per);
                off += n;
            }
        }
    }

    /// Makes the flat state match `layout`, carrying over each param's moments.
    fn pack(&mut self, layout: Vec<(String, Vec<i64>)>, like: &Tensor) {
        if self.flat.as_ref().map(|(l, _)| *l == layout).unwrap_or(false) {
            return;
        }
        self.unpack();
        self.shared = Shared::Untried;
        let bufs = (0..self.num_buffers())
            .map(|i| {
                let parts: Vec<Tensor> = layout
                    .iter()
                    .map(|(name, shape)| match self.state.get(name) {
                        Some(st) if st.len() > i && st[i].size() == *shape => st[i].to_kind(like.kind()).reshape([-1]),
                        _ => Tensor::zeros([numel(shape)], (like.kind(), like.device())),
                    })
                    .collect();
                Tensor::cat(&parts, 0)
            })
            .collect();
        for (name, _) in &layout {
            self.state.shift_remove(name);
        }
        self.flat = Some((layout, bufs));
    }

    /// Updates each `(name, leaf)` from its `.grad()`; params without a gradient are skipped.
    pub fn step(&mut self, params: &[(String, Tensor)]) -> Result<()> {
        let grads: Vec<Tensor> = params.iter().map(|(_, p)| p.grad()).collect();
        self.step_with_grads(params, &grads)
    }

    /// Updates each `(name, leaf)` with the matching gradient (undefined gradients are skipped).
    /// A non-finite gradient is an error naming the param, and nothing is updated.
    pub fn step_with_grads(&mut self, params: &[(String, Tensor)], grads: &[Tensor]) -> Result<()> {
        let used: Vec<(&String, &Tensor)> = params.iter().zip(grads).filter(|(_, g)| g.defined()).map(|((n, p), _)| (n, p)).collect();
        if used.is_empty() {
            self.advance(self.step_lr());
            return Ok(());
        }
        // One call flattens and concatenates the gradients.
        let g = tch::no_grad(|| Tensor::flatten_dense_tensors(&grads.iter().filter(|g| g.defined()).collect::<Vec<_>>()));
        self.update(&used, g)
    }

    /// As [`step_with_grads`](Self::step_with_grads), with every param's gradient given at
    /// once: `flat` holds them one after the other, flattened, in the params' dtype.
    ///
    /// # Errors
    ///
    /// [`PyriteError::NonFinite`] naming the param with a non-finite gradient (nothing is
    /// updated); [`PyriteError::Shape`] if `flat` does not hold the params' elements.
    pub fn step_with_flat_grad(&mut self, params: &[(String, Tensor)], flat: Tensor) -> Result<()> {
        let numel: usize = params.iter().map(|(_, p)| p.numel()).sum();
        if flat.numel() != numel {
            return Err(PyriteError::Shape { site: "<params>".into(), detail: format!("a flat gradient of {} elements for params of {numel}", flat.numel()) });
        }
        let used: Vec<(&String, &Tensor)> = params.iter().map(|(n, p)| (n, p)).collect();
        if used.is_empty() {
            self.advance(self.step_lr());
            return Ok(());
        }
        self.update(&used, flat)
    }

    /// The update of [`step_with_flat_grad`](Self::step_with_flat_grad) for a gradient held
    /// in memory (a compiled step's), done in one native loop over the params' flat buffer and
    /// the moments, without libtorch operations, when it can be: Adam or ClippedAdam, the params
    /// already in one contiguous CPU buffer (from the second step on). `Ok(false)`, nothing
    /// changed, when it cannot: the caller then takes the tensor path.
    ///
    /// # Errors
    ///
    /// [`PyriteError::NonFinite`] naming the param of a non-finite gradient (nothing updated).
    pub(crate) fn step_with_flat_values<G: Real>(&mut self, params: &[(String, Tensor)], grad: &[G]) -> Result<bool> {
        let (beta1, beta2, eps, weight_decay, clip, pyro_eps) = match self.rule {
            Rule::Adam { beta1, beta2, eps, weight_decay } => (beta1, beta2, eps, weight_decay, f64::INFINITY, false),
            Rule::ClippedAdam { beta1, beta2, eps, clip_norm, .. } => (beta1, beta2, eps, 0.0, clip_norm, true),
            Rule::Sgd { .. } => return Ok(false),
        };
        let used: Vec<(&String, &Tensor)> = params.iter().map(|(n, p)| (n, p)).collect();
        if used.is_empty() || grad.len() != params.iter().map(|(_, p)| p.numel()).sum::<usize>() {
            return Ok(false);
        }
        let Some(values) = self.shared.buffer(&used).map(Tensor::shallow_clone) else { return Ok(false) };
        let kind = values.kind();
        if values.device() != tch::Device::Cpu || !values.is_contiguous() || !matches!(kind, tch::Kind::Float | tch::Kind::Double) {
            return Ok(false);
        }
        if let Some(bad) = grad.iter().position(|g| !g.to_f64().is_finite()) {
            let mut at = 0;
            let site = used.iter().find(|(_, p)| {
                at += p.numel();
                bad < at
            });
            return Err(PyriteError::NonFinite { site: site.map_or("<params>".into(), |(n, _)| (*n).clone()), what: "the gradient".into() });
        }
        let layout: Vec<(String, Vec<i64>)> = used.iter().map(|(n, p)| ((*n).clone(), p.size())).collect();
        self.pack(layout, used[0].1);
        // cannot fail: `pack` has just set `self.flat`
        let bufs = &self.flat.as_ref().unwrap().1;
        if bufs.iter().any(|b| !b.is_contiguous() || b.kind() != kind || b.numel() != grad.len()) {
            return Ok(false);
        }
        let scale = match self.max_grad_norm {
            Some(max) => {
                let norm = grad.iter().map(|g| g.to_f64() * g.to_f64()).sum::<f64>().sqrt();
                if norm > max {
                    max / (norm + 1e-6)
                } else {
                    1.0
                }
            }
            None => 1.0,
        };
        let (t, lr) = ((self.step + 1) as f64, self.step_lr());
        let bias1 = 1.0 - beta1.powf(t);
        let sqrt_bias2 = (1.0 - beta2.powf(t)).sqrt();
        let e = if pyro_eps { eps } else { eps * sqrt_bias2 };
        let rule = AdamStep { beta1, beta2, e, weight_decay, clip, scale, step: lr * sqrt_bias2 / bias1 };
        let n = grad.len();
        // SAFETY: three distinct contiguous CPU buffers of `n` elements of `kind`, which nothing
        // else reads or writes during the loop.
        unsafe {
            match kind {
                tch::Kind::Float => rule.run(values.data_ptr() as *mut f32, bufs[0].data_ptr() as *mut f32, bufs[1].data_ptr() as *mut f32, grad),
                _ => rule.run(values.data_ptr() as *mut f64, bufs[0].data_ptr() as *mut f64, bufs[1].data_ptr() as *mut f64, grad),
            }
        }
        debug_assert_eq!(n, values.numel());
        self.advance(lr);
        Ok(true)
    }

    /// This step's learning rate (ClippedAdam decays it before the update, as Pyro's
    /// `group["lr"] *= lrd`).
    fn step_lr(&self) -> f64 {
        match self.rule {
            Rule::ClippedAdam { lrd, .. } => self.lr * lrd,
            _ => self.lr,
        }
    }

    /// Updates `used` with the flat gradient `g` (their gradients one after the other), then
    /// advances the step count and the schedule.
    fn update(&mut self, used: &[(&String, &Tensor)], mut g: Tensor) -> Result<()> {
        let t = (self.step + 1) as f64;
        let lr = self.step_lr();
        let p0 = used[0].1;
        let layout: Vec<(String, Vec<i64>)> = used.iter().map(|(n, p)| ((*n).clone(), p.size())).collect();
        tch::no_grad(|| -> Result<()> {
            if !g.sum(tch::Kind::Double).double_value(&[]).is_finite() {
                let mut at = 0;
                let mut site = "<params>".to_string();
                for (n, p) in used {
                    let len = p.numel() as i64;
                    if !bool::try_from(g.narrow(0, at, len).isfinite().all()).unwrap_or(false) {
                        site = (*n).clone();
                        break;
                    }
                    at += len;
                }
                return Err(PyriteError::NonFinite { site, what: "the gradient".into() });
            }
            if let Some(max) = self.max_grad_norm {
                let norm = g.norm().double_value(&[]);
                if norm > max {
                    g *= max / (norm + 1e-6);
                }
            }
            self.pack(layout, p0);
            // cannot fail: `pack` has just set `self.flat`
            let bufs = &mut self.flat.as_mut().unwrap().1;
            // Adam's step is `m / denom` per element (see `adam_denominator`), applied to
            // each param with one fused `addcdiv_`; SGD's is a flat `update` to add.
            let (update, denom) = match self.rule {
                Rule::Adam { beta1, beta2, eps, weight_decay } => {
                    if weight_decay != 0.0 {
                        g += Tensor::flatten_dense_tensors(&used.iter().map(|(_, p)| *p).collect::<Vec<_>>()) * weight_decay;
                    }
                    (bufs[0].shallow_clone(), Some(adam_denominator(bufs, &g, beta1, beta2, eps, lr, t, false)))
                }
                Rule::ClippedAdam { beta1, beta2, eps, clip_norm, .. } => {
                    let g = g.clamp(-clip_norm, clip_norm);
                    (bufs[0].shallow_clone(), Some(adam_denominator(bufs, &g, beta1, beta2, eps, lr, t, true)))
                }
                Rule::Sgd { momentum, nesterov, weight_decay } => {
                    if weight_decay != 0.0 {
                        g += Tensor::flatten_dense_tensors(&used.iter().map(|(_, p)| *p).collect::<Vec<_>>()) * weight_decay;
                    }
                    let d = if momentum != 0.0 {
                        let _ = bufs[0].g_mul_scalar_(momentum).g_add_(&g);
                        if nesterov {
                            &g + &bufs[0] * momentum
                        } else {
                            bufs[0].shallow_clone()
                        }
                    } else {
                        g
                    };
                    (d * -lr, None)
                }
            };
            // Params in one flat buffer take the update in one operation.
            if let Some(values) = self.shared.buffer(used) {
                let mut values = values.shallow_clone();
                let _ = match &denom {
                    Some(d) => values.addcdiv_(&update, d),
                    None => values.g_add_(&update),
                };
                return Ok(());
            }
            // Otherwise one split of each flat buffer, then each param updated through a
            // flat view of itself (two operations per param), and the params moved into one
            // buffer for the next steps where the store allows.
            let sizes: Vec<i64> = used.iter().map(|(_, p)| p.numel() as i64).collect();
            let updates = update.split_with_sizes(sizes.as_slice(), 0);
            let denoms = denom.as_ref().map(|d| d.split_with_sizes(sizes.as_slice(), 0));
            for (i, (_, p)) in used.iter().enumerate() {
                let mut flat = p.view([-1]);
                let _ = match &denoms {
                    Some(d) => flat.addcdiv_(&updates[i], &d[i]),
                    None => flat.g_add_(&updates[i]),
                };
            }
            // (Again after the store's leaves were replaced: `set`, `load`.)
            if !matches!(self.shared, Shared::Refused) {
                self.shared = Shared::adopt(used);
            }
            Ok(())
        })?;
        self.advance(lr);
        Ok(())
    }

    /// Counts a step taken with learning rate `lr` and moves the schedule on.
    fn advance(&mut self, lr: f64) {
        self.step += 1;
        self.lr = lr;
        match self.schedule {
            LrSchedule::Constant => {}
            LrSchedule::Exponential { gamma } => self.lr *= gamma,
            LrSchedule::Step { step_size, gamma } => {
                if step_size > 0 && self.step.is_multiple_of(step_size) {
                    self.lr *= gamma;
                }
            }
        }
    }

    /// The optimizer state as JSON (lr, step count, per-param moment tensors).
    pub fn state_json(&mut self) -> Value {
        self.state_json_where(|_, _| true)
    }

    /// The optimizer state as JSON, with the moments of only those params that `shape_of` knows
    /// (by name, their unconstrained shape) and whose moments have that shape: what `Svi::save`
    /// writes beside the params, so that [`OptimizerState::check_params`] accepts it.
    pub(crate) fn state_json_for(&mut self, shape_of: impl Fn(&str) -> Option<Vec<i64>>) -> Value {
        self.state_json_where(|name, ts| shape_of(name).is_some_and(|shape| ts.iter().all(|t| t.size() == shape)))
    }

    fn state_json_where(&mut self, keep: impl Fn(&str, &[Tensor]) -> bool) -> Value {
        self.unpack();
        let mut state = serde_json::Map::new();
        for (name, ts) in self.state.iter().filter(|(n, ts)| keep(n, ts)) {
            state.insert(name.clone(), Value::Array(ts.iter().map(|t| tensor_json(t, None)).collect()));
        }
        json!({ "lr": self.lr, "step": self.step, "state": state })
    }

    /// Reads and checks the state written by [`state_json`](Self::state_json), without touching
    /// the optimizer: apply the result with [`apply_state`](Self::apply_state). `file`, the file
    /// the JSON was read from, is named in errors.
    ///
    /// `lr` must be a number, `step` a non-negative integer, `state` an object holding for each
    /// param a list of as many floating-point tensors as this optimizer's rule keeps per param
    /// (2 for Adam, 1 for SGD with momentum, 0 without), all of one shape.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Param`] naming the param (and the file) for a malformed param's state;
    /// [`PyriteError::Io`] naming the file (or `optimizer state` when `file` is `None`) for a
    /// missing or malformed `lr`, `step` or `state`.
    pub fn parse_state_json(&self, v: &Value, file: Option<&Path>) -> Result<OptimizerState> {
        let bad_file = |problem: String| json_file_error(file, "optimizer state", problem);
        let obj = v.as_object().ok_or_else(|| bad_file(format!("optimizer is {}, not an object", describe(v))))?;
        let field = |key: &str| obj.get(key).ok_or_else(|| bad_file(format!("optimizer.{key} is missing")));
        let lr = field("lr")?;
        let lr = lr.as_f64().ok_or_else(|| bad_file(format!("optimizer.lr is {}, not a number", describe(lr))))?;
        let step = field("step")?;
        let step = step.as_u64().ok_or_else(|| bad_file(format!("optimizer.step is {}, not a non-negative integer", describe(step))))?;
        let entries = field("state")?;
        let entries = entries.as_object().ok_or_else(|| bad_file(format!("optimizer.state is {}, not an object", describe(entries))))?;
        let keeps = self.num_buffers();
        let mut state = IndexMap::new();
        for (name, ts) in entries {
            let moments = self.parse_moments(name, ts, keeps).map_err(|problem| json_param_error(file, name, problem))?;
            state.insert(name.clone(), moments);
        }
        Ok(OptimizerState { lr, step, state })
    }

    /// The `keeps` moment tensors of param `name` in `v`, all floating-point and of one shape.
    fn parse_moments(&self, name: &str, v: &Value, keeps: usize) -> std::result::Result<Vec<Tensor>, String> {
        let at = format!("optimizer.state.{name}");
        let ts = v.as_array().ok_or_else(|| format!("{at} is {}, not a list of tensors", describe(v)))?;
        if ts.len() != keeps {
            let rule = match self.rule {
                Rule::Adam { .. } => "Adam",
                Rule::ClippedAdam { .. } => "ClippedAdam",
                Rule::Sgd { .. } if keeps == 1 => "SGD with momentum",
                Rule::Sgd { .. } => "SGD without momentum",
            };
            let tensors = if ts.len() == 1 { "tensor" } else { "tensors" };
            return Err(format!("{at} holds {} {tensors}, but {rule} keeps {keeps} per param", ts.len()));
        }
        let mut moments: Vec<Tensor> = Vec::with_capacity(keeps);
        for (i, t) in ts.iter().enumerate() {
            let t = tensor_from_json(t).map_err(|e| format!("{at}[{i}]: {e}"))?;
            if !t.is_floating_point() {
                return Err(format!("{at}[{i}] has an integer or bool dtype, not a floating-point one"));
            }
            if let Some(first) = moments.first().filter(|m| m.size() != t.size()) {
                return Err(format!("{at}[{i}] has shape {:?}, but {at}[0] has {:?}", t.size(), first.size()));
            }
            moments.push(t);
        }
        Ok(moments)
    }

    /// Replaces the learning rate, step count and moments with state read by
    /// [`parse_state_json`](Self::parse_state_json).
    pub fn apply_state(&mut self, loaded: OptimizerState) {
        self.lr = loaded.lr;
        self.step = loaded.step;
        self.state = loaded.state;
        self.flat = None;
        self.shared = Shared::Untried;
    }

    /// Restores the state written by [`state_json`](Self::state_json):
    /// [`parse_state_json`](Self::parse_state_json), then [`apply_state`](Self::apply_state).
    ///
    /// # Errors
    ///
    /// Those of [`parse_state_json`](Self::parse_state_json); the optimizer is left unchanged then.
    pub fn load_state_json(&mut self, v: &Value) -> Result<()> {
        let loaded = self.parse_state_json(v, None)?;
        self.apply_state(loaded);
        Ok(())
    }
}

/// Optimizer state read from JSON and checked by [`Optimizer::parse_state_json`], ready to
/// become an optimizer's state ([`Optimizer::apply_state`]).
#[derive(Debug)]
pub struct OptimizerState {
    lr: f64,
    step: u64,
    state: IndexMap<String, Vec<Tensor>>,
}

impl OptimizerState {
    /// Checks that each param with moments is among `params` (those of the same checkpoint),
    /// with the moments' shape. `file` is named in errors.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Param`] naming the first param whose moments do not fit.
    pub fn check_params(&self, params: &LoadedParams, file: Option<&Path>) -> Result<()> {
        for (name, moments) in &self.state {
            let problem = match (params.shape(name), moments.first()) {
                (None, _) => format!("optimizer.state.{name} holds moments of a param that is not among the params"),
                (Some(shape), Some(m)) if m.size() != shape => {
                    format!("optimizer.state.{name} holds moments of shape {:?}, but the param has shape {shape:?}", m.size())
                }
                _ => continue,
            };
            return Err(json_param_error(file, name, problem));
        }
        Ok(())
    }
}

/// One native Adam update (see [`Optimizer::step_with_flat_values`]): the arithmetic of
/// [`adam_denominator`] and `addcdiv_`, element by element, in double precision.
struct AdamStep {
    beta1: f64,
    beta2: f64,
    /// The eps added to `sqrt(v)`.
    e: f64,
    weight_decay: f64,
    /// ClippedAdam's elementwise clip (infinite for Adam).
    clip: f64,
    /// The gradient's scale from `max_grad_norm`.
    scale: f64,
    /// `lr * sqrt(1 - beta2^t) / (1 - beta1^t)`.
    step: f64,
}

impl AdamStep {
    /// Updates the params at `p` and the moments at `m` and `v` (each `grad.len()` long).
    ///
    /// # Safety
    ///
    /// The three pointers must be valid, distinct buffers of `grad.len()` elements that nothing
    /// else uses meanwhile.
    unsafe fn run<T: Real, G: Real>(&self, p: *mut T, m: *mut T, v: *mut T, grad: &[G]) {
        // SAFETY: the caller's promise.
        let (p, m, v) = unsafe {
            (std::slice::from_raw_parts_mut(p, grad.len()), std::slice::from_raw_parts_mut(m, grad.len()), std::slice::from_raw_parts_mut(v, grad.len()))
        };
        for (((p, m), v), g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(grad) {
            let g = (g.to_f64() * self.scale + self.weight_decay * p.to_f64()).clamp(-self.clip, self.clip);
            let m1 = m.to_f64() + (1.0 - self.beta1) * (g - m.to_f64());
            let v1 = v.to_f64() * self.beta2 + g * (g * (1.0 - self.beta2));
            *m = T::from_f64(m1);
            *v = T::from_f64(v1);
            *p = T::from_f64(p.to_f64() - self.step * m.to_f64() / (v.to_f64().sqrt() + self.e));
        }
    }
}

/// Updates the flat moments `m` (`bufs[0]`) and `v` (`bufs[1]`) with the gradient and returns
/// the denominator `denom` for which the param update is `m / denom`:
///
/// * torch's Adam: `-lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)`;
/// * Pyro's ClippedAdam (`pyro_eps`): `-lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`.
///
/// Both are `m / ((sqrt(v) + e) * k)` with `k = -(1 - b1^t) / (lr * sqrt(1 - b2^t))` and `e` the
/// rescaled `eps`, which takes four passes over the params (`m`, `v` twice, `denom`) besides the
/// fused `addcdiv_` that applies it.
#[allow(clippy::too_many_arguments)]
fn adam_denominator(bufs: &mut [Tensor], g: &Tensor, beta1: f64, beta2: f64, eps: f64, lr: f64, t: f64, pyro_eps: bool) -> Tensor {
    let _ = bufs[0].lerp_(g, 1.0 - beta1);
    let _ = bufs[1].g_mul_scalar_(beta2).addcmul_(g, &(g * (1.0 - beta2)));
    let bias1 = 1.0 - beta1.powf(t);
    let sqrt_bias2 = (1.0 - beta2.powf(t)).sqrt();
    let e = if pyro_eps { eps } else { eps * sqrt_bias2 };
    let mut denom = bufs[1].sqrt();
    let _ = denom.g_add_scalar_(e).g_mul_scalar_(-bias1 / (lr * sqrt_bias2));
    denom
}
