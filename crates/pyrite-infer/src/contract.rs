//! Exact sum-product (and max-product) contraction of log-factors over enumerated variables and
//! plates: tensor variable elimination, as in Pyro's `TraceEnum_ELBO` (Obermeyer et al., 2019).
//!
//! Each factor is a log-density tensor that lives in a set of plates (its *ordinal*) and depends
//! on some enumerated variables, each in a tensor dim left of the plates. A variable is known by
//! its identity, not its dim: under `markov` several variables take turns on one dim, and
//! factors are aligned (their dims permuted) before they are combined. Factors of the deepest
//! ordinal are combined per connected component, the variables local to that ordinal are summed
//! out one at a time (`logsumexp`, or `max` for MAP), then the plates the remaining variables do
//! not share are multiplied out (summed in log space), and the result moves up to the parent
//! ordinal, until one number is left.

use std::collections::{BTreeMap, BTreeSet};

use pyrite_core::prelude::*;
use pyrite_core::trace::sum_scalars;
use tch::{Kind, Tensor};

/// An enumerated variable: the `enumerate_id` the `enumerate` handler gave its site.
pub type VarId = usize;

/// A log-factor: its tensor, the plates it lies in and the enumerated variables it depends on.
#[derive(Debug)]
pub struct Factor {
    /// The log-factor tensor.
    pub log: Tensor,
    /// Names of the plates it lies in.
    pub ordinal: BTreeSet<String>,
    /// The enumerated variables it depends on, each with the dim it occupies in `log`.
    pub vars: BTreeMap<VarId, i64>,
}

impl Factor {
    fn depends_only_on(&self, pinned: &BTreeSet<VarId>) -> bool {
        self.vars.keys().all(|v| pinned.contains(v))
    }
}

/// Where each plate and enumerated variable lives.
#[derive(Debug, Default)]
pub struct Layout {
    /// Plate name → (dim, subsample size).
    pub plates: Vec<(String, i64, i64)>,
    /// Enumerated variable → (site name, the plates of its site).
    pub vars: Vec<(VarId, String, BTreeSet<String>)>,
}

impl Layout {
    fn plate(&self, name: &str) -> (i64, i64) {
        // Cannot fail: the layout lists every plate of the trace its factors come from.
        self.plates.iter().find(|p| p.0 == name).map(|p| (p.1, p.2)).expect("unknown plate")
    }
    fn var_ordinal(&self, var: VarId) -> &BTreeSet<String> {
        // Cannot fail: the layout lists every enumerated variable its factors depend on.
        &self.vars.iter().find(|v| v.0 == var).expect("unknown enumerated variable").2
    }
    fn var_name(&self, var: VarId) -> String {
        self.vars.iter().find(|v| v.0 == var).map(|v| v.1.clone()).unwrap_or_default()
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
    /// The variable.
    pub var: VarId,
    /// Its log-table, before reduction.
    pub table: Tensor,
    /// The variables of the table and their dims (the eliminated one included).
    pub vars: BTreeMap<VarId, i64>,
}

/// The enumerated dims (size > 1) of a tensor, given the first enumeration dim.
pub fn enum_dims(t: &Tensor, first_enum_dim: i64) -> BTreeSet<i64> {
    let size = t.size();
    let rank = size.len() as i64;
    (-rank..=first_enum_dim).filter(|d| size[(rank + d) as usize] > 1).collect()
}

/// A site's log-density term as a factor: its enumerated dims named by the variables that held
/// them when the site ran.
///
/// # Errors
/// [`PyriteError::Enumerate`] when the term varies along a dim that no enumerated variable held
/// (a batch dim left of the plates: `max_plate_nesting` too small).
pub fn site_factor(site: &Site, log: Tensor, first_enum_dim: i64) -> Result<Factor> {
    let mut vars = BTreeMap::new();
    for d in enum_dims(&log, first_enum_dim) {
        let held = site.infer.enum_scope.as_ref().and_then(|s| s.iter().find(|(sd, _)| *sd == d).map(|(_, id)| *id));
        let Some(id) = held else {
            return Err(PyriteError::Enumerate {
                site: site.name.clone(),
                problem: format!("depends on dim {d}, which no enumerated site owns; raise max_plate_nesting"),
            });
        };
        vars.insert(id, d);
    }
    Ok(Factor { log, ordinal: site.plates.iter().map(|f| f.name.to_string()).collect(), vars })
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
    Ok(sum_scalars(residual.into_iter().map(|f| sum_all(f.log, &f.ordinal, layout)).collect()))
}

/// The total of a factor over its plates (a product, in log space) and every other dim, in one
/// operation: a plate along which the factor is constant (its dim missing or of size 1) counts
/// by multiplication.
pub fn sum_all(t: Tensor, ordinal: &BTreeSet<String>, layout: &Layout) -> Tensor {
    let size = t.size();
    let rank = size.len() as i64;
    let constant_over: f64 =
        ordinal.iter().map(|p| layout.plate(p)).filter(|&(dim, _)| rank < -dim || size[(rank + dim) as usize] == 1).map(|(_, n)| n as f64).product();
    let total = if rank == 0 { t } else { t.sum(t.kind()) };
    if constant_over == 1.0 {
        total
    } else {
        total * constant_over
    }
}

/// Eliminates every variable except the `pinned` ones (a guide's enumerated variables, which
/// the ELBO averages over instead), deepest plates first. Returns the residual factors: each
/// depends on pinned variables only, and keeps the plates those live in (with no pinned
/// variables, every residual factor is a number per plate element, for [`sum_all`]).
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
    pinned: &BTreeSet<VarId>,
) -> Result<Vec<Factor>> {
    let mut done = Vec::new();
    loop {
        let (finished, todo): (Vec<Factor>, Vec<Factor>) = factors.into_iter().partition(|f| f.depends_only_on(pinned));
        done.extend(finished);
        factors = todo;
        let Some(depth) = factors.iter().map(|f| f.ordinal.len()).max() else {
            return Ok(done);
        };
        // Cannot fail: `depth` is the maximum over these factors, so one has it.
        let ordinal = factors.iter().find(|f| f.ordinal.len() == depth).unwrap().ordinal.clone();
        let (here, rest): (Vec<Factor>, Vec<Factor>) = factors.into_iter().partition(|f| f.ordinal == ordinal);
        factors = rest;
        let local: BTreeSet<VarId> =
            here.iter().flat_map(|f| f.vars.keys().copied()).filter(|v| !pinned.contains(v) && *layout.var_ordinal(*v) == ordinal).collect();
        // Connected components over local variables.
        let mut comps: Vec<(Vec<Factor>, BTreeSet<VarId>)> = Vec::new();
        for f in here {
            let lv: BTreeSet<VarId> = f.vars.keys().filter(|v| local.contains(v)).copied().collect();
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
            let (mut t, vars) = eliminate_component(fs, &lv, reduce, &mut keep);
            // The parent ordinal: the plates the remaining variables live in.
            let parent: BTreeSet<String> = vars.keys().flat_map(|v| layout.var_ordinal(*v).iter().cloned()).filter(|p| ordinal.contains(p)).collect();
            if parent == ordinal && lv.is_empty() {
                if let Some(v) = vars.keys().find(|v| !pinned.contains(v)) {
                    return Err(PyriteError::Enumerate {
                        site: layout.var_name(*v),
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
            factors.push(Factor { log: t, ordinal: parent, vars });
        }
    }
}

/// Sums (or maximises) the local variables `lv` out of one connected set of factors, one
/// variable at a time: each step combines only the factors that hold the variable, and takes
/// the variable whose combined table is smallest, so a chain of `T` variables with `K` values
/// costs `T` tables of `K^2` entries rather than one of `K^T`. Returns the sum of what is left,
/// a log-factor over the component's other (non-local) variables, with their dims.
fn eliminate_component(fs: Vec<Factor>, lv: &BTreeSet<VarId>, reduce: Reduce, keep: &mut Option<&mut Vec<Eliminated>>) -> (Tensor, BTreeMap<VarId, i64>) {
    let mut sizes: BTreeMap<VarId, i128> = BTreeMap::new();
    for f in &fs {
        let s = f.log.size();
        for (&v, &d) in &f.vars {
            sizes.insert(v, s[(s.len() as i64 + d) as usize] as i128);
        }
    }
    let mut pool: Vec<(Tensor, BTreeMap<VarId, i64>)> = fs.into_iter().map(|f| (f.log, f.vars)).collect();
    let mut todo: Vec<VarId> = lv.iter().copied().collect();
    while !todo.is_empty() {
        // The variable whose elimination builds the smallest table.
        let table_size = |v: VarId| -> i128 {
            let vars: BTreeSet<VarId> = pool.iter().filter(|(_, vs)| vs.contains_key(&v)).flat_map(|(_, vs)| vs.keys().copied()).collect();
            vars.iter().map(|w| sizes[w]).product()
        };
        // Cannot fail: the loop runs while `todo` is not empty.
        let pick = (0..todo.len()).min_by_key(|&i| table_size(todo[i])).expect("a variable is left");
        let v = todo.remove(pick);
        let (with, without): (Vec<_>, Vec<_>) = pool.into_iter().partition(|(_, vs)| vs.contains_key(&v));
        let (tensors, mut vars) = align(with);
        // Cannot fail: `v` comes from a factor of the pool (local variables are those factors hold).
        let t = tensors.into_iter().reduce(|a, b| a + b).expect("a factor holds the variable");
        if let Some(k) = keep.as_deref_mut() {
            k.push(Eliminated { var: v, table: t.shallow_clone(), vars: vars.clone() });
        }
        // Cannot fail: `align` gave every variable of the factors holding `v` a dim, `v`'s too.
        let dim = vars.remove(&v).expect("the variable's dim");
        let t = match reduce {
            Reduce::Sum => t.logsumexp([dim].as_slice(), true),
            Reduce::Max => t.amax([dim].as_slice(), true),
        };
        pool = without;
        pool.push((t, vars));
    }
    let (tensors, vars) = align(pool);
    // Cannot fail: a connected component is built around at least one factor.
    (tensors.into_iter().reduce(|a, b| a + b).expect("a component has a factor"), vars)
}

/// Puts the factors' variables on common dims: each variable keeps the dim it has in the first
/// factor that holds it unless another variable took that dim already (two variables `markov`
/// gave the same dim), in which case it moves to a free dim further left. Returns the factors'
/// tensors, permuted where needed, and the common dims.
pub fn align(parts: Vec<(Tensor, BTreeMap<VarId, i64>)>) -> (Vec<Tensor>, BTreeMap<VarId, i64>) {
    let mut target: BTreeMap<VarId, i64> = BTreeMap::new();
    let mut used: BTreeSet<i64> = BTreeSet::new();
    let mut fresh = parts.iter().flat_map(|(_, m)| m.values().copied()).min().unwrap_or(0) - 1;
    for (_, m) in &parts {
        for (&v, &d) in m {
            if target.contains_key(&v) {
                continue;
            }
            if used.insert(d) {
                target.insert(v, d);
            } else {
                target.insert(v, fresh);
                used.insert(fresh);
                fresh -= 1;
            }
        }
    }
    let tensors = parts.into_iter().map(|(t, m)| if m.iter().all(|(v, d)| target[v] == *d) { t } else { move_dims(t, &m, &target) }).collect();
    (tensors, target)
}

/// Permutes `t` so that each variable moves from its dim in `from` to its dim in `to` (size-1
/// dims fill the places left; the plate dims on the right stay where they are).
fn move_dims(t: Tensor, from: &BTreeMap<VarId, i64>, to: &BTreeMap<VarId, i64>) -> Tensor {
    let lowest = from.keys().map(|v| to[v]).min().unwrap_or(-1);
    let r = t.dim().max((-lowest) as usize);
    let t = expand_left(&t, r);
    let mut perm: Vec<Option<i64>> = vec![None; r];
    let mut taken = vec![false; r];
    for (v, &d) in from {
        let (out, inp) = ((r as i64 + to[v]) as usize, (r as i64 + d) as usize);
        perm[out] = Some(inp as i64);
        taken[inp] = true;
    }
    let mut free = (0..r).filter(|i| !taken[*i]);
    // Cannot fail: `r` places, of which the moved variables take as many as they free.
    let perm: Vec<i64> = perm.into_iter().map(|p| p.unwrap_or_else(|| free.next().expect("a free dim") as i64)).collect();
    t.permute(perm.as_slice())
}

/// Samples (temperature 1) or maximises (temperature 0) each eliminated variable given those
/// eliminated after it, walking the tables backwards. Returns each variable's index tensor, of
/// the plates' shape (`plate_nesting` rightmost dims).
pub fn backtrack(tables: &[Eliminated], temperature: f64, plate_nesting: usize) -> Vec<(VarId, Tensor)> {
    let mut chosen: Vec<(VarId, Tensor)> = Vec::new();
    for e in tables.iter().rev() {
        let mut t = e.table.shallow_clone();
        for (w, idx) in &chosen {
            let Some(&d) = e.vars.get(w) else { continue };
            let r = t.dim();
            let at = (r as i64 + d) as usize;
            if t.size()[at] > 1 {
                // The index varies over the plates only: broadcast it against the table.
                let ii = expand_left(idx, r);
                let (ts, is) = (t.size(), ii.size());
                let mut shape: Vec<i64> = ts.iter().zip(&is).map(|(a, b)| *a.max(b)).collect();
                shape[at] = ts[at];
                let mut idx_shape = shape.clone();
                idx_shape[at] = 1;
                t = t.expand(shape.as_slice(), false).gather(d, &ii.expand(idx_shape.as_slice(), false), false);
            }
        }
        let dim = e.vars[&e.var];
        let pick = if temperature == 0.0 {
            t.argmax(dim, true)
        } else {
            let u = t.rand_like().clamp(1e-12, 1.0 - 1e-12);
            let gumbel = -(-u.log()).log();
            (t / temperature + gumbel).argmax(dim, true)
        };
        // Keep the plate dims only: every enumeration dim of the pick has size 1.
        let s = pick.size();
        let plates = &s[s.len() - s.len().min(plate_nesting)..];
        chosen.push((e.var, pick.to_kind(Kind::Int64).reshape(plates)));
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
pub fn model_factors(tr: &Trace, first_enum_dim: i64, pinned: &BTreeSet<VarId>) -> Result<ModelFactors> {
    let mut layout = Layout::default();
    for s in tr.nodes.values() {
        for f in &s.plates {
            if !layout.plates.iter().any(|p| p.0 == *f.name) {
                layout.plates.push((f.name.to_string(), f.dim, f.subsample_size));
            }
        }
        if let Some(id) = s.infer.enumerate_id {
            layout.vars.push((id, s.name.clone(), s.plates.iter().map(|f| f.name.to_string()).collect()));
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
        let f = site_factor(s, s.log_prob()?, first_enum_dim)?;
        if f.depends_only_on(pinned) {
            other.push(Factor { log: s.scaled_log_prob()?, ..f });
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
        factors.push(f);
    }
    Ok(ModelFactors { factors, scale: scale.map(|s| s.0).unwrap_or(1.0), other, layout })
}
