//! The param store: named, ordered, unconstrained tensors with their constraints.

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use pyrite_distributions::constraints::Bound;
use pyrite_distributions::{biject_to, Constraint};
use serde_json::{json, Value};
use tch::{Kind, Tensor};

use crate::error::{PyriteError, Result};
use crate::message::{Message, ParamInit};

/// One param: its unconstrained leaf tensor (which the optimizer updates) and its constraint.
#[derive(Debug)]
pub struct ParamEntry {
    /// The unconstrained leaf tensor (`requires_grad`), which optimizers update.
    pub unconstrained: Tensor,
    /// The constraint of the param's value; `biject_to(constraint)` maps `unconstrained` onto it.
    pub constraint: Constraint,
    /// Whether the store made the leaf itself (not [`ParamStore::register_leaf`]), so that it may
    /// move the leaf's values into other storage ([`ParamStore::move_leaf`]).
    owned: bool,
}

impl ParamEntry {
    /// The constrained value (differentiable with respect to the unconstrained tensor).
    pub fn constrained(&self) -> Tensor {
        match &self.constraint {
            Constraint::Real => self.unconstrained.shallow_clone(),
            c => biject_to(c).map(|t| t.forward(&self.unconstrained)).unwrap_or_else(|_| self.unconstrained.shallow_clone()),
        }
    }
}

/// Named params in insertion order, like `pyro.get_param_store()`.
#[derive(Debug, Default)]
pub struct ParamStore {
    params: IndexMap<String, ParamEntry>,
}

/// A shareable handle to a store. Each thread has its own default store; two threads share
/// params only when they are handed the same handle.
pub type ParamStoreHandle = Arc<Mutex<ParamStore>>;

thread_local! {
    static CURRENT: RefCell<ParamStoreHandle> = RefCell::new(Arc::new(Mutex::new(ParamStore::default())));
}

/// This thread's current param store (the default one unless inside `with_param_store`).
pub fn get_param_store() -> ParamStoreHandle {
    CURRENT.with(|c| c.borrow().clone())
}

/// Locks a store, recovering from a poisoned lock (a panic in another thread).
pub fn lock(store: &ParamStoreHandle) -> MutexGuard<'_, ParamStore> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` with `store` as this thread's param store.
pub fn with_param_store<R>(store: &ParamStoreHandle, f: impl FnOnce() -> R) -> R {
    struct Back(Option<ParamStoreHandle>);
    impl Drop for Back {
        fn drop(&mut self) {
            if let Some(old) = self.0.take() {
                CURRENT.with(|c| *c.borrow_mut() = old);
            }
        }
    }
    let old = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), store.clone()));
    let _back = Back(Some(old));
    f()
}

/// A new, empty, shareable store.
pub fn new_param_store() -> ParamStoreHandle {
    Arc::new(Mutex::new(ParamStore::default()))
}

fn unconstrain(name: &str, value: &Tensor, constraint: &Constraint) -> Result<Tensor> {
    if !constraint.contains_all(value) {
        return Err(PyriteError::Param {
            name: name.to_string(),
            problem: format!("initial value lies outside its constraint {}", constraint.name()),
        });
    }
    let t = biject_to(constraint).map_err(|e| PyriteError::Param { name: name.to_string(), problem: e.to_string() })?;
    let u = tch::no_grad(|| t.inverse(value));
    if !bool::try_from(u.isfinite().all()).unwrap_or(false) {
        return Err(PyriteError::Param { name: name.to_string(), problem: "initial value is not finite in the unconstrained space".into() });
    }
    Ok(u.detach().copy().set_requires_grad(true))
}

impl ParamStore {
    /// Names in insertion order.
    pub fn names(&self) -> Vec<String> {
        self.params.keys().cloned().collect()
    }
    /// Number of params.
    pub fn len(&self) -> usize {
        self.params.len()
    }
    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
    /// The entry of a param.
    pub fn entry(&self, name: &str) -> Option<&ParamEntry> {
        self.params.get(name)
    }
    /// Iterates over `(name, entry)` in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ParamEntry)> {
        self.params.iter()
    }
    /// The constrained value of a param, detached from the graph.
    pub fn get(&self, name: &str) -> Result<Tensor> {
        let e = self.params.get(name).ok_or_else(|| PyriteError::UnknownSite(name.to_string()))?;
        Ok(tch::no_grad(|| e.constrained()).detach())
    }
    /// Sets (or creates) a param from a constrained value.
    pub fn set(&mut self, name: &str, value: &Tensor, constraint: Constraint) -> Result<()> {
        let u = unconstrain(name, value, &constraint)?;
        self.params.insert(name.to_string(), ParamEntry { unconstrained: u, constraint, owned: true });
        Ok(())
    }
    /// Registers an existing leaf tensor (for example a tch module's weight) without copying it:
    /// optimizer updates then change the module too.
    pub fn register_leaf(&mut self, name: &str, leaf: &Tensor) {
        self.params.insert(name.to_string(), ParamEntry { unconstrained: leaf.shallow_clone(), constraint: Constraint::Real, owned: false });
    }
    /// Replaces the leaf of param `name` by `leaf` (same values, other storage: an optimizer's
    /// view into one flat buffer of all its params), provided the store made the param's leaf
    /// itself and it is still `current`. Returns whether it did. A leaf given to
    /// [`register_leaf`](Self::register_leaf) is never moved: its owner (a module) keeps it.
    pub fn move_leaf(&mut self, name: &str, current: &Tensor, leaf: Tensor) -> bool {
        match self.params.get_mut(name) {
            Some(e) if e.owned && e.unconstrained.data_ptr() == current.data_ptr() && e.unconstrained.size() == leaf.size() => {
                e.unconstrained = leaf;
                true
            }
            _ => false,
        }
    }

    /// Removes a param, returning whether it existed.
    pub fn remove(&mut self, name: &str) -> bool {
        self.params.shift_remove(name).is_some()
    }
    /// Removes every param.
    pub fn clear(&mut self) {
        self.params.clear();
    }

    /// The JSON form of the store: for each param its shape, dtype, constraint and values.
    pub fn to_json(&self) -> Value {
        let mut params = serde_json::Map::new();
        for (name, e) in &self.params {
            params.insert(name.clone(), tensor_json(&e.unconstrained, Some(&e.constraint)));
        }
        // `params` is a JSON object, whose keys serde_json keeps sorted: `order` keeps the
        // store's insertion order.
        let order: Vec<&String> = self.params.keys().collect();
        json!({ "format": "pyrite-param-store", "version": 1, "order": order, "params": params })
    }

    /// Replaces the store's content with the JSON form written by `to_json`.
    pub fn load_json(&mut self, value: &Value) -> Result<()> {
        let params = value.get("params").and_then(|p| p.as_object()).ok_or_else(|| bad_file("no `params` object"))?;
        // Names in the saved order (`order`), then any others in the object's order.
        let mut names: IndexMap<&str, ()> = IndexMap::new();
        for n in value.get("order").and_then(|o| o.as_array()).into_iter().flatten() {
            if let Some(n) = n.as_str().filter(|n| params.contains_key(*n)) {
                names.insert(n, ());
            }
        }
        for n in params.keys() {
            names.entry(n.as_str()).or_insert(());
        }
        let mut loaded = IndexMap::new();
        for (name, p) in names.keys().map(|n| (n.to_string(), &params[*n])) {
            let t = tensor_from_json(p).map_err(|e| bad_file(&format!("param `{name}`: {e}")))?;
            let c = constraint_from_json(p.get("constraint").unwrap_or(&Value::Null)).map_err(|e| bad_file(&format!("param `{name}`: {e}")))?;
            loaded.insert(name.clone(), ParamEntry { unconstrained: t.set_requires_grad(true), constraint: c, owned: true });
        }
        self.params = loaded;
        Ok(())
    }

    /// Saves to `path` atomically (written beside it, then renamed), so a crash mid-save leaves
    /// the old file. Values are written exactly: [`load`](Self::load) restores them bit for bit.
    ///
    /// ```
    /// use pyrite_core::prelude::*;
    /// use pyrite_distributions::prelude::*;
    /// let store = new_param_store();
    /// with_param_store(&store, || param("scale", 2.0, Constraint::Positive))?;
    /// let path = std::env::temp_dir().join(format!("pyrite-doc-params-{}.json", std::process::id()));
    /// store.lock().unwrap().save(&path)?;
    ///
    /// let mut restored = ParamStore::default();
    /// restored.load(&path)?;
    /// assert_eq!(restored.names(), vec!["scale"]);
    /// assert!(restored.get("scale")?.equal(&store.lock().unwrap().get("scale")?));
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), PyriteError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PyriteError::Io`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_json_atomic(path.as_ref(), &self.to_json())
    }

    /// Replaces the store's content with a file written by [`save`](Self::save) (see there).
    ///
    /// # Errors
    ///
    /// [`PyriteError::Io`] if the file cannot be read or is not a saved param store; the store is
    /// left unchanged then.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let v = read_json(path.as_ref())?;
        self.load_json(&v)
    }
}

fn bad_file(problem: &str) -> PyriteError {
    PyriteError::Io { path: "param store".into(), problem: problem.to_string() }
}

/// Writes JSON to `path` through a temporary file and a rename.
pub fn write_json_atomic(path: &Path, value: &Value) -> Result<()> {
    let io = |e: std::io::Error| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() };
    // A temporary name of its own per call, so that concurrent saves to one path do not write
    // into each other's temporary file (the last rename wins, each file is whole).
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.{n}.tmp-write", std::process::id()));
    let text = serde_json::to_string(value).map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })?;
    std::fs::write(&tmp, text).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })?;
    serde_json::from_str(&text).map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Double => "float64",
        Kind::Float => "float32",
        Kind::Int64 => "int64",
        Kind::Int => "int32",
        Kind::Bool => "bool",
        _ => "float32",
    }
}

fn kind_from_name(s: &str) -> Option<Kind> {
    Some(match s {
        "float64" => Kind::Double,
        "float32" => Kind::Float,
        "int64" => Kind::Int64,
        "int32" => Kind::Int,
        "bool" => Kind::Bool,
        _ => return None,
    })
}

/// A tensor as JSON: shape, dtype, device and its values (f64 holds every f32 and i32 exactly).
pub fn tensor_json(t: &Tensor, constraint: Option<&Constraint>) -> Value {
    let values: Vec<f64> = Vec::<f64>::try_from(t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Double).flatten(0, -1)).unwrap_or_default();
    let mut v = json!({ "shape": t.size(), "dtype": kind_name(t.kind()), "device": format!("{:?}", t.device()), "values": values });
    if let Some(c) = constraint {
        v["constraint"] = constraint_json(c);
    }
    v
}

/// The tensor written by `tensor_json`, on the CPU.
pub fn tensor_from_json(v: &Value) -> std::result::Result<Tensor, String> {
    let shape: Vec<i64> = v.get("shape").and_then(|s| s.as_array()).ok_or("no shape")?.iter().map(|x| x.as_i64().unwrap_or(0)).collect();
    let kind = v.get("dtype").and_then(|s| s.as_str()).and_then(kind_from_name).ok_or("unknown dtype")?;
    let values: Vec<f64> = v.get("values").and_then(|s| s.as_array()).ok_or("no values")?.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
    if values.len() as i64 != shape.iter().product::<i64>() {
        return Err("values do not match the shape".into());
    }
    Ok(Tensor::from_slice(&values).to_kind(kind).reshape(shape.as_slice()))
}

fn bound_json(b: &Bound) -> Value {
    match b {
        Bound::Scalar(x) => json!(x),
        Bound::Tensor(t) => tensor_json(t, None),
    }
}

fn bound_from_json(v: &Value) -> std::result::Result<Bound, String> {
    if let Some(x) = v.as_f64() {
        Ok(Bound::Scalar(x))
    } else {
        Ok(Bound::Tensor(tensor_from_json(v)?))
    }
}

/// A constraint as JSON.
pub fn constraint_json(c: &Constraint) -> Value {
    match c {
        Constraint::Real => json!({"type": "real"}),
        Constraint::Independent(b, n) => json!({"type": "independent", "base": constraint_json(b), "n": n}),
        Constraint::Positive => json!({"type": "positive"}),
        Constraint::Nonnegative => json!({"type": "nonnegative"}),
        Constraint::GreaterThan(b) => json!({"type": "greater_than", "bound": bound_json(b)}),
        Constraint::GreaterThanEq(b) => json!({"type": "greater_than_eq", "bound": bound_json(b)}),
        Constraint::Interval(l, h) => json!({"type": "interval", "low": bound_json(l), "high": bound_json(h)}),
        Constraint::UnitInterval => json!({"type": "unit_interval"}),
        Constraint::Simplex => json!({"type": "simplex"}),
        Constraint::LowerCholesky => json!({"type": "lower_cholesky"}),
        Constraint::CorrCholesky => json!({"type": "corr_cholesky"}),
        Constraint::PositiveDefinite => json!({"type": "positive_definite"}),
        Constraint::IntegerInterval(l, h) => json!({"type": "integer_interval", "low": l, "high": h}),
        Constraint::NonnegativeInteger => json!({"type": "nonnegative_integer"}),
        Constraint::Boolean => json!({"type": "boolean"}),
        Constraint::OneHot => json!({"type": "one_hot"}),
    }
}

/// The constraint written by `constraint_json`.
pub fn constraint_from_json(v: &Value) -> std::result::Result<Constraint, String> {
    let ty = v.get("type").and_then(|t| t.as_str()).ok_or("constraint without type")?;
    let int = |k: &str| v.get(k).and_then(|x| x.as_i64()).ok_or(format!("constraint without {k}"));
    Ok(match ty {
        "real" => Constraint::Real,
        "independent" => Constraint::Independent(Box::new(constraint_from_json(&v["base"])?), int("n")? as usize),
        "positive" => Constraint::Positive,
        "nonnegative" => Constraint::Nonnegative,
        "greater_than" => Constraint::GreaterThan(bound_from_json(&v["bound"])?),
        "greater_than_eq" => Constraint::GreaterThanEq(bound_from_json(&v["bound"])?),
        "interval" => Constraint::Interval(bound_from_json(&v["low"])?, bound_from_json(&v["high"])?),
        "unit_interval" => Constraint::UnitInterval,
        "simplex" => Constraint::Simplex,
        "lower_cholesky" => Constraint::LowerCholesky,
        "corr_cholesky" => Constraint::CorrCholesky,
        "positive_definite" => Constraint::PositiveDefinite,
        "integer_interval" => Constraint::IntegerInterval(int("low")?, int("high")?),
        "nonnegative_integer" => Constraint::NonnegativeInteger,
        "boolean" => Constraint::Boolean,
        "one_hot" => Constraint::OneHot,
        other => return Err(format!("unknown constraint `{other}`")),
    })
}

/// The default behaviour of a param message: look the param up in the current store, creating it
/// from its initial value the first time; a re-declaration with another constraint or shape is an
/// error.
pub(crate) fn resolve_param(msg: &mut Message) -> Result<()> {
    let store = get_param_store();
    let mut store = lock(&store);
    let constraint = msg.constraint.clone().unwrap_or(Constraint::Real);
    if let Some(e) = store.params.get(&msg.name) {
        if e.constraint != constraint {
            return Err(PyriteError::Param {
                name: msg.name.clone(),
                problem: format!("declared with constraint {} but stored with {}", constraint.name(), e.constraint.name()),
            });
        }
        if let Some(ParamInit::Value(init)) = &msg.init {
            let want = e.constrained_shape();
            if init.size() != want {
                return Err(PyriteError::Param {
                    name: msg.name.clone(),
                    problem: format!("declared with shape {:?} but stored with shape {want:?}", init.size()),
                });
            }
        }
    } else {
        let init = match msg.init.take() {
            Some(ParamInit::Value(t)) => t,
            Some(ParamInit::Lazy(f)) => f(),
            None => return Err(PyriteError::Param { name: msg.name.clone(), problem: "does not exist and has no initial value".into() }),
        };
        let u = unconstrain(&msg.name, &init, &constraint)?;
        store.params.insert(msg.name.clone(), ParamEntry { unconstrained: u, constraint, owned: true });
    }
    let e = &store.params[&msg.name];
    msg.unconstrained = Some(e.unconstrained.shallow_clone());
    msg.value = Some(e.constrained());
    Ok(())
}

impl ParamEntry {
    fn constrained_shape(&self) -> Vec<i64> {
        match &self.constraint {
            Constraint::Simplex => {
                let mut s = self.unconstrained.size();
                if let Some(l) = s.last_mut() {
                    *l += 1;
                }
                s
            }
            Constraint::CorrCholesky => biject_to(&self.constraint).map(|t| t.forward_shape(&self.unconstrained.size())).unwrap_or_default(),
            _ => self.unconstrained.size(),
        }
    }
}
