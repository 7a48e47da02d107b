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
        return Err(PyriteError::Param { name: name.to_string(), problem: format!("initial value lies outside its constraint {}", constraint.name()) });
    }
    if !matches!(value.kind(), Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16) {
        return Err(PyriteError::Param {
            name: name.to_string(),
            problem: format!("the initial value has dtype {:?}, but a param is a floating-point tensor (write 1.0, not 1)", value.kind()),
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
            Some(e)
                if e.owned && crate::host_reads::address(&e.unconstrained) == crate::host_reads::address(current) && e.unconstrained.size() == leaf.size() =>
            {
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
        json!({ "format": FORMAT, "version": VERSION, "order": order, "params": params })
    }

    /// Reads and checks the JSON form written by [`to_json`](Self::to_json), without touching any
    /// store: apply the result with [`replace`](Self::replace). `file`, the file the JSON was read
    /// from, is named in errors.
    ///
    /// Everything is checked: `format` and `version` (when present), `order` (a list of distinct
    /// names of saved params), and for each param its `shape` (non-negative integers), `dtype`
    /// (float32 or float64), `values` (numbers, as many as the shape holds, finite in the dtype)
    /// and `constraint` (a known, continuous constraint with well-formed fields, whose bijection
    /// from the reals takes unconstrained values of that shape).
    ///
    /// # Errors
    ///
    /// [`PyriteError::Param`] naming the param and the problem (and the file) for a malformed
    /// param; [`PyriteError::Io`] naming the file (or `param store` when `file` is `None`) for a
    /// problem with the whole: `params` missing, a wrong `format` or `version`, a bad `order`.
    pub fn parse_json(value: &Value, file: Option<&Path>) -> Result<LoadedParams> {
        let bad_file = |problem: String| json_file_error(file, "param store", problem);
        let store = value.as_object().ok_or_else(|| bad_file(format!("the param store is {}, not an object", describe(value))))?;
        if let Some(f) = store.get("format") {
            if f.as_str() != Some(FORMAT) {
                return Err(bad_file(format!("format is {}, not \"{FORMAT}\"", describe(f))));
            }
        }
        if let Some(v) = store.get("version") {
            if v.as_u64() != Some(VERSION) {
                return Err(bad_file(format!("version is {}, not {VERSION}", describe(v))));
            }
        }
        let params = store.get("params").ok_or_else(|| bad_file("params is missing".into()))?;
        let params = params.as_object().ok_or_else(|| bad_file(format!("params is {}, not an object", describe(params))))?;
        // Names in the saved order (`order`), then any others in the object's order.
        let mut names: IndexMap<&str, ()> = IndexMap::new();
        if let Some(order) = store.get("order") {
            let order = order.as_array().ok_or_else(|| bad_file(format!("order is {}, not a list of param names", describe(order))))?;
            for (i, n) in order.iter().enumerate() {
                let name = n.as_str().ok_or_else(|| bad_file(format!("order[{i}] is {}, not a param name", describe(n))))?;
                if !params.contains_key(name) {
                    return Err(bad_file(format!("order[{i}] is {}, which is not among params", describe(n))));
                }
                if names.insert(name, ()).is_some() {
                    return Err(bad_file(format!("order[{i}] is {}, which order names twice", describe(n))));
                }
            }
        }
        for n in params.keys() {
            names.entry(n.as_str()).or_insert(());
        }
        let mut loaded = IndexMap::new();
        for name in names.keys() {
            let entry = parse_param(&params[*name]).map_err(|problem| json_param_error(file, name, problem))?;
            loaded.insert(name.to_string(), entry);
        }
        Ok(LoadedParams { params: loaded })
    }

    /// Replaces the store's content with params read by [`parse_json`](Self::parse_json).
    pub fn replace(&mut self, loaded: LoadedParams) {
        self.params = loaded.params;
    }

    /// Replaces the store's content with the JSON form written by [`to_json`](Self::to_json):
    /// [`parse_json`](Self::parse_json), then [`replace`](Self::replace).
    ///
    /// # Errors
    ///
    /// Those of [`parse_json`](Self::parse_json); the store is left unchanged then.
    pub fn load_json(&mut self, value: &Value) -> Result<()> {
        let loaded = Self::parse_json(value, None)?;
        self.replace(loaded);
        Ok(())
    }

    /// Saves to `path` atomically (written beside it, then renamed), so a crash mid-save leaves
    /// the old file: as JSON for a path ending in `.json`, as safetensors otherwise (values as
    /// binary tensors, constraints as metadata; see [`safetensors_doc`](crate::safetensors_doc)).
    /// Values are written exactly: [`load`](Self::load) restores them bit for bit.
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
        write_document(path.as_ref(), &self.to_json())
    }

    /// Replaces the store's content with a file written by [`save`](Self::save) (see there), in
    /// either format (recognised by the content).
    /// The whole file is read and checked first (see [`parse_json`](Self::parse_json)): a
    /// malformed file changes nothing.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Io`] naming the file if it cannot be read, is not JSON or is not a saved
    /// param store; [`PyriteError::Param`] naming the param, the problem and the file for a
    /// malformed param. The store is left unchanged then.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let loaded = Self::parse_json(&crate::safetensors_doc::read(path)?, Some(path))?;
        self.replace(loaded);
        Ok(())
    }
}

/// Params read from a saved store and checked by [`ParamStore::parse_json`], ready to become a
/// store's content ([`ParamStore::replace`]).
#[derive(Debug)]
pub struct LoadedParams {
    params: IndexMap<String, ParamEntry>,
}

impl LoadedParams {
    /// The unconstrained shape of param `name`, if it is among the loaded params.
    pub fn shape(&self, name: &str) -> Option<Vec<i64>> {
        self.params.get(name).map(|e| e.unconstrained.size())
    }
}

/// The `format` of a saved param store.
const FORMAT: &str = "pyrite-param-store";
/// The `version` of the saved param stores this code writes and reads.
const VERSION: u64 = 1;

/// The error for a malformed saved file as a whole: [`PyriteError::Io`] naming `file`, or `what`
/// (`"param store"`, `"optimizer state"`) for JSON that did not come from a file.
pub fn json_file_error(file: Option<&Path>, what: &str, problem: String) -> PyriteError {
    PyriteError::Io { path: file.map_or_else(|| what.to_string(), |f| f.display().to_string()), problem }
}

/// The error for a malformed param (or its optimizer state) in saved JSON:
/// [`PyriteError::Param`] naming the param and the problem, and `file` when there is one.
pub fn json_param_error(file: Option<&Path>, name: &str, problem: String) -> PyriteError {
    let problem = match file {
        Some(f) => format!("{problem} (in {})", f.display()),
        None => problem,
    };
    PyriteError::Param { name: name.to_string(), problem }
}

/// A JSON value as a message shows it: scalars as JSON text (long strings cut), lists and objects
/// by kind.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
        Value::String(s) if s.chars().count() > 40 => Value::String(s.chars().take(40).chain(['…']).collect()).to_string(),
        v => v.to_string(),
    }
}

/// Whether `len` is `n(n-1)/2` for some `n >= 1`: the length of the unconstrained vector of an
/// `n x n` correlation Cholesky factor.
fn is_triangular(len: i64) -> bool {
    let n = ((1.0 + (1.0 + 8.0 * len as f64).sqrt()) / 2.0).round() as i64;
    (n - 1..=n + 1).any(|n| n.checked_mul(n - 1).is_some_and(|m| m / 2 == len))
}

/// Reads and checks one saved param: its unconstrained tensor (float32 or float64) and its
/// constraint, which must take unconstrained values of the tensor's shape.
fn parse_param(v: &Value) -> std::result::Result<ParamEntry, String> {
    let obj = v.as_object().ok_or_else(|| format!("the saved param is {}, not an object", describe(v)))?;
    // A known dtype that is not floating-point is refused before its values are read as such.
    if let Some(kind) = obj.get("dtype").and_then(Value::as_str).and_then(kind_from_name).filter(|k| !matches!(k, Kind::Float | Kind::Double)) {
        return Err(format!("dtype is \"{}\", not float32 or float64: a param is a floating-point tensor", kind_name(kind)));
    }
    let t = parse_tensor(obj, "")?;
    let c = obj.get("constraint").ok_or("constraint is missing")?;
    let constraint = parse_constraint(c, "constraint")?;
    check_fit(&constraint, &t.size())?;
    let unconstrained = t.f_set_requires_grad(true).map_err(|e| e.to_string())?;
    Ok(ParamEntry { unconstrained, constraint, owned: true })
}

/// Checks that unconstrained values of shape `shape` are in the domain of the bijection from the
/// reals onto `c` (what [`ParamEntry::constrained`] applies): enough dimensions, the sizes the
/// transform needs, bounds that broadcast to the shape, an interval's low below its high.
fn check_fit(c: &Constraint, shape: &[i64]) -> std::result::Result<(), String> {
    let name = c.name();
    let t = biject_to(c).map_err(|_| format!("constraint {name} has no bijection from the reals: a param's constraint must be continuous"))?;
    let need = t.domain_event_dim();
    if shape.len() < need {
        return Err(format!("shape {shape:?} has {} dimensions, but constraint {name} needs at least {need}", shape.len()));
    }
    let last = shape.last().copied().unwrap_or(0);
    let broadcasts = |b: &Bound| match b {
        Bound::Scalar(_) => Ok(()),
        Bound::Tensor(t) => {
            let bs = t.size();
            let fits = bs.len() <= shape.len() && bs.iter().rev().zip(shape.iter().rev()).all(|(&b, &s)| b == s || b == 1);
            if fits {
                Ok(())
            } else {
                Err(format!("constraint {name}: a bound of shape {bs:?} does not broadcast to the param's shape {shape:?}"))
            }
        }
    };
    match c.base() {
        Constraint::Simplex if last < 1 => Err(format!("shape {shape:?}: constraint {name} needs at least 1 unconstrained value in the last dimension")),
        Constraint::LowerCholesky | Constraint::PositiveDefinite if shape[shape.len() - 2] != last => {
            Err(format!("shape {shape:?}: constraint {name} needs square matrices (the last two dimensions equal)"))
        }
        Constraint::CorrCholesky if !is_triangular(last) => {
            Err(format!("shape {shape:?}: constraint {name} needs n(n-1)/2 values (0, 1, 3, 6, ...) in the last dimension"))
        }
        Constraint::GreaterThan(b) | Constraint::GreaterThanEq(b) => broadcasts(b),
        Constraint::Interval(lo, hi) => {
            broadcasts(lo)?;
            broadcasts(hi)?;
            let below = match (lo, hi) {
                (Bound::Scalar(l), Bound::Scalar(h)) => l < h,
                _ => {
                    let like = Tensor::from(0.0f64);
                    lo.to_tensor(&like).f_lt_tensor(&hi.to_tensor(&like)).and_then(|b| b.f_all()).map(|b| bool::try_from(b).unwrap_or(false)).unwrap_or(false)
                }
            };
            if below {
                Ok(())
            } else {
                Err(format!("constraint {name}: low is not below high"))
            }
        }
        _ => Ok(()),
    }
}

/// Writes JSON to `path` through a temporary file and a rename.
pub fn write_json_atomic(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string(value).map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })?;
    write_atomic(path, text.as_bytes())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a crash mid-write
/// leaves the old file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() };
    // A temporary name of its own per call, so that concurrent saves to one path do not write
    // into each other's temporary file (the last rename wins, each file is whole).
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.{n}.tmp-write", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Writes a saved document (param store, checkpoint) to `path`: JSON for a `.json` path,
/// safetensors otherwise (see [`safetensors_doc`](crate::safetensors_doc)).
pub fn write_document(path: &Path, value: &Value) -> Result<()> {
    if crate::safetensors_doc::is_json_path(path) {
        write_json_atomic(path, value)
    } else {
        crate::safetensors_doc::write(path, value)
    }
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
    // Cannot fail: every tensor can be copied to the CPU.
    let values: Vec<f64> = Vec::<f64>::try_from(t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Double).flatten(0, -1)).unwrap_or_default();
    let mut v = json!({ "shape": t.size(), "dtype": kind_name(t.kind()), "device": format!("{:?}", t.device()), "values": values });
    if let Some(c) = constraint {
        v["constraint"] = constraint_json(c);
    }
    v
}

/// The tensor written by `tensor_json`, on the CPU.
///
/// # Errors
///
/// A message naming the field and the problem for a malformed tensor: not an object, `shape`
/// not a list of non-negative integers, an unknown `dtype`, `values` not a list of numbers, as
/// many as the shape holds, each one a value of the dtype (finite in float32, an integer in
/// range for int32 and int64, 0 or 1 for bool).
pub fn tensor_from_json(v: &Value) -> std::result::Result<Tensor, String> {
    parse_tensor(v.as_object().ok_or_else(|| format!("the tensor is {}, not an object", describe(v)))?, "")
}

/// The tensor of the object `obj` written by `tensor_json`; `at` (`""`, `"constraint.low."`)
/// prefixes the field names in messages.
fn parse_tensor(obj: &serde_json::Map<String, Value>, at: &str) -> std::result::Result<Tensor, String> {
    let field = |key: &str| obj.get(key).ok_or_else(|| format!("{at}{key} is missing"));
    let shape = field("shape")?;
    let dims = shape.as_array().ok_or_else(|| format!("{at}shape is {}, not a list of non-negative integers", describe(shape)))?;
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        shape.push(d.as_u64().and_then(|n| i64::try_from(n).ok()).ok_or_else(|| format!("{at}shape[{i}] is {}, not a non-negative integer", describe(d)))?);
    }
    let dtype = field("dtype")?;
    let kind =
        dtype.as_str().and_then(kind_from_name).ok_or_else(|| format!("{at}dtype is {}, not one of float32, float64, int32, int64, bool", describe(dtype)))?;
    if let Some(device) = obj.get("device").filter(|d| !d.is_string()) {
        return Err(format!("{at}device is {}, not a device name", describe(device)));
    }
    let values = field("values")?;
    let values = values.as_array().ok_or_else(|| format!("{at}values is {}, not a list of numbers", describe(values)))?;
    let holds = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
    if holds != Some(values.len() as u64) {
        let holds = holds.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
        return Err(format!("{at}values has {} numbers, but shape {shape:?} holds {holds}", values.len()));
    }
    let mut numbers = Vec::with_capacity(values.len());
    for (i, x) in values.iter().enumerate() {
        let n = x.as_f64().ok_or_else(|| format!("{at}values[{i}] is {}, not a number", describe(x)))?;
        let misfit = match kind {
            Kind::Float if !(n as f32).is_finite() => Some("beyond the range of float32"),
            Kind::Int64 if n.fract() != 0.0 || !(-(2f64.powi(63))..2f64.powi(63)).contains(&n) => Some("not an int64 integer"),
            Kind::Int if n.fract() != 0.0 || !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&n) => Some("not an int32 integer"),
            Kind::Bool if n != 0.0 && n != 1.0 => Some("not 0 or 1 (dtype bool)"),
            _ => None,
        };
        if let Some(misfit) = misfit {
            return Err(format!("{at}values[{i}] is {}, {misfit}", describe(x)));
        }
        numbers.push(n);
    }
    Tensor::from_slice(&numbers).f_to_kind(kind).and_then(|t| t.f_reshape(shape.as_slice())).map_err(|e| format!("{at}values: {e}"))
}

fn bound_json(b: &Bound) -> Value {
    match b {
        Bound::Scalar(x) => json!(x),
        Bound::Tensor(t) => tensor_json(t, None),
    }
}

/// The bound in field `key` of the constraint object `obj` at `at`: a number or a tensor object.
fn parse_bound(obj: &serde_json::Map<String, Value>, key: &str, at: &str) -> std::result::Result<Bound, String> {
    match obj.get(key) {
        None => Err(format!("{at}.{key} is missing")),
        Some(Value::Number(x)) => x.as_f64().map(Bound::Scalar).ok_or_else(|| format!("{at}.{key} is {x}, not a finite number")),
        Some(Value::Object(t)) => Ok(Bound::Tensor(parse_tensor(t, &format!("{at}.{key}."))?)),
        Some(v) => Err(format!("{at}.{key} is {}, not a number or a tensor object", describe(v))),
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
        Constraint::Ordered => json!({"type": "ordered"}),
        Constraint::PositiveOrdered => json!({"type": "positive_ordered"}),
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
///
/// # Errors
///
/// A message naming the field (`constraint.type`, `constraint.low.values[0]`) and the problem
/// for a malformed constraint: not an object, a missing or unknown `type`, a missing or
/// malformed field of its type.
pub fn constraint_from_json(v: &Value) -> std::result::Result<Constraint, String> {
    parse_constraint(v, "constraint")
}

/// The constraint `v` at `at` (`"constraint"`, `"constraint.base"`), named in messages.
fn parse_constraint(v: &Value, at: &str) -> std::result::Result<Constraint, String> {
    let obj = v.as_object().ok_or_else(|| format!("{at} is {}, not an object", describe(v)))?;
    let ty = obj.get("type").ok_or_else(|| format!("{at}.type is missing"))?;
    let int = |key: &str| match obj.get(key) {
        None => Err(format!("{at}.{key} is missing")),
        Some(x) => x.as_i64().ok_or_else(|| format!("{at}.{key} is {}, not an integer", describe(x))),
    };
    Ok(match ty.as_str().unwrap_or_default() {
        "real" => Constraint::Real,
        "independent" => {
            let base = obj.get("base").ok_or_else(|| format!("{at}.base is missing"))?;
            let base = parse_constraint(base, &format!("{at}.base"))?;
            let n = obj.get("n").ok_or_else(|| format!("{at}.n is missing"))?;
            // At most u32::MAX: event dimension counts summed over nested constraints cannot overflow.
            let n = n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| format!("{at}.n is {}, not a number of dimensions", describe(n)))?;
            Constraint::Independent(Box::new(base), n as usize)
        }
        "positive" => Constraint::Positive,
        "nonnegative" => Constraint::Nonnegative,
        "greater_than" => Constraint::GreaterThan(parse_bound(obj, "bound", at)?),
        "greater_than_eq" => Constraint::GreaterThanEq(parse_bound(obj, "bound", at)?),
        "interval" => Constraint::Interval(parse_bound(obj, "low", at)?, parse_bound(obj, "high", at)?),
        "unit_interval" => Constraint::UnitInterval,
        "simplex" => Constraint::Simplex,
        "ordered" => Constraint::Ordered,
        "positive_ordered" => Constraint::PositiveOrdered,
        "lower_cholesky" => Constraint::LowerCholesky,
        "corr_cholesky" => Constraint::CorrCholesky,
        "positive_definite" => Constraint::PositiveDefinite,
        "integer_interval" => Constraint::IntegerInterval(int("low")?, int("high")?),
        "nonnegative_integer" => Constraint::NonnegativeInteger,
        "boolean" => Constraint::Boolean,
        "one_hot" => Constraint::OneHot,
        _ => return Err(format!("{at}.type is {}, not a known constraint", describe(ty))),
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
