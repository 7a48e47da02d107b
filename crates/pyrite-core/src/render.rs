//! `render_model`: a Graphviz picture of a model.

use std::fmt::Write as _;
use std::path::Path;

use tch::Tensor;

use crate::error::{PyriteError, Result};
use crate::handlers::{substitute, trace, SiteValues};
use crate::message::SiteKind;
use crate::trace::Trace;

/// What `render_model` draws besides sites, plates and edges.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Label each site with its distribution's family.
    pub render_distributions: bool,
    /// Draw params as boxes with edges to the sites they feed.
    pub render_params: bool,
}

/// Which earlier sites (latent samples and params) the log-density of each sample site depends
/// on, found by autograd: the model is re-run with each continuous latent value and each param as
/// a fresh leaf, and an edge `a -> b` is drawn when `b`'s log-density has a gradient path to `a`.
/// Dependencies through discrete values (used as indices) are not visible to autograd and are
/// not drawn.
fn dependencies(model: &dyn Fn() -> Result<()>, tr: &Trace) -> Result<Vec<(String, String)>> {
    let mut leaves = SiteValues::new();
    for s in tr.nodes.values() {
        let continuous = s.value.is_floating_point();
        if continuous && ((s.kind == SiteKind::Sample && !s.is_observed && !s.infer.deterministic) || s.kind == SiteKind::Param) {
            leaves.insert(s.name.clone(), s.value.detach().copy().set_requires_grad(true));
        }
    }
    let (out, tr2) = trace(|| substitute(leaves.iter().map(|(k, v)| (k.clone(), v.shallow_clone())).collect(), model));
    out?;
    let mut edges = Vec::new();
    let names: Vec<&String> = leaves.keys().collect();
    let inputs: Vec<&Tensor> = leaves.values().collect();
    for s in tr2.sample_sites() {
        let lp = s.log_prob()?.sum(tch::Kind::Double);
        if !lp.requires_grad() {
            continue;
        }
        let grads = Tensor::run_backward(&[&lp], &inputs, true, false);
        for ((name, g), _) in names.iter().zip(grads.iter()).zip(inputs.iter()) {
            if g.defined() && **name != s.name {
                edges.push(((*name).clone(), s.name.clone()));
            }
        }
    }
    Ok(edges)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// Renders `model` as a Graphviz DOT graph, like `pyro.render_model`: sample sites as ellipses
/// (observed ones filled grey), plates as clusters labelled with their size, dependency edges,
/// and optionally distributions and params. Writes `path` (`.dot`) and, when Graphviz's `dot`
/// is installed, an `.svg` beside it. Returns the DOT text.
pub fn render_model(model: &dyn Fn() -> Result<()>, options: RenderOptions, path: Option<&Path>) -> Result<String> {
    let (out, tr) = trace(model);
    out?;
    let edges = dependencies(model, &tr)?;
    let mut dot = String::from("digraph {\n");
    // Group sites by their plate stacks (outermost first).
    let mut clusters: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut sizes: Vec<(String, i64)> = Vec::new();
    for s in tr.nodes.values() {
        if s.kind == SiteKind::Subsample || (s.kind == SiteKind::Param && !options.render_params) {
            continue;
        }
        let stack: Vec<String> = s.plates.iter().rev().map(|f| f.name.to_string()).collect();
        for f in &s.plates {
            if !sizes.iter().any(|(n, _)| n.as_str() == &*f.name) {
                sizes.push((f.name.to_string(), f.size));
            }
        }
        match clusters.iter_mut().find(|(k, _)| *k == stack) {
            Some((_, v)) => v.push(s.name.clone()),
            None => clusters.push((stack, vec![s.name.clone()])),
        }
    }
    let node = |name: &str| -> String {
        // Cannot fail: `name` is one of the trace's own sites (from `tr.nodes` above).
        let s = tr.site(name).unwrap();
        let mut label = name.to_string();
        if options.render_distributions {
            if let Some(d) = s.dist.as_ref() {
                if !s.infer.deterministic {
                    label = format!("{name}\n{}", d.name());
                }
            }
        }
        let shape = if s.kind == SiteKind::Param { "box" } else { "ellipse" };
        let fill = if s.is_observed && !s.infer.deterministic { " fillcolor=gray style=filled" } else { "" };
        format!("{} [label={} shape={shape}{fill}]", quote(name), quote(&label))
    };
    // Nested clusters: emit each plate stack as nested subgraphs.
    for (stack, members) in &clusters {
        let mut indent = String::from("\t");
        for p in stack {
            let size = sizes.iter().find(|(n, _)| n == p).map(|x| x.1).unwrap_or(0);
            let _ = writeln!(dot, "{indent}subgraph {} {{", quote(&format!("cluster_{p}")));
            let _ = writeln!(dot, "{indent}\tlabel={} labeljust=r labelloc=b", quote(&format!("{p}\n{size}")));
            indent.push('\t');
        }
        for m in members {
            let _ = writeln!(dot, "{indent}{}", node(m));
        }
        for _ in stack {
            indent.pop();
            let _ = writeln!(dot, "{indent}}}");
        }
    }
    for (a, b) in &edges {
        if tr.site(a).map(|s| s.kind == SiteKind::Param).unwrap_or(false) && !options.render_params {
            continue;
        }
        let _ = writeln!(dot, "\t{} -> {}", quote(a), quote(b));
    }
    dot.push_str("}\n");
    if let Some(path) = path {
        std::fs::write(path, &dot).map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })?;
        let svg = path.with_extension("svg");
        let _ = std::process::Command::new("dot").arg("-Tsvg").arg(path).arg("-o").arg(&svg).output();
    }
    Ok(dot)
}
