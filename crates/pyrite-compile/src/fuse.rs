//! Fusion: runs of consecutive elementwise operations of one shape become one loop, whose
//! intermediate values live in registers. Only the values something outside the run reads are
//! stored; the backward pass recomputes a run's values in its own single loop and keeps the
//! adjoints of values nobody else reads in registers too. For large data that turns a pass over
//! memory per operation into one pass per run.

use crate::lower::{Node, Op, Program};

/// The fused runs of a program and what must be stored.
pub(crate) struct Plan {
    /// The run each value belongs to, if any.
    pub group: Vec<Option<usize>>,
    /// Each run's first value and one past its last.
    pub groups: Vec<(usize, usize)>,
    /// Whether a value is written to the workspace (every value outside runs; in a run, those
    /// read outside it and the program's output).
    pub stored: Vec<bool>,
    /// Sums over all elements of a run's value, computed in the run's loop: the run of each.
    pub absorbed: Vec<Option<usize>>,
    /// Values within a run's span that read none of its members: computed before the run's
    /// loop (the run of each).
    pub hoisted: Vec<Option<usize>>,
}

/// The values an operation reads.
pub(crate) fn operands(op: &Op) -> Vec<usize> {
    match op {
        Op::Input(_) | Op::Noise(_) | Op::Const(_) | Op::Fill(_) => vec![],
        Op::Unary(_, x)
        | Op::Expand(x)
        | Op::Reshape(x)
        | Op::Detach(x)
        | Op::Sum(x, _)
        | Op::LogSumExp(x, _)
        | Op::Slice(x, ..)
        | Op::Select(x, ..)
        | Op::Triangle(x, ..)
        | Op::Diagonal(x)
        | Op::Transpose(x)
        | Op::Cholesky(x, _)
        | Op::Cumulative(x, ..) => vec![*x],
        Op::Binary(_, x, y) | Op::MatMul(x, y, ..) | Op::SolveTriangular(x, y, ..) => vec![*x, *y],
        Op::MaskedFill(x, m, _) => vec![*x, *m],
        Op::IndexSelect(x, _, i) | Op::Gather(x, _, i) => vec![*x, *i],
        Op::Addcmul(_, s, a, b) | Op::Where(s, a, b) => vec![*s, *a, *b],
        Op::Cat(parts, _) => parts.clone(),
    }
}

/// Whether an operation computes element `i` from elements of its operands alone, so that it
/// can run inside a fused loop.
fn elementwise(n: &Node) -> bool {
    matches!(
        n.op,
        Op::Unary(..) | Op::Binary(..) | Op::Addcmul(..) | Op::Where(..) | Op::MaskedFill(..) | Op::Expand(_) | Op::Reshape(_) | Op::Detach(_) | Op::Fill(_)
    ) || matches!(n.op, Op::IndexSelect(..)) && n.shape.len() == 1
}

/// The most members a run may have. A run's loop body is one basic block holding every member
/// (and, in the backward pass, every member's adjoint): the C compiler's time grows faster than
/// linearly in it. A long chain of one-element operations (an ODE of one or two states solved
/// in a few hundred fixed steps) made runs of thousands of members, one statement of 1.5 MB,
/// and six minutes of `cc` at any optimisation level; runs this long already keep every
/// intermediate in registers, so splitting them costs a store and a load per boundary.
pub(crate) const MAX_RUN_MEMBERS: usize = 256;

/// Groups maximal runs (two or more members, at most [`MAX_RUN_MEMBERS`]) of consecutive
/// elementwise values of one shape; constants between them do not break a run.
pub(crate) fn plan(p: &Program) -> Plan {
    let count = p.nodes.len();
    let mut group = vec![None; count];
    let mut hoisted = vec![None; count];
    let mut groups = Vec::new();
    let mut v = 0;
    while v < count {
        let n = &p.nodes[v];
        if !elementwise(n) {
            v += 1;
            continue;
        }
        let start = v;
        let mut end = v + 1;
        let mut last = v;
        let mut inside = vec![start];
        // What the run's loop computes: its members and the sums absorbed into it.
        let mut computed = vec![start];
        let mut passed = Vec::new();
        while end < count && inside.len() < MAX_RUN_MEMBERS {
            let m = &p.nodes[end];
            let reads_run = operands(&m.op).iter().any(|x| computed.contains(x));
            // A sum of all of a member's elements is computed in the run's loop.
            if let Op::Sum(x, dims) = &m.op {
                if inside.contains(x) && dims.len() == p.nodes[*x].shape.len() && m.numel() == 1 {
                    computed.push(end);
                    end += 1;
                    continue;
                }
            }
            // A gather reads its operands from memory: not from values of its own run; and no
            // member may read a sum the loop is still accumulating.
            let reads_sum = operands(&m.op).iter().any(|x| computed.contains(x) && !inside.contains(x));
            let member = elementwise(m) && m.shape == n.shape && !reads_sum && !(matches!(m.op, Op::IndexSelect(..)) && reads_run);
            if member {
                inside.push(end);
                computed.push(end);
                last = end;
            } else if !reads_run {
                // A larger elementwise value ends the run: computed before the loop it could
                // not be fused with others of its shape.
                if elementwise(m) && m.numel() > n.numel() {
                    break;
                }
                // Independent of the run: computed before its loop.
                passed.push(end);
            } else {
                break;
            }
            end += 1;
        }
        let end = last + 1;
        if inside.len() >= 2 {
            for &x in &inside {
                group[x] = Some(groups.len());
            }
            for &x in passed.iter().filter(|&&x| x < end) {
                hoisted[x] = Some(groups.len());
            }
            groups.push((start, end));
        }
        v = end;
    }
    // Sums of all of a member's elements are computed in its run's loop.
    let mut absorbed = vec![None; count];
    for (v, n) in p.nodes.iter().enumerate() {
        if let Op::Sum(x, dims) = &n.op {
            // (A sum hoisted before another run's loop is computed there, from the stored value.)
            if group[*x].is_some() && hoisted[v].is_none() && dims.len() == p.nodes[*x].shape.len() && n.numel() == 1 {
                absorbed[v] = group[*x];
            }
        }
    }
    let mut stored: Vec<bool> = group.iter().map(Option::is_none).collect();
    stored[p.output] = true;
    for (c, n) in p.nodes.iter().enumerate() {
        for x in operands(&n.op) {
            if group[x].is_some() && group[x] != group[c] && absorbed[c].is_none() {
                stored[x] = true;
            }
        }
    }
    Plan { group, groups, stored, absorbed, hoisted }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::Unary;

    /// A chain of `len` one-element exponentials of one input.
    fn chain(len: usize) -> Program {
        let mut nodes = vec![Node { op: Op::Input(0), shape: vec![1] }];
        for v in 0..len {
            nodes.push(Node { op: Op::Unary(Unary::Exp, v), shape: vec![1] });
        }
        Program { output: len, nodes, input_len: 1, consts: vec![], const_storage: vec![], noise: vec![], data: vec![] }
    }

    #[test]
    fn a_long_chain_is_split_into_runs_of_at_most_the_cap() {
        let m = MAX_RUN_MEMBERS;
        let len = 3 * m + 10;
        let plan = plan(&chain(len));
        assert_eq!(plan.groups, [(1, m + 1), (m + 1, 2 * m + 1), (2 * m + 1, 3 * m + 1), (3 * m + 1, len + 1)]);
        // Every member of the chain is in a run; each run's last value is read by the next run.
        assert!((1..=len).all(|v| plan.group[v].is_some()));
        assert_eq!((1..=len).filter(|&v| plan.stored[v]).collect::<Vec<_>>(), [m, 2 * m, 3 * m, len]);
    }

    #[test]
    fn a_short_chain_is_one_run() {
        let plan = plan(&chain(10));
        assert_eq!(plan.groups, [(1, 11)]);
        assert_eq!((1..=10).filter(|&v| plan.stored[v]).collect::<Vec<_>>(), [10]);
    }
}
