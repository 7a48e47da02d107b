//! Exact sum-product (and max-product) contraction of log-factors over enumerated dimensions and
//! plates: tensor variable elimination, as in Pyro's `TraceEnum_ELBO` (Obermeyer et al., 2019).
//!
//! Each factor is a log-density tensor that lives in a set of plates (its *ordinal*) and depends
//! on some enumerated variables (tensor dims left of the plates). Factors of the deepest ordinal
//! are combined per connected component, the variables local to that ordinal are summed out
//! (`logsumexp`, or `max` for MAP), then the plates the remaining variables do not share are
//! multiplied out (summed in log space), and the result moves up to the parent ordinal, until
//! one number is left.

use std::collections::BTreeSet;

use pyrite_core::prelude::*;
use tch::{Kind, Tensor};

/// A log-factor: its tensor, the plates it lies in (name → dim, size) and its enumerated dims.
#[derive(Debug)]
pub struct Factor {
    /// The log-factor tensor.
    pub log: Tensor,
    /// Names of the plates it lies in.
    pub ordinal: BTreeSet<String>,
    /// The enumerated dims it depends on.
    pub vars: BTreeSet<i64>,
}

/// Where each plate and enumerated variable lives.
#[derive(Debug, Default)]
pub struct Layout {
    /// Plate name → (dim, subsample size).
    pub plates: Vec<(String, i64, i64)>,
    /// Enumerated dim → (site name, the plates of its site).
    pub vars: Vec<(i64, String, BTreeSet<String>)>,
}

impl Layout {
    fn plate(&self, name: &str) -> (i64, i64) {
        self.plates.iter().find(|p| p.0 == name).map(|p| (p.1, p.2)).expect("unknown plate")
    }
    fn var_ordinal(&self, dim: i64) -> &BTreeSet<String> {
        &self.vars.iter().find(|v| v.0 == dim).expect("unknown enumerated dim").2
    }
}

/// How a variable is eliminated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reduce {
    /// Sum (marginalisation): `logsumexp`.
    Sum,
    /// Max (MAP): `max`.
    Max,
}

/// A variable's conditional table, kept for backward sampling: the combined log-factor just
/// before the variable was reduced (it depends on the variable and on variables reduced later).
#[derive(Debug)]
pub struct Eliminated {
    /// The variable's enumerated dim.
    pub dim: i64,
    /// Its log-table, before reduction.
    pub table: Tensor,
}

/// The enumerated dims (size > 1) of a tensor, given the first enumeration dim.
pub fn enum_dims(t: &Tensor, first_enum_dim: i64) -> BTreeSet<i64> {
    let size = t.size();
    let rank = size.len() as i64;
    (-rank..=first_enum_dim).filter(|d| size[(rank + d) as usize] > 1).collect()
}

/// Sums a plate dim out of `t` (product over the plate's elements), treating a missing or
/// size-1 dim as a factor constant across the plate.
fn sum_plate(t: Tensor, dim: i64, size: i64) -> Tensor {
    let rank = t.dim() as i64;
    if rank < -dim || t.size()[(rank + dim) as usize] == 1 {
        t * size as f64
    } else {
        t.sum_dim_intlist([dim].as_slice(), true, t.kind())
    }
}

/// Contracts all factors to one scalar; with `keep`, records every variable's table in
/// elimination order (for `infer_discrete`).
pub fn contract(factors: Vec<Factor>, layout: &Layout, reduce: Reduce, keep: Option<&mut Vec<Eliminated>>) -> Result<Tensor> {
    let residual = eliminate(factors, layout, reduce, keep, &BTreeSet::new())?;
    let mut total: Option<Tensor> = None;
    for f in residual {
        let t = sum_plates(f.log, &f.ordinal, layout);
        let t = t.sum(t.kind());
        total = Some(match total {
            None => t,
            Some(acc) => acc + t,
        });
    }
    Ok(total.unwrap_or_else(|| Tensor::from(0.0f64)))
}

/// Sums (products, in log space) a factor's plates out, keeping its other dims.
pub fn sum_plates(mut t: Tensor, ordinal: &BTreeSet<String>, layout: &Layout) -> Tensor {
    for p in ordinal {
        let (dim, size) = layout.plate(p);
        t = sum_plate(t, dim, size);
    }
    t
}

/// Eliminates every variable except the `pinned` ones (a guide's enumerated variables, which
/// the ELBO averages over instead), deepest plates first. Returns the residual factors: each
/// depends on pinned variables only, and keeps the plates those live in (with no pinned
/// variables, every residual factor is a number per plate element, for [`sum_plates`]).
///
/// # Errors
/// [`PyriteError::Enumerate`] when a variable cannot be eliminated because a pinned variable
/// lives in a plate it does not (model enumeration more global than guide enumeration, which
/// Pyro refuses too).
pub fn eliminate(
    mut factors: Vec<Factor>,
    layout: &Layout,
    reduce: Reduce,
    mut keep: Option<&mut Vec<Eliminated>>,
    pinned: &BTreeSet<i64>,
) -> Result<Vec<Factor>> {
    let mut done = Vec::new();
    loop {
        let (finished, todo): (Vec<Factor>, Vec<Factor>) = factors.into_iter().partition(|f| f.vars.is_subset(pinned));
        done.extend(finished);
        factors = todo;
        let Some(depth) = factors.iter().map(|f| f.ordinal.len()).max() else {
            return Ok(done);
        };
        let ordinal = factors.iter().find(|f| f.ordinal.len() == depth).unwrap().ordinal.clone();
        let (here, rest): (Vec<Factor>, Vec<Factor>) = factors.into_iter().partition(|f| f.ordinal == ordinal);
        factors = rest;
        let local: BTreeSet<i64> = here
            .iter()
            .flat_map(|f| f.vars.iter().copied())
            .filter(|v| !pinned.contains(v) && *layout.var_ordinal(*v) == ordinal)
            .collect();
        // Connected components over local variables.
        let mut comps: Vec<(Vec<Factor>, BTreeSet<i64>)> = Vec::new();
        for f in here {
            let lv: BTreeSet<i64> = f.vars.intersection(&local).copied().collect();
            let mut merged = (vec![f], lv);
            let mut i = 0;
            while i < comps.len() {
                if !comps[i].1.is_disjoint(&merged.1) {
                    let (fs, vs) = comps.remove(i);
                    merged.0.extend(fs);
                    merged.1.extend(vs);
                } else {
                    i += 1;
                }
            }
            comps.push(merged);
        }
        for (fs, lv) in comps {
            let remaining: BTreeSet<i64> = fs.iter().flat_map(|f| f.vars.difference(&lv).copied()).collect();
            let mut t = eliminate_component(fs, &lv, reduce, &mut keep);
            // The parent ordinal: the plates the remaining variables live in.
            let parent: BTreeSet<String> = remaining.iter().flat_map(|v| layout.var_ordinal(*v).iter().cloned()).filter(|p| ordinal.contains(p)).collect();
            if parent == ordinal && lv.is_empty() {
                if let Some(v) = remaining.iter().find(|v| !pinned.contains(v)) {
                    let name = layout.vars.iter().find(|x| x.0 == *v).map(|x| x.1.clone()).unwrap_or_default();
                    return Err(PyriteError::Enumerate {
                        site: name,
                        problem: "is enumerated in the model outside a plate in which the guide enumerates a variable it meets; \
                                  enumerate it in the guide too, or the plate's variable in the model"
                            .into(),
                    });
                }
            }
            for p in ordinal.difference(&parent) {
                let (dim, size) = layout.plate(p);
                t = sum_plate(t, dim, size);
            }
            factors.push(Factor { log: t, ordinal: parent, vars: remaining });
        }
    }
}

/// Sums (or maximises) the local variables `lv` out of one connected set of factors, one
/// variable at a time: each step combines only the factors that hold the variable, and takes
/// the variable whose combined table is smallest, so a chain of `T` variables with `K` values
/// costs `T` tables of `K^2` entries rather than one of `K^T`. Returns the sum of what is left,
/// a log-factor over the component's other (non-local) variables.
fn eliminate_component(fs: Vec<Factor>, lv: &BTreeSet<i64>, reduce: Reduce, keep: &mut Option<&mut Vec<Eliminated>>) -> Tensor {
    let size_of = |t: &Tensor, v: i64| -> i128 {
        let s = t.size();
        let r = s.len() as i64;
        if r >= -v {
            s[(r + v) as usize] as i128
        } else {
            1
        }
    };
    let mut pool: Vec<(Tensor, BTreeSet<i64>)> = fs.into_iter().map(|f| (f.log, f.vars)).collect();
    let mut sizes: Vec<(i64, i128)> = Vec::new();
    for (t, vars) in &pool {
        for &v in vars {
            if !sizes.iter().any(|(w, _)| *w == v) {
                sizes.push((v, size_of(t, v)));
            }
        }
    }
    let size = |v: &i64| sizes.iter().find(|(w, _)| w == v).map(|(_, n)| *n).unwrap_or(1);
    let mut todo: Vec<i64> = lv.iter().rev().copied().collect();
    while !todo.is_empty() {
        // The variable whose elimination builds the smallest table.
        let table_size = |v: i64| -> i128 {
            let vars: BTreeSet<i64> = pool.iter().filter(|(_, vs)| vs.contains(&v)).flat_map(|(_, vs)| vs.iter().copied()).collect();
            vars.iter().map(size).product()
        };
        let (pick, _) = todo.iter().enumerate().min_by_key(|(_, &v)| table_size(v)).expect("a variable is left");
        let v = todo.remove(pick);
        let (with, without): (Vec<_>, Vec<_>) = pool.into_iter().partition(|(_, vs)| vs.contains(&v));
        let mut vars = BTreeSet::new();
        let mut t: Option<Tensor> = None;
        for (f, vs) in with {
            vars.extend(vs);
            t = Some(match t {
                None => f,
                Some(acc) => acc + f,
            });
        }
        vars.remove(&v);
        pool = without;
        pool.push((reduce_var(t.expect("a factor holds the variable"), v, reduce, keep), vars));
    }
    pool.into_iter().map(|(t, _)| t).reduce(|a, b| a + b).expect("a component has a factor")
}

fn reduce_var(t: Tensor, v: i64, reduce: Reduce, keep: &mut Option<&mut Vec<Eliminated>>) -> Tensor {
    let rank = t.dim() as i64;
    if rank < -v {
        return t;
    }
    if let Some(k) = keep.as_deref_mut() {
        k.push(Eliminated { dim: v, table: t.shallow_clone() });
    }
    match reduce {
        Reduce::Sum => t.logsumexp([v].as_slice(), true),
        Reduce::Max => t.amax([v].as_slice(), true),
    }
}

/// Samples (temperature 1) or maximises (temperature 0) each eliminated variable given those
/// eliminated after it, walking the tables backwards. Returns enumerated dim → index tensor with
/// size 1 at every enumerated dim.
pub fn backtrack(tables: &[Eliminated], temperature: f64) -> Vec<(i64, Tensor)> {
    let mut chosen: Vec<(i64, Tensor)> = Vec::new();
    for e in tables.iter().rev() {
        let mut t = e.table.shallow_clone();
        for (d, idx) in &chosen {
            let rank = t.dim() as i64;
            if rank >= -d && t.size()[(rank + d) as usize] > 1 {
                // Tables of different variables hold different dims: broadcast the two first.
                let r = t.dim().max(idx.dim());
                let (tt, ii) = (expand_left(&t, r), expand_left(idx, r));
                let (ts, is) = (tt.size(), ii.size());
                let at = (r as i64 + d) as usize;
                let mut shape: Vec<i64> = ts.iter().zip(&is).map(|(a, b)| *a.max(b)).collect();
                shape[at] = ts[at];
                let mut idx_shape = shape.clone();
                idx_shape[at] = 1;
                t = tt.expand(shape.as_slice(), false).gather(*d, &ii.expand(idx_shape.as_slice(), false), false);
            }
        }
        let pick = if temperature == 0.0 {
            t.argmax(e.dim, true)
        } else {
            let u = t.rand_like().clamp(1e-12, 1.0 - 1e-12);
            let gumbel = -(-u.log()).log();
            (t / temperature + gumbel).argmax(e.dim, true)
        };
        chosen.push((e.dim, pick.to_kind(Kind::Int64)));
    }
    chosen
}

fn expand_left(t: &Tensor, rank: usize) -> Tensor {
    let mut shape = t.size();
    while shape.len() < rank {
        shape.insert(0, 1);
    }
    t.reshape(shape.as_slice())
}

/// A model trace's log-density split for contraction.
#[derive(Debug)]
pub struct ModelFactors {
    /// The log-factors that depend on enumerated variables, masked but not scaled.
    pub factors: Vec<Factor>,
    /// The scale (`scale`, subsampling) those factors share: as in Pyro, it multiplies their
    /// contraction, outside the log-sum-exp (scaling each term inside would temper the sum).
    pub scale: f64,
    /// The log-factors that depend on no enumerated variable (or on pinned ones only), scaled.
    pub other: Vec<Factor>,
    /// Where the plates and enumerated variables live.
    pub layout: Layout,
}

/// The factors and layout of a model trace run under `enumerate(first_enum_dim, ...)`. Sites that
/// depend on no enumerated variable other than the `pinned` ones (a guide's enumerated
/// variables, replayed into the model) go to `other`.
pub fn model_factors(tr: &Trace, first_enum_dim: i64, pinned: &BTreeSet<i64>) -> Result<ModelFactors> {
    let mut layout = Layout::default();
    for s in tr.nodes.values() {
        for f in &s.plates {
            if !layout.plates.iter().any(|p| p.0 == *f.name) {
                layout.plates.push((f.name.to_string(), f.dim, f.subsample_size));
            }
        }
        if let Some(d) = s.infer.enumerate_dim {
            layout.vars.push((d, s.name.clone(), s.plates.iter().map(|f| f.name.to_string()).collect()));
        }
    }
    let (mut factors, mut other) = (Vec::new(), Vec::new());
    let mut scale: Option<(f64, &str)> = None;
    for s in tr.sample_sites() {
        // A plate at or left of the first enumeration dim would share a dim with an enumerated
        // variable and be summed as one (a silently wrong answer when the sizes agree).
        if let Some(f) = s.plates.iter().find(|f| f.dim <= first_enum_dim) {
            return Err(PyriteError::Enumerate {
                site: s.name.clone(),
                problem: format!("plate `{}` uses dim {} but enumeration starts at dim {first_enum_dim}; raise max_plate_nesting", f.name, f.dim),
            });
        }
        let log = s.log_prob()?;
        let vars = enum_dims(&log, first_enum_dim);
        for v in &vars {
            if !layout.vars.iter().any(|x| x.0 == *v) {
                return Err(PyriteError::Enumerate { site: s.name.clone(), problem: format!("depends on dim {v}, which no enumerated site owns; raise max_plate_nesting") });
            }
        }
        let ordinal = s.plates.iter().map(|f| f.name.to_string()).collect();
        if vars.is_subset(pinned) {
            other.push(Factor { log: s.scaled_log_prob()?, ordinal, vars });
            continue;
        }
        match scale {
            None => scale = Some((s.scale, s.name.as_str())),
            Some((c, first)) if (c - s.scale).abs() > 1e-12 * c.abs().max(s.scale.abs()) => {
                return Err(PyriteError::Enumerate {
                    site: s.name.clone(),
                    problem: format!(
                        "its log-density has scale {} but that of `{first}` has scale {c}; the sites that depend on enumerated \
                         variables must share one scale (subsampling or `scale`)",
                        s.scale
                    ),
                });
            }
            Some(_) => {}
        }
        factors.push(Factor { log, ordinal, vars });
    }
    Ok(ModelFactors { factors, scale: scale.map(|s| s.0).unwrap_or(1.0), other, layout })
}
