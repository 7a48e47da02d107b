//! Values that keep no elements of their own: a selection, a slice or a reshape of a contiguous
//! block of another value is read where that value is, and the parts of a join (`aten::cat`,
//! `aten::stack`) are computed straight into their places in the joined value. Their adjoints
//! live in the same places. A model written one element at a time (an ODE's right-hand side
//! reading `y[0]` and `y[1]` and stacking two derivatives, a few hundred times over) otherwise
//! spends half its kernel copying single elements from one place to another and back in the
//! backward pass.
//!
//! Element `i` of a view `v` is element `base + i` of its `target`; the emitter resolves chains
//! of views (a selection of a part of a join) one link at a time. A chain always ends: a view of
//! an operand points to an earlier value and a placed part to a later join, and a join is never
//! a selection, so after the first step to a join a chain only climbs.
//!
//! Not views: values that operations read or write by raw workspace offset (the operands and
//! results of matrix products, triangular solves, Cholesky factors, running sums), a part that
//! is joined twice, a part that is itself a view, and inputs, noise and constants as parts (they
//! are where the caller put them).

use crate::fuse::Plan;
use crate::lower::{Op, Program};

/// Where a value's elements and its adjoint's live: element `i` at element `base + i` of
/// `target`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct View {
    pub target: usize,
    pub base: i64,
}

/// The values that operations index by raw workspace offset rather than through the emitter's
/// element expressions.
fn by_offset(p: &Program) -> Vec<bool> {
    let mut raw = vec![false; p.nodes.len()];
    for (v, n) in p.nodes.iter().enumerate() {
        let operands: Vec<usize> = match &n.op {
            Op::MatMul(a, b, ..) | Op::SolveTriangular(a, b, ..) => vec![*a, *b],
            Op::Cholesky(a, _) | Op::Cumulative(a, ..) => vec![*a],
            _ => continue,
        };
        raw[v] = true;
        for x in operands {
            raw[x] = true;
        }
    }
    raw
}

/// The elements before `dim` of a shape, multiplied: 1 when a block along `dim` is contiguous.
fn outer(shape: &[i64], dim: usize) -> i64 {
    shape[..dim].iter().product()
}

/// The elements after `dim` of a shape, multiplied.
fn inner(shape: &[i64], dim: usize) -> i64 {
    shape[dim + 1..].iter().product()
}

/// Each value's view, if it is one (see the module's documentation). Values in fused runs are
/// never read as views (their loops compute them), only placed as parts of a join; parts are
/// placed in joins that are `live` only (a join the output does not use has no adjoint).
pub(crate) fn views(p: &Program, plan: &Plan, live: &[bool]) -> Vec<Option<View>> {
    let raw = by_offset(p);
    let mut views: Vec<Option<View>> = p
        .nodes
        .iter()
        .enumerate()
        .map(|(v, n)| {
            if raw[v] || plan.group[v].is_some() {
                return None;
            }
            let view = |target: usize, base: i64| Some(View { target, base });
            match n.op {
                Op::Reshape(x) => view(x, 0),
                Op::Select(x, dim, index) if outer(&p.nodes[x].shape, dim) == 1 => view(x, index * inner(&p.nodes[x].shape, dim)),
                Op::Slice(x, dim, start, 1) if outer(&p.nodes[x].shape, dim) == 1 => view(x, start * inner(&p.nodes[x].shape, dim)),
                _ => None,
            }
        })
        .collect();
    let mut joined = vec![0usize; p.nodes.len()];
    for n in &p.nodes {
        if let Op::Cat(parts, _) = &n.op {
            for &x in parts {
                joined[x] += 1;
            }
        }
    }
    for (v, n) in p.nodes.iter().enumerate() {
        let Op::Cat(parts, dim) = &n.op else { continue };
        if !live[v] || outer(&n.shape, *dim) != 1 {
            continue;
        }
        let step = inner(&n.shape, *dim);
        let mut at = 0;
        for &x in parts {
            let placeable = !matches!(p.nodes[x].op, Op::Input(_) | Op::Noise(_) | Op::Const(_));
            if placeable && !raw[x] && joined[x] == 1 && views[x].is_none() {
                views[x] = Some(View { target: v, base: at * step });
            }
            at += p.nodes[x].shape[*dim];
        }
    }
    views
}

/// Whether `v` is read where another value is (a selection, slice or reshape view: no
/// statement of its own, forward or backward).
pub(crate) fn reads_elsewhere(views: &[Option<View>], v: usize) -> bool {
    views[v].is_some_and(|view| view.target < v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuse::plan;
    use crate::lower::{Node, Unary};

    fn program(nodes: &[(Op, &[i64])]) -> Program {
        let nodes: Vec<Node> = nodes.iter().map(|(op, shape)| Node { op: op.clone(), shape: shape.to_vec() }).collect();
        Program { output: nodes.len() - 1, nodes, input_len: 6, consts: vec![], const_storage: vec![], noise: vec![], data: vec![] }
    }

    #[test]
    fn contiguous_selections_are_views_and_strided_ones_are_not() {
        let p = program(&[
            (Op::Input(0), &[2, 3]),
            (Op::Select(0, 0, 1), &[3]),
            (Op::Select(0, 1, 2), &[2]),
            (Op::Slice(0, 0, 1, 1), &[1, 3]),
            (Op::Reshape(1), &[3, 1]),
            (Op::Slice(0, 1, 0, 2), &[2, 2]),
            (Op::Sum(4, vec![0, 1]), &[]),
        ]);
        let v = views(&p, &plan(&p), &[true; 11]);
        assert_eq!(v[1], Some(View { target: 0, base: 3 }));
        assert_eq!(v[2], None, "column 2 of a 2 x 3 matrix is strided");
        assert_eq!(v[3], Some(View { target: 0, base: 3 }));
        assert_eq!(v[4], Some(View { target: 1, base: 0 }));
        assert_eq!(v[5], None, "every other column");
        assert!(reads_elsewhere(&v, 4) && !reads_elsewhere(&v, 5));
    }

    #[test]
    fn parts_of_a_join_are_placed_unless_joined_twice_read_by_offset_or_given() {
        let p = program(&[
            (Op::Input(0), &[1]),
            (Op::Unary(Unary::Exp, 0), &[1]),
            (Op::Unary(Unary::Log, 0), &[1]),
            (Op::Cat(vec![1, 2, 0], 0), &[3]),
            (Op::Unary(Unary::Exp, 0), &[1]),
            (Op::Cat(vec![4, 4], 0), &[2]),
            (Op::Cat(vec![3, 5], 0), &[5]),
            (Op::Unary(Unary::Exp, 0), &[1]),
            (Op::Cumulative(7, 0, false), &[1]),
            (Op::Cat(vec![7, 8], 0), &[2]),
            (Op::Sum(6, vec![0]), &[]),
        ]);
        let v = views(&p, &plan(&p), &[true; 11]);
        assert_eq!(v[1], Some(View { target: 3, base: 0 }));
        assert_eq!(v[2], Some(View { target: 3, base: 1 }));
        assert_eq!(v[0], None, "an input stays where the caller put it");
        assert_eq!(v[4], None, "twice in one join");
        assert_eq!(v[3], Some(View { target: 6, base: 0 }), "a join placed in a join");
        assert_eq!(v[5], Some(View { target: 6, base: 3 }));
        assert_eq!((v[7], v[8]), (None, None), "a running sum reads and writes by offset");
        assert!(!reads_elsewhere(&v, 1), "a placed part is computed");
    }
}
