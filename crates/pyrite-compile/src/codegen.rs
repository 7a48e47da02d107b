//! Code generation: a [`Program`] becomes one C function that computes the output and, by
//! reverse-mode differentiation written out statement by statement, its gradient with respect
//! to the flat input vector:
//!
//! ```c
//! double pyrite_kernel(const real *z, const real *noise, const void *const *consts, real *grad, real *w);
//! ```
//!
//! `w` is a workspace of [`workspace_len`] `real`s: each value's elements, then each
//! differentiable value's adjoint. `real` is the [`Precision`] values are stored in (`double`,
//! or `float` for a float32 SVI step, which halves the bytes moved); arithmetic and sums are in
//! double precision either way.

use std::fmt::Write;

use crate::fuse::{operands, plan, Plan};
use crate::lower::{Binary, Cmp, Node, Op, Program, Storage, Unary};
use crate::views::{reads_elsewhere, views, View};

/// The type the kernel's vectors and workspace hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F64,
    F32,
}

impl Precision {
    /// The C type.
    fn c_type(self) -> &'static str {
        match self {
            Precision::F64 => "double",
            Precision::F32 => "float",
        }
    }
}

/// Where each value and adjoint lives in the workspace.
struct Layout {
    value: Vec<usize>,
    /// For each fused run computed in one pass (see [`one_pass_runs`]), where each value outside
    /// it that receives adjoints from it keeps them until the run's seed is known.
    deferred: Vec<Vec<(usize, usize)>>,
    /// Scratch space for the sums of exponentials (doubles) of a log-sum-exp whose result has
    /// more than [`STACK_SUMS`] elements, room for the largest such result.
    scratch: usize,
    /// Where the adjoints start (everything from here on is zeroed before the backward pass).
    adjoints_start: usize,
    /// The adjoint's offset, for values the output depends on differentiably.
    adjoint: Vec<Option<usize>>,
    len: usize,
}

/// A fused run's backward statements for element `i` (see `Emitter::fused_adjoints`).
struct FusedAdjoints {
    body: String,
    /// The one-element values outside the run whose adjoints add up in registers `b<x>`.
    scalar_adjoints: Vec<usize>,
    /// Whether an element adds into an adjoint at another offset than `i` (a broadcast
    /// operand's, a gather's source's), so that two passes of the loop may add into one place.
    scatters: bool,
}

/// The pragma before a fused loop whose passes are independent but for the sums in
/// `reductions` (kept in registers): it lets the C compiler vectorise the loop, the sums
/// included (in another order of additions than one by one), without testing at run time
/// whether the loop's stores overlap its loads. None where passes may add into one place.
fn simd_pragma(independent: bool, reductions: &[String]) -> String {
    match (independent, reductions.is_empty()) {
        (false, _) => String::new(),
        (true, true) => "_Pragma(\"omp simd\") ".into(),
        (true, false) => format!("_Pragma(\"omp simd reduction(+:{})\") ", reductions.join(",")),
    }
}

/// The most elements a log-sum-exp's result may have for its sums to be kept on the stack
/// (32 KiB of doubles); a larger one keeps them in the workspace.
const STACK_SUMS: usize = 4096;

/// A fused run whose backward pass runs inside its forward loop: its members' adjoints all come
/// from one sum of all of a member's elements computed in the loop (the seed), so the adjoints
/// it passes out are that sum's adjoint times what they are for a seed of 1. The loop computes
/// them for a seed of 1 into buffers (every target must be smaller than the loop, so the buffer
/// costs less than a second pass over the data); the backward pass scales and adds them.
struct OnePass {
    /// The sum whose adjoint seeds the run's backward pass.
    seed: usize,
    /// The values outside the run that receive adjoints from it.
    targets: Vec<usize>,
}

/// Which fused runs are computed in one pass (see [`OnePass`]), by run.
fn one_pass_runs(p: &Program, plan: &Plan, diff: &[bool]) -> Vec<Option<OnePass>> {
    plan.groups
        .iter()
        .enumerate()
        .map(|(g, &(start, end))| {
            let members: Vec<usize> = (start..end).filter(|&v| plan.group[v] == Some(g) && diff[v]).collect();
            // A member read differentiably outside the run gets adjoints from outside.
            if members.is_empty() || members.iter().any(|&v| plan.stored[v]) {
                return None;
            }
            let seeds: Vec<usize> = (0..p.nodes.len()).filter(|&s| plan.absorbed[s] == Some(g) && diff[s]).collect();
            let [seed] = seeds[..] else { return None };
            let numel = p.nodes[start].numel();
            let mut targets = Vec::new();
            for &v in &members {
                for x in operands(&p.nodes[v].op) {
                    if diff[x] && plan.group[x] != Some(g) && !targets.contains(&x) {
                        if p.nodes[x].numel() >= numel {
                            return None;
                        }
                        targets.push(x);
                    }
                }
            }
            Some(OnePass { seed, targets })
        })
        .collect()
}

/// Whether each value is used in computing the output (a transpose that a matrix product reads
/// through is not).
fn live(p: &Program) -> Vec<bool> {
    let mut live = vec![false; p.nodes.len()];
    live[p.output] = true;
    for v in (0..p.nodes.len()).rev() {
        if live[v] {
            for x in operands(&p.nodes[v].op) {
                live[x] = true;
            }
        }
    }
    live
}

/// Whether each value depends differentiably on the input (and is used).
fn differentiable(p: &Program) -> Vec<bool> {
    let mut d = vec![false; p.nodes.len()];
    for (i, n) in p.nodes.iter().enumerate() {
        d[i] = match &n.op {
            Op::Input(_) => true,
            Op::Noise(_) | Op::Const(_) | Op::Fill(_) | Op::Detach(_) => false,
            Op::Unary(u, x) => !matches!(u, Unary::NonZero | Unary::Trunc | Unary::LogicalNot | Unary::Compare(..)) && d[*x],
            Op::Binary(b, x, y) => !matches!(b, Binary::Compare(_) | Binary::And | Binary::Or) && (d[*x] || d[*y]),
            Op::Addcmul(_, s, a, b) => d[*s] || d[*a] || d[*b],
            Op::Where(_, a, b) => d[*a] || d[*b],
            Op::MaskedFill(x, _, _) | Op::Expand(x) | Op::Reshape(x) | Op::Sum(x, _) | Op::LogSumExp(x, _) | Op::IndexSelect(x, _, _) => d[*x],
            Op::Cat(parts, _) => parts.iter().any(|&p| d[p]),
            Op::Slice(x, ..) | Op::Select(x, ..) | Op::Triangle(x, ..) | Op::Diagonal(x) | Op::Cumulative(x, ..) | Op::Gather(x, ..) => d[*x],
            Op::Transpose(x) | Op::Cholesky(x, _) => d[*x],
            Op::MatMul(a, b, ..) | Op::SolveTriangular(a, b, ..) => d[*a] || d[*b],
        };
    }
    for (d, l) in d.iter_mut().zip(live(p)) {
        *d &= l;
    }
    d
}

/// Matrix products of at least this many multiply-adds call libtorch's (its BLAS) through the
/// kernel's `gemm` callback (see [`crate::gemm`]); smaller ones are loops.
const GEMM_MIN: i64 = 1 << 15;

/// The longest vector of a matrix-vector product whose backward pass accumulates on the stack.
const MATVEC_ACCUMULATORS: i64 = 4096;

/// Whether a `[rows, inner] x [inner, cols]` product calls libtorch's BLAS: large enough, and not
/// a matrix times a vector (a regression's `X beta`: a loop streams the matrix's rows where it
/// is, a constant design matrix never copied into the workspace).
fn uses_gemm(rows: i64, inner: i64, cols: i64) -> bool {
    rows * inner * cols >= GEMM_MIN && cols > 1
}

/// The offset of element `(q, c)` of a product's right operand `[inner, cols]`, held as its
/// `[cols, inner]` transpose when `transposed`.
fn right_index(transposed: bool, inner: i64, cols: i64) -> String {
    if transposed {
        format!("c * {inner} + q")
    } else {
        format!("q * {cols} + c")
    }
}

/// The offset in `x` of element `i` of its transpose of shape `shape` (last two dims swapped).
fn transpose_index(shape: &[i64]) -> String {
    let (p, q) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    format!("(i / {pq}) * {pq} + (i % {q}) * {p} + (i / {q}) % {p}", pq = p * q)
}

/// The values read by operations that index the workspace directly (matrix products, solves,
/// running sums and products): constants, inputs and noise are copied there; everything else
/// is read where it is.
fn in_workspace(p: &Program) -> Vec<bool> {
    let mut copied = vec![false; p.nodes.len()];
    for n in &p.nodes {
        let indexed = match n.op {
            Op::MatMul(_, _, rows, inner, cols, _) => uses_gemm(rows, inner, cols),
            Op::SolveTriangular(..) | Op::Cholesky(..) | Op::Cumulative(..) => true,
            _ => false,
        };
        if indexed {
            for x in operands(&n.op) {
                copied[x] = true;
            }
        }
    }
    copied
}

/// Whether `v`'s adjoint accumulates straight into the kernel's `grad` (an input read where
/// it is), not into the workspace.
fn adjoint_in_grad(p: &Program, copied: &[bool], v: usize) -> bool {
    matches!(p.nodes[v].op, Op::Input(_)) && !copied[v]
}

/// Where each value and adjoint lives: every value has a place (values kept in registers by a
/// fused run never touch theirs); adjoints only where `in_memory` says (the others live in
/// registers inside a fused run).
fn layout(p: &Program, diff: &[bool], in_memory: &[bool], one_pass: &[Option<OnePass>]) -> Layout {
    let mut len = 0;
    let value = p
        .nodes
        .iter()
        .map(|n| {
            let at = len;
            len += n.numel();
            at
        })
        .collect();
    let deferred = one_pass
        .iter()
        .map(|run| {
            run.iter()
                .flat_map(|r| &r.targets)
                .map(|&x| {
                    let at = len;
                    len += p.nodes[x].numel();
                    (x, at)
                })
                .collect()
        })
        .collect();
    let scratch = len;
    // Room for doubles in a workspace of floats, and for an odd start.
    len += p.nodes.iter().filter(|n| matches!(n.op, Op::LogSumExp(..))).map(Node::numel).filter(|&n| n > STACK_SUMS).max().map_or(0, |n| 2 * n + 1);
    let adjoints_start = len;
    let copied = in_workspace(p);
    let adjoint = p
        .nodes
        .iter()
        .enumerate()
        .zip(diff)
        .zip(in_memory)
        .map(|(((v, n), &d), &m)| {
            (d && m && !adjoint_in_grad(p, &copied, v)).then(|| {
                let at = len;
                len += n.numel();
                at
            })
        })
        .collect();
    Layout { value, deferred, scratch, adjoints_start, adjoint, len }
}

/// Which values keep their adjoint in the workspace: all but those of fused runs that nothing
/// outside their run reads.
fn adjoints_in_memory(plan: &Plan) -> Vec<bool> {
    plan.group.iter().zip(&plan.stored).map(|(g, &s)| g.is_none() || s).collect()
}

/// The workspace a program's kernel needs, in doubles.
pub fn workspace_len(p: &Program) -> usize {
    let (plan, diff) = (plan(p), differentiable(p));
    let one_pass = one_pass_runs(p, &plan, &diff);
    layout(p, &diff, &adjoints_in_memory(&plan), &one_pass).len
}

/// A C literal for `x`.
fn lit(x: f64) -> String {
    if x.is_nan() {
        "NAN".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "INFINITY".into()
        } else {
            "(-INFINITY)".into()
        }
    } else {
        let s = format!("{x:?}");
        if s.contains('.') || s.contains('e') {
            s
        } else {
            format!("{s}.0")
        }
    }
}

/// Declarations of the vector variants of the math functions the kernels call, which glibc's
/// `libmvec` has on x86-64 (its own header declares them only under `-ffast-math`, which the
/// kernels are not built with): the C compiler then vectorises a loop that calls them. On when
/// the build defines `PYRITE_VECTOR_MATH` and links `libmvec` (see `kernel.rs`).
const VECTOR_MATH_DECLARATIONS: &str = "#if defined(PYRITE_VECTOR_MATH) && defined(__x86_64__) && defined(__GLIBC__) && __GLIBC_PREREQ(2, 22)
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double log(double);
#pragma omp declare simd notinbranch
double pow(double, double);
#if __GLIBC_PREREQ(2, 35)
#pragma omp declare simd notinbranch
double log1p(double);
#pragma omp declare simd notinbranch
double expm1(double);
#pragma omp declare simd notinbranch
double tanh(double);
#endif
#endif

";

/// Row-major strides of `shape`.
fn strides(shape: &[i64]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// A loop over the elements of a value of shape `to` that reads (or writes) a value of shape
/// `from` broadcast to it: one loop per run of dims that `from` keeps or repeats, so that every
/// index is an affine function of the loop counters and the C compiler can vectorise the
/// innermost loop. The flat index `i` of a [`broadcast_index`] loop needs a division and a
/// remainder per element, which no compiler vectorises.
struct Nest {
    /// The heads of the loops around the innermost one (none for a single loop).
    outer: String,
    /// The head of the innermost loop.
    inner: String,
    /// `const long i = ...;` in terms of the counters (empty where the one loop counts `i`).
    flat: String,
    /// The C expression of the offset in `from` of element `i` of `to`.
    from_index: String,
    /// Whether `from` repeats along the innermost loop (one element of it for the whole loop).
    inner_repeats: bool,
}

impl Nest {
    /// The loops running `body` for every element `i`.
    fn each(&self, body: &str) -> String {
        format!("{}{}{{ {} {body} }}", self.outer, self.inner, self.flat)
    }

    /// The loops adding `value` (of element `i`) into `target` (of element `from_index`): where
    /// the innermost loop adds into one element, it sums in a double first (a float workspace's
    /// element would round every addition).
    fn add_into(&self, target: &str, value: &str) -> String {
        if self.inner_repeats {
            format!("{}{{ double acc = 0.0; {}{{ {} acc += {value}; }} {target} += acc; }}", self.outer, self.inner, self.flat)
        } else {
            self.each(&format!("{target} += {value};"))
        }
    }
}

/// The shortest innermost loop over kept dims that a [`Nest`] vectorises.
const SHORTEST_VECTOR_LOOP: i64 = 8;

fn nest(to: &[i64], from: &[i64]) -> Nest {
    let lead = to.len() - from.len();
    // Runs of dims, size-1 dims of `to` left out: (size, kept by `from`).
    let mut runs: Vec<(i64, bool)> = Vec::new();
    for (d, &size) in to.iter().enumerate().filter(|&(_, &s)| s != 1) {
        let kept = d >= lead && from[d - lead] != 1;
        match runs.last_mut() {
            Some((n, k)) if *k == kept => *n *= size,
            _ => runs.push((size, kept)),
        }
    }
    if runs.len() <= 1 {
        let numel: i64 = to.iter().product();
        let kept = runs.first().is_none_or(|&(_, kept)| kept);
        return Nest {
            outer: String::new(),
            inner: format!("for (long i = 0; i < {numel}; i++) "),
            flat: String::new(),
            from_index: if kept { "i" } else { "0" }.into(),
            inner_repeats: !kept,
        };
    }
    if runs.last().is_some_and(|&(size, kept)| kept && size < SHORTEST_VECTOR_LOOP) {
        // Too short to gain from vectors (calls to vector `exp` on two elements cost more than
        // scalar ones: a two-state HMM's kernel ran 8% slower): one flat loop.
        let numel: i64 = to.iter().product();
        return Nest {
            outer: String::new(),
            inner: format!("for (long i = 0; i < {numel}; i++) "),
            flat: String::new(),
            from_index: broadcast_index("i", to, from),
            inner_repeats: false,
        };
    }
    let (mut outer, mut inner) = (String::new(), String::new());
    let (mut flat, mut kept_flat) = (String::new(), String::new());
    for (g, &(size, kept)) in runs.iter().enumerate() {
        let head = format!("for (long a{g} = 0; a{g} < {size}; a{g}++) ");
        if g + 1 < runs.len() {
            outer.push_str(&head);
        } else if kept {
            // The innermost loop's elements are independent where `from` keeps its dims (a
            // different element of each value on each pass): said so, as the compiler cannot
            // see it through offsets into one workspace and would otherwise test at run time.
            inner = format!("_Pragma(\"omp simd\") {head}");
        } else {
            inner = head;
        }
        flat = if flat.is_empty() { format!("a{g}") } else { format!("({flat}) * {size} + a{g}") };
        if kept {
            kept_flat = if kept_flat.is_empty() { format!("a{g}") } else { format!("({kept_flat}) * {size} + a{g}") };
        }
    }
    let inner_repeats = !runs.last().is_some_and(|&(_, kept)| kept);
    Nest { outer, inner, flat: format!("const long i = {flat};"), from_index: if kept_flat.is_empty() { "0".into() } else { kept_flat }, inner_repeats }
}

/// The C expression of the offset, in a value of shape `from` broadcast to `to`, of element `i`
/// of `to` (right-aligned; size-1 and missing dims repeat).
fn broadcast_index(i: &str, to: &[i64], from: &[i64]) -> String {
    let numel: i64 = from.iter().product();
    if from == to || numel == to.iter().product::<i64>() && from.iter().filter(|&&d| d != 1).eq(to.iter().filter(|&&d| d != 1)) {
        return i.to_string();
    }
    if numel == 1 {
        return "0".into();
    }
    let (ts, fs) = (strides(to), strides(from));
    let lead = to.len() - from.len();
    let terms: Vec<String> = (0..from.len())
        .filter(|&d| from[d] != 1)
        .map(|d| {
            let td = d + lead;
            let coord = if td == 0 { format!("({i} / {})", ts[td]) } else { format!("(({i} / {}) % {})", ts[td], to[td]) };
            if fs[d] == 1 {
                coord
            } else {
                format!("{coord} * {}", fs[d])
            }
        })
        .collect();
    format!("({})", terms.join(" + "))
}

/// The C condition that element `i` of a value of `shape` lies in the lower (or upper) triangle
/// of its last two dims from diagonal `k` on.
fn triangle_keeps(shape: &[i64], lower: bool, k: i64) -> String {
    let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let diff = format!("(i % {cols}) - ((i / {cols}) % {rows})");
    if lower {
        format!("({diff} <= {k})")
    } else {
        format!("({diff} >= {k})")
    }
}

/// The shape `x` reduces to over `dims`, keeping them as 1s.
fn kept(x: &[i64], dims: &[usize]) -> Vec<i64> {
    x.iter().enumerate().map(|(d, &s)| if dims.contains(&d) { 1 } else { s }).collect()
}

fn cmp(c: Cmp) -> &'static str {
    match c {
        Cmp::Ge => ">=",
        Cmp::Gt => ">",
        Cmp::Le => "<=",
        Cmp::Lt => "<",
        Cmp::Eq => "==",
        Cmp::Ne => "!=",
    }
}

/// `y = f(x)` as a C expression of `x`.
fn unary_expr(u: Unary, x: &str) -> String {
    match u {
        Unary::Neg => format!("-{x}"),
        Unary::Exp => format!("exp({x})"),
        Unary::Log => format!("log({x})"),
        Unary::Log1p => format!("log1p({x})"),
        Unary::Expm1 => format!("expm1({x})"),
        Unary::Sigmoid => format!("(1.0 / (1.0 + exp(-{x})))"),
        Unary::LogSigmoid => format!("(({x}) >= 0.0 ? -log1p(exp(-({x}))) : ({x}) - log1p(exp({x})))"),
        Unary::Softplus { beta, threshold } => {
            format!("(({x}) * {b} > {t} ? ({x}) : log1p(exp(({x}) * {b})) / {b})", b = lit(beta), t = lit(threshold))
        }
        Unary::Abs => format!("fabs({x})"),
        Unary::Sqrt => format!("sqrt({x})"),
        Unary::Square => format!("(({x}) * ({x}))"),
        Unary::Reciprocal => format!("(1.0 / ({x}))"),
        Unary::Tanh => format!("tanh({x})"),
        Unary::Relu => format!("(({x}) > 0.0 ? ({x}) : 0.0)"),
        Unary::Lgamma => format!("lgamma({x})"),
        Unary::Clamp { min, max } => format!("fmin(fmax({x}, {}), {})", lit(min), lit(max)),
        Unary::Affine { a, b } => format!("({} * ({x}) + {})", lit(a), lit(b)),
        Unary::DivBy(c) => format!("(({x}) / {})", lit(c)),
        Unary::Pow(p) => {
            if p == 2.0 {
                format!("(({x}) * ({x}))")
            } else {
                format!("pow({x}, {})", lit(p))
            }
        }
        Unary::NonZero => format!("(({x}) != 0.0 ? 1.0 : 0.0)"),
        Unary::Trunc => format!("trunc({x})"),
        Unary::LogicalNot => format!("(({x}) == 0.0 ? 1.0 : 0.0)"),
        Unary::Compare(c, v) => format!("(({x}) {} {} ? 1.0 : 0.0)", cmp(c), lit(v)),
    }
}

/// `dy/dx` as a C expression of `x` and `y`.
fn unary_derivative(u: Unary, x: &str, y: &str) -> String {
    match u {
        Unary::Neg => "-1.0".into(),
        Unary::Exp => y.to_string(),
        Unary::Log => format!("(1.0 / ({x}))"),
        Unary::Log1p => format!("(1.0 / (1.0 + ({x})))"),
        Unary::Expm1 => format!("(({y}) + 1.0)"),
        Unary::Sigmoid => format!("(({y}) * (1.0 - ({y})))"),
        Unary::LogSigmoid => format!("(1.0 / (1.0 + exp({x})))"),
        Unary::Softplus { beta, threshold } => format!("(({x}) * {b} > {t} ? 1.0 : 1.0 / (1.0 + exp(-({x}) * {b})))", b = lit(beta), t = lit(threshold)),
        Unary::Abs => format!("(({x}) > 0.0 ? 1.0 : (({x}) < 0.0 ? -1.0 : 0.0))"),
        Unary::Sqrt => format!("(0.5 / ({y}))"),
        Unary::Square => format!("(2.0 * ({x}))"),
        Unary::Reciprocal => format!("(-({y}) * ({y}))"),
        Unary::Tanh => format!("(1.0 - ({y}) * ({y}))"),
        Unary::Relu => format!("(({x}) > 0.0 ? 1.0 : 0.0)"),
        Unary::Lgamma => format!("pyrite_digamma({x})"),
        Unary::Clamp { min, max } => format!("(({x}) >= {} && ({x}) <= {} ? 1.0 : 0.0)", lit(min), lit(max)),
        Unary::Affine { a, .. } => lit(a),
        Unary::DivBy(c) => format!("(1.0 / {})", lit(c)),
        Unary::Pow(p) => {
            if p == 0.0 {
                "0.0".into()
            } else {
                format!("({} * pow({x}, {}))", lit(p), lit(p - 1.0))
            }
        }
        Unary::NonZero | Unary::Trunc | Unary::LogicalNot | Unary::Compare(..) => "0.0".into(),
    }
}

fn binary_expr(b: Binary, x: &str, y: &str) -> String {
    match b {
        Binary::Add(alpha) => {
            if alpha == 1.0 {
                format!("({x} + {y})")
            } else {
                format!("({x} + {} * {y})", lit(alpha))
            }
        }
        Binary::RSub(alpha) => format!("({y} - {} * {x})", lit(alpha)),
        Binary::Mul => format!("({x} * {y})"),
        Binary::Div => format!("({x} / {y})"),
        Binary::Pow => format!("pow({x}, {y})"),
        Binary::Compare(c) => format!("({x} {} {y} ? 1.0 : 0.0)", cmp(c)),
        Binary::And => format!("({x} != 0.0 && {y} != 0.0 ? 1.0 : 0.0)"),
        Binary::Or => format!("({x} != 0.0 || {y} != 0.0 ? 1.0 : 0.0)"),
        Binary::Max => format!("fmax({x}, {y})"),
        Binary::Min => format!("fmin({x}, {y})"),
        Binary::Xlogy => format!("({x} == 0.0 ? 0.0 : {x} * log({y}))"),
        Binary::Xlog1py => format!("({x} == 0.0 ? 0.0 : {x} * log1p({y}))"),
    }
}

/// The partial derivatives `(dy/dx, dy/dy_operand)` of a binary operation.
fn binary_derivatives(b: Binary, x: &str, y: &str, out: &str) -> (String, String) {
    match b {
        Binary::Add(alpha) => ("1.0".into(), lit(alpha)),
        Binary::RSub(alpha) => (lit(-alpha), "1.0".into()),
        Binary::Mul => (y.into(), x.into()),
        Binary::Div => (format!("(1.0 / {y})"), format!("(-{x} / ({y} * {y}))")),
        Binary::Pow => (format!("({y} * pow({x}, {y} - 1.0))"), format!("({out} * log({x}))")),
        Binary::Max => (format!("({x} > {y} ? 1.0 : ({x} == {y} ? 0.5 : 0.0))"), format!("({y} > {x} ? 1.0 : ({x} == {y} ? 0.5 : 0.0))")),
        Binary::Min => (format!("({x} < {y} ? 1.0 : ({x} == {y} ? 0.5 : 0.0))"), format!("({y} < {x} ? 1.0 : ({x} == {y} ? 0.5 : 0.0))")),
        Binary::Xlogy => (format!("({x} == 0.0 ? 0.0 : log({y}))"), format!("({x} / {y})")),
        Binary::Xlog1py => (format!("({x} == 0.0 ? 0.0 : log1p({y}))"), format!("({x} / (1.0 + {y}))")),
        Binary::Compare(_) | Binary::And | Binary::Or => ("0.0".into(), "0.0".into()),
    }
}

/// The digamma function (the derivative of `lgamma`): the recurrence up to 6, then the
/// asymptotic series (relative error below 1e-12 there).
const DIGAMMA: &str = "static double pyrite_digamma(double x) {
  double r = 0.0;
  while (x < 6.0) { r -= 1.0 / x; x += 1.0; }
  double f = 1.0 / (x * x);
  return r + log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))));
}

";

struct Emitter<'p> {
    p: &'p Program,
    l: Layout,
    diff: Vec<bool>,
    plan: Plan,
    one_pass: Vec<Option<OnePass>>,
    /// Constants copied into the workspace (read by operations that index it directly).
    copied: Vec<bool>,
    /// Values whose elements and adjoints are another value's (see [`crate::views`]).
    views: Vec<Option<View>>,
    c: String,
}

/// `index` moved on by `base` elements.
fn shifted(base: i64, index: &str) -> String {
    if base == 0 {
        index.to_string()
    } else {
        format!("{base} + {index}")
    }
}

impl Emitter<'_> {
    fn shape(&self, v: usize) -> &[i64] {
        &self.p.nodes[v].shape
    }

    /// Element `index` of `v`: where it is for a constant, an input or noise (unless copied into
    /// the workspace for an operation that indexes it directly), else `w[off(v) + index]`.
    fn at(&self, v: usize, index: &str) -> String {
        if let Some(View { target, base }) = self.views[v] {
            return self.at(target, &shifted(base, index));
        }
        match self.p.nodes[v].op {
            Op::Const(k) if !self.copied[v] => self.const_at(k, index),
            Op::Input(offset) if !self.copied[v] => format!("z[{offset} + {index}]"),
            Op::Noise(offset) if !self.copied[v] => format!("noise[{offset} + {index}]"),
            _ => format!("w[{} + {index}]", self.l.value[v]),
        }
    }

    /// The value whose memory `v`'s elements are in: `v` itself, or the end of its chain of
    /// views.
    fn root(&self, mut v: usize) -> usize {
        while let Some(View { target, .. }) = self.views[v] {
            v = target;
        }
        v
    }

    /// Whether part `p` of join `v` is computed in its place there (see [`crate::views`]).
    fn placed_in(&self, p: usize, v: usize) -> bool {
        self.views[p].is_some_and(|view| view.target == v)
    }

    /// Element `index` of constant `k`, where the caller passed it.
    fn const_at(&self, k: usize, index: &str) -> String {
        match self.p.const_storage[k] {
            Storage::F64 => format!("pc{k}[{index}]"),
            Storage::F32 | Storage::I32 => format!("(double)pc{k}[{index}]"),
        }
    }

    /// The kernel's matrix-product callback, the entry after the constants (see
    /// [`crate::gemm`]).
    fn gemm(&self) -> String {
        format!("((pyrite_gemm_fn)consts[{}])", self.p.consts.len())
    }

    /// `w[adjoint(v) + index]`.
    fn adj(&self, v: usize, index: &str) -> String {
        if let Some(View { target, base }) = self.views[v] {
            return self.adj(target, &shifted(base, index));
        }
        match self.p.nodes[v].op {
            Op::Input(offset) if adjoint_in_grad(self.p, &self.copied, v) => format!("grad[{offset} + {index}]"),
            _ => format!("w[{} + {index}]", self.l.adjoint[v].unwrap_or(0)),
        }
    }

    /// Element `i` of operand `x` read in the shape of value `v`.
    fn operand(&self, v: usize, x: usize) -> String {
        self.at(x, &broadcast_index("i", self.shape(v), self.shape(x)))
    }

    fn forward(&mut self, v: usize, n: &Node) {
        if reads_elsewhere(&self.views, v) {
            return;
        }
        let numel = n.numel();
        let out = self.at(v, "i");
        let line = |c: &mut String, body: String| {
            let _ = writeln!(c, "  for (long i = 0; i < {numel}; i++) {body}");
        };
        match &n.op {
            // Inputs and noise are read where they are, except by the operations that index
            // the workspace directly.
            Op::Input(offset) => {
                if self.copied[v] {
                    line(&mut self.c, format!("{out} = z[{offset} + i];"));
                }
            }
            Op::Noise(offset) => {
                if self.copied[v] {
                    line(&mut self.c, format!("{out} = noise[{offset} + i];"));
                }
            }
            // Constants are read where they are, except by the operations that index the
            // workspace directly (matrix products, solves, running products).
            Op::Const(k) => {
                if self.copied[v] {
                    let src = self.const_at(*k, "i");
                    line(&mut self.c, format!("{out} = {src};"));
                }
            }
            Op::Fill(x) => line(&mut self.c, format!("{out} = {};", lit(*x))),
            Op::Unary(u, x) => {
                let e = unary_expr(*u, &self.operand(v, *x));
                line(&mut self.c, format!("{out} = {e};"))
            }
            Op::Binary(b, x, y) => {
                let e = binary_expr(*b, &self.operand(v, *x), &self.operand(v, *y));
                line(&mut self.c, format!("{out} = {e};"))
            }
            Op::Addcmul(value, s, a, b) => {
                let e = format!("{} + {} * {} * {}", self.operand(v, *s), lit(*value), self.operand(v, *a), self.operand(v, *b));
                line(&mut self.c, format!("{out} = {e};"))
            }
            Op::Where(c, a, b) => {
                let e = format!("({} != 0.0 ? {} : {})", self.operand(v, *c), self.operand(v, *a), self.operand(v, *b));
                line(&mut self.c, format!("{out} = {e};"))
            }
            Op::MaskedFill(x, m, value) => {
                let e = format!("({} != 0.0 ? {} : {})", self.operand(v, *m), lit(*value), self.operand(v, *x));
                line(&mut self.c, format!("{out} = {e};"))
            }
            Op::Expand(x) | Op::Reshape(x) | Op::Detach(x) => {
                let src = if matches!(n.op, Op::Expand(_)) { self.operand(v, *x) } else { self.at(*x, "i") };
                line(&mut self.c, format!("{out} = {src};"))
            }
            Op::Sum(x, dims) => {
                let xs = self.shape(*x).to_vec();
                let loops = nest(&xs, &kept(&xs, dims));
                line(&mut self.c, format!("{out} = 0.0;"));
                let _ = writeln!(self.c, "  {}", loops.add_into(&self.at(v, &loops.from_index), &self.at(*x, "i")));
            }
            Op::LogSumExp(x, dims) => {
                // The maximum, then the sum of exponentials shifted by it (kept in the value).
                let xs = self.shape(*x).to_vec();
                let loops = nest(&xs, &kept(&xs, dims));
                let r = &loops.from_index;
                line(&mut self.c, format!("{out} = -INFINITY;"));
                // A store on every element (not under an `if`), which vectorises.
                let max = format!("real *m = &{}; const real x = {}; *m = x > *m ? x : *m;", self.at(v, r), self.at(*x, "i"));
                let _ = writeln!(self.c, "  {}", loops.each(&max));
                // The sums in doubles on the stack, or for a large result (which would
                // overflow a thread's stack) in the workspace's scratch space.
                // Doubles whatever `real` is: at an even offset, which is 8-byte aligned.
                let sums = if numel <= STACK_SUMS {
                    format!("double s[{numel}]")
                } else {
                    format!("double *s = (double *)(w + {})", self.l.scratch.next_multiple_of(2))
                };
                let _ = writeln!(self.c, "  {{ {sums}; for (long i = 0; i < {numel}; i++) s[i] = 0.0;");
                let shift = format!("(isfinite({m}) ? {m} : 0.0)", m = self.at(v, r));
                let _ = writeln!(self.c, "    {}", loops.add_into(&format!("s[{r}]"), &format!("exp({} - {shift})", self.at(*x, "i"))));
                let shift_i = format!("(isfinite({m}) ? {m} : 0.0)", m = self.at(v, "i"));
                let _ = writeln!(self.c, "    for (long i = 0; i < {numel}; i++) {out} = {shift_i} + log(s[i]); }}");
            }
            Op::Slice(..) | Op::Select(..) => {
                if let Some((x, src)) = self.strided_index(v) {
                    let src = self.at(x, &src);
                    line(&mut self.c, format!("{out} = {src};"));
                }
            }
            Op::Triangle(x, lower, k) => {
                let keep = triangle_keeps(&n.shape, *lower, *k);
                let src = self.at(*x, "i");
                line(&mut self.c, format!("{out} = {keep} ? {src} : 0.0;"));
            }
            Op::Diagonal(x) => {
                let d = n.shape.last().copied().unwrap_or(1);
                let src = self.at(*x, &format!("(i / {d}) * {} + (i % {d}) * {}", d * d, d + 1));
                line(&mut self.c, format!("{out} = {src};"));
            }
            Op::Gather(x, dim, index) => {
                let src = self.at(*x, &self.gather_index(v, *x, *dim, *index));
                line(&mut self.c, format!("{out} = {src};"));
            }
            Op::Cumulative(x, dim, product) => {
                // Each line along `dim`: element `o * len * inner + j * inner + t`.
                let (len, inner) = (n.shape[*dim], n.shape[dim + 1..].iter().product::<i64>());
                let lines = n.numel() as i64 / len.max(1);
                let (xo, yo) = (self.l.value[*x], self.l.value[v]);
                let (start, op) = if *product { ("1.0", "*") } else { ("0.0", "+") };
                let _ = writeln!(
                    self.c,
                    "  for (long l = 0; l < {lines}; l++) {{ long base = (l / {inner}) * {} + l % {inner}; double acc = {start}; for (long j = 0; j < {len}; j++) {{ acc = acc {op} w[{xo} + base + j * {inner}]; w[{yo} + base + j * {inner}] = acc; }} }}",
                    len * inner
                );
            }
            Op::Transpose(x) => {
                let src = self.at(*x, &transpose_index(&n.shape));
                line(&mut self.c, format!("{out} = {src};"));
            }
            &Op::MatMul(a, b, rows, inner, cols, transposed) => {
                let (ya, yb, yy) = (self.l.value[a], self.l.value[b], self.l.value[v]);
                if uses_gemm(rows, inner, cols) {
                    let ldb = if transposed { inner } else { cols };
                    let _ = writeln!(
                        self.c,
                        "  {}(0, {}, {rows}, {cols}, {inner}, w + {ya}, {inner}, w + {yb}, {ldb}, 0.0, w + {yy}, {cols});",
                        self.gemm(),
                        i32::from(transposed)
                    );
                } else {
                    // Operands read where they are (a constant design matrix is not copied).
                    let ea = self.at(a, &format!("r * {inner} + q"));
                    if cols == 1 {
                        // A matrix times a vector: one dot product per row, vectorised.
                        let eb = self.at(b, "q");
                        let _ = writeln!(
                            self.c,
                            "  for (long r = 0; r < {rows}; r++) {{ double s = 0.0;\n    _Pragma(\"omp simd reduction(+:s)\") for (long q = 0; q < {inner}; q++) s += {ea} * {eb}; w[{yy} + r] = s; }}"
                        );
                    } else {
                        let eb = self.at(b, &right_index(transposed, inner, cols));
                        let _ = writeln!(
                            self.c,
                            "  for (long r = 0; r < {rows}; r++) for (long c = 0; c < {cols}; c++) {{ double s = 0.0; for (long q = 0; q < {inner}; q++) s += {ea} * {eb}; w[{yy} + r * {cols} + c] = s; }}"
                        );
                    }
                }
            }
            Op::SolveTriangular(a, b, upper, size, cols) => {
                let (ya, yb, yx) = (self.l.value[*a], self.l.value[*b], self.l.value[v]);
                let (rows, inner) = if *upper {
                    (format!("for (long r = {size} - 1; r >= 0; r--)"), format!("for (long q = r + 1; q < {size}; q++)"))
                } else {
                    (format!("for (long r = 0; r < {size}; r++)"), "for (long q = 0; q < r; q++)".to_string())
                };
                let _ = writeln!(
                    self.c,
                    "  for (long c = 0; c < {cols}; c++) {rows} {{ double s = w[{yb} + r * {cols} + c]; {inner} s -= w[{ya} + r * {size} + q] * w[{yx} + q * {cols} + c]; w[{yx} + r * {cols} + c] = s / w[{ya} + r * {size} + r]; }}"
                );
            }
            &Op::Cholesky(a, size) => {
                // Column by column (Cholesky–Banachiewicz by columns); a pivot that is not
                // positive (or NaN) leaves the whole factor NaN.
                let (ya, yl) = (self.l.value[a], self.l.value[v]);
                let _ = writeln!(
                    self.c,
                    "  {{ int ok = 1; for (long j = 0; j < {size} && ok; j++) {{ double s = w[{ya} + j * {size} + j]; for (long k = 0; k < j; k++) s -= w[{yl} + j * {size} + k] * w[{yl} + j * {size} + k]; if (!(s > 0.0)) {{ ok = 0; break; }} double d = sqrt(s); w[{yl} + j * {size} + j] = d; for (long r = j + 1; r < {size}; r++) {{ double t = w[{ya} + r * {size} + j]; for (long k = 0; k < j; k++) t -= w[{yl} + r * {size} + k] * w[{yl} + j * {size} + k]; w[{yl} + r * {size} + j] = t / d; }} for (long r = 0; r < j; r++) w[{yl} + r * {size} + j] = 0.0; }}"
                );
                let _ = writeln!(self.c, "    if (!ok) for (long i = 0; i < {}; i++) w[{yl} + i] = NAN; }}", size * size);
            }
            Op::Cat(parts, dim) => {
                let mut offset = 0;
                for &p in parts {
                    if self.placed_in(p, v) {
                        offset += self.shape(p)[*dim];
                        continue;
                    }
                    let dst = self.cat_index(v, p, *dim, offset);
                    let _ = writeln!(self.c, "  for (long i = 0; i < {}; i++) {} = {};", self.p.nodes[p].numel(), self.at(v, &dst), self.at(p, "i"));
                    offset += self.shape(p)[*dim];
                }
            }
            Op::IndexSelect(x, dim, idx) => {
                let src = self.index_select_offset(v, *x, *dim, *idx);
                let src = self.at(*x, &src);
                line(&mut self.c, format!("{out} = {src};"));
            }
        }
    }

    /// Element `index` of the index tensor `idx`, as a C `long` (read as an integer where it is
    /// stored as one).
    fn index_at(&self, idx: usize, index: &str) -> String {
        match self.p.nodes[idx].op {
            Op::Const(k) if self.p.const_storage[k] == Storage::I32 => format!("(long)pc{k}[{index}]"),
            _ => format!("(long){}", self.at(idx, index)),
        }
    }

    /// The offset in `x` of element `i` of `v = x.index_select(dim, idx)` (the terms that are
    /// always zero left out: the loop's `i` never reaches the value's size).
    fn index_select_offset(&self, v: usize, x: usize, dim: usize, idx: usize) -> String {
        let (xs, ys) = (self.shape(x), self.shape(v));
        let inner: i64 = ys[dim + 1..].iter().product();
        let outer: i64 = ys[..dim].iter().product();
        let along = if inner == 1 { "i".to_string() } else { format!("(i / {inner})") };
        let position = if outer == 1 { along } else { format!("{along} % {}", ys[dim]) };
        let j = self.index_at(idx, &position);
        let row = if outer == 1 { j } else { format!("(i / {}) * {} + {j}", inner * ys[dim], xs[dim]) };
        if inner == 1 {
            row
        } else {
            format!("({row}) * {inner} + i % {inner}")
        }
    }

    /// The offset in `x` of element `i` of `v = x.gather(dim, index)`.
    fn gather_index(&self, v: usize, x: usize, dim: usize, index: usize) -> String {
        let (ys, xs) = (self.shape(v), self.shape(x));
        let (yst, xst) = (strides(ys), strides(xs));
        let mut terms: Vec<String> = (0..ys.len()).filter(|&d| d != dim).map(|d| format!("((i / {}) % {}) * {}", yst[d], ys[d], xst[d])).collect();
        terms.push(format!("{} * {}", self.index_at(index, "i"), xst[dim]));
        format!("({})", terms.join(" + "))
    }

    /// The offset in `x` of element `i` of `v`, a slice or a selection of `x` (see
    /// [`Op::Slice`], [`Op::Select`]).
    fn strided_index(&self, v: usize) -> Option<(usize, String)> {
        let ys = self.shape(v).to_vec();
        match self.p.nodes[v].op {
            Op::Slice(x, dim, start, step) => {
                let xs = self.shape(x);
                let inner: i64 = ys[dim + 1..].iter().product();
                Some((x, format!("((i / {}) * {} + {start} + {step} * ((i / {inner}) % {})) * {inner} + i % {inner}", inner * ys[dim], xs[dim], ys[dim])))
            }
            Op::Select(x, dim, index) => {
                let xs = self.shape(x);
                let inner: i64 = xs[dim + 1..].iter().product();
                Some((x, format!("((i / {inner}) * {} + {index}) * {inner} + i % {inner}", xs[dim])))
            }
            _ => None,
        }
    }

    /// The offset in the joined value `v` of element `i` of its part `p`, which starts at
    /// `offset` along `dim`.
    fn cat_index(&self, v: usize, p: usize, dim: usize, offset: i64) -> String {
        let (ys, ps) = (self.shape(v), self.shape(p));
        let inner: i64 = ys[dim + 1..].iter().product();
        format!("((i / {}) * {} + {offset} + (i / {inner}) % {}) * {inner} + i % {inner}", inner * ps[dim], ys[dim], ps[dim])
    }

    /// Element `index` of `x` read by a value of run `g`: a register for a value of the run, the
    /// workspace otherwise.
    fn fused_read(&self, g: usize, x: usize, index: &str) -> String {
        if self.plan.group[x] == Some(g) {
            format!("t{x}")
        } else if self.p.nodes[x].numel() == 1 && !matches!(self.p.nodes[x].op, Op::Const(_)) {
            // A one-element value from outside: read once before the loop (see `scalars_in`).
            format!("c{x}")
        } else {
            self.at(x, index)
        }
    }

    /// Declarations reading, once before run `g`'s loop, every one-element value from outside
    /// the run that its members read (so the loop keeps them in registers).
    fn scalars_in(&self, g: usize) -> String {
        let mut seen = Vec::new();
        for v in self.members(g) {
            // An index_select reads its source from the workspace, by index (but another
            // member may read the same value as a register).
            let indexed = match self.p.nodes[v].op {
                Op::IndexSelect(x, ..) => Some(x),
                _ => None,
            };
            for (x, _) in self.fused_operands(v) {
                let scalar = self.plan.group[x] != Some(g) && self.p.nodes[x].numel() == 1 && !matches!(self.p.nodes[x].op, Op::Const(_));
                if scalar && indexed != Some(x) && !seen.contains(&x) {
                    seen.push(x);
                }
            }
        }
        let mut c: String = seen.iter().map(|x| format!(" const double c{x} = {};", self.at(*x, "0"))).collect();
        let mut divisors: Vec<usize> = self.members(g).filter_map(|v| self.scalar_divisor(g, v)).collect();
        divisors.dedup();
        for y in divisors {
            if !c.contains(&format!(" const double r{y} ")) {
                let _ = write!(c, " const double r{y} = 1.0 / c{y};");
            }
        }
        c
    }

    /// The divisor of member `v` of run `g` if it is a one-element value from outside the run:
    /// the loop then multiplies by its reciprocal `r<y>`, computed once before the loop (a
    /// division per element costs several multiplications).
    fn scalar_divisor(&self, g: usize, v: usize) -> Option<usize> {
        match self.p.nodes[v].op {
            Op::Binary(Binary::Div, _, y) if self.plan.group[y] != Some(g) && self.p.nodes[y].numel() == 1 && !matches!(self.p.nodes[y].op, Op::Const(_)) => {
                Some(y)
            }
            _ => None,
        }
    }

    /// How member `v` of run `g` reads each operand: `(operand, index expression)`.
    fn fused_operands(&self, v: usize) -> Vec<(usize, String)> {
        let n = &self.p.nodes[v];
        match &n.op {
            // Same elements, another shape: element for element.
            Op::Reshape(x) | Op::Detach(x) => vec![(*x, "i".to_string())],
            op => operands(op).into_iter().map(|x| (x, broadcast_index("i", &n.shape, self.shape(x)))).collect(),
        }
    }

    /// The C expression of member `v`'s element `i` in run `g`.
    fn fused_expr(&self, g: usize, v: usize) -> String {
        let n = &self.p.nodes[v];
        let ops = self.fused_operands(v);
        let r = |k: usize| self.fused_read(g, ops[k].0, &ops[k].1);
        match &n.op {
            Op::Unary(u, _) => unary_expr(*u, &r(0)),
            Op::Binary(_, _, y) if self.scalar_divisor(g, v).is_some() => format!("({} * r{y})", r(0)),
            Op::Binary(b, _, _) => binary_expr(*b, &r(0), &r(1)),
            Op::Addcmul(value, ..) => format!("{} + {} * {} * {}", r(0), lit(*value), r(1), r(2)),
            Op::Where(..) => format!("({} != 0.0 ? {} : {})", r(0), r(1), r(2)),
            Op::MaskedFill(_, _, value) => format!("({} != 0.0 ? {} : {})", r(1), lit(*value), r(0)),
            Op::Expand(_) | Op::Reshape(_) | Op::Detach(_) => r(0),
            Op::Fill(x) => lit(*x),
            Op::IndexSelect(x, dim, idx) => {
                let src = self.index_select_offset(v, *x, *dim, *idx);
                self.at(*x, &src)
            }
            _ => unreachable!("only elementwise operations are fused"),
        }
    }

    /// The members' values of run `g` as registers `t<v>`, in order.
    fn fused_values(&self, g: usize) -> String {
        self.members(g).map(|v| format!(" double t{v} = {};", self.fused_expr(g, v))).collect()
    }

    /// The members' values of run `g` again, for its backward loop: those the forward loop
    /// stored are read back (no second `exp` of an 800,000-element draw), the others recomputed.
    fn fused_values_again(&self, g: usize) -> String {
        self.members(g)
            .map(|v| {
                let value = if self.plan.stored[v] { self.at(v, "i") } else { self.fused_expr(g, v) };
                format!(" double t{v} = {value};")
            })
            .collect()
    }

    /// The members of run `g`, in order (the constants within its span are not).
    fn members(&self, g: usize) -> impl DoubleEndedIterator<Item = usize> + '_ {
        let (start, end) = self.plan.groups[g];
        (start..end).filter(move |&v| self.plan.group[v] == Some(g))
    }

    /// The sums computed in run `g`'s loop: `(sum, summed member)`.
    fn absorbed_sums(&self, g: usize) -> Vec<(usize, usize)> {
        self.p
            .nodes
            .iter()
            .enumerate()
            .filter(|&(v, _)| self.plan.absorbed[v] == Some(g))
            .filter_map(|(v, n)| match n.op {
                Op::Sum(x, _) => Some((v, x)),
                _ => None,
            })
            .collect()
    }

    /// Run `g`'s forward loop: every member computed in registers, those read elsewhere stored.
    fn fused_forward(&mut self, g: usize) {
        let start = self.plan.groups[g].0;
        let numel = self.p.nodes[start].numel();
        let mut stores: String = self.members(g).filter(|&v| self.plan.stored[v]).map(|v| format!(" {} = t{v};", self.at(v, "i"))).collect();
        let sums = self.absorbed_sums(g);
        let mut before = String::new();
        let mut after = String::new();
        for &(s, x) in &sums {
            before.push_str(&format!(" double s{s} = 0.0;"));
            stores.push_str(&format!(" s{s} += t{x};"));
            after.push_str(&format!(" {} = s{s};", self.at(s, "0")));
        }
        let mut reductions: Vec<String> = sums.iter().map(|&(s, _)| format!("s{s}")).collect();
        let mut independent = true;
        if self.one_pass[g].is_some() {
            // The backward pass for a seed of 1, into the run's buffers (zeroed first).
            let FusedAdjoints { body: adjoints, scalar_adjoints, scatters } = self.fused_adjoints(g);
            stores.push_str(&adjoints);
            independent = !scatters;
            reductions.extend(scalar_adjoints.iter().map(|x| format!("b{x}")));
            for &(x, at) in &self.l.deferred[g] {
                if scalar_adjoints.contains(&x) {
                    before.push_str(&format!(" double b{x} = 0.0;"));
                    after.push_str(&format!(" w[{at}] = b{x};"));
                } else {
                    before.push_str(&format!(" memset(w + {at}, 0, sizeof(real) * {});", self.p.nodes[x].numel()));
                }
            }
        }
        let scalars = self.scalars_in(g);
        let simd = simd_pragma(independent, &reductions);
        let _ = writeln!(self.c, "  {{{scalars}{before} {simd}for (long i = 0; i < {numel}; i++) {{{}{stores} }}{after} }}", self.fused_values(g));
    }

    /// The buffer where one-pass run `g` keeps the adjoints it passes to `x` (see [`OnePass`]).
    fn deferred(&self, g: usize, x: usize) -> usize {
        self.l.deferred[g].iter().find(|&&(t, _)| t == x).map_or(0, |&(_, at)| at)
    }

    /// The statements of run `g`'s backward pass for element `i`, after its values: each member's
    /// adjoint `a<v>` in a register (starting from what readers outside the run left in the
    /// workspace, or 1 for the seed of a one-pass run), passed back member by member in reverse;
    /// with the one-element values outside the run whose adjoints accumulate in registers `b<x>`.
    fn fused_adjoints(&self, g: usize) -> FusedAdjoints {
        let one_pass = self.one_pass[g].as_ref();
        // Where an adjoint for `x` outside the run goes, at `index`.
        let target = |x: usize, index: &str| match one_pass {
            Some(_) => format!("w[{} + {index}]", self.deferred(g, x)),
            None => self.adj(x, index),
        };
        let mut body = String::new();
        let mut scalar_adjoints: Vec<usize> = Vec::new();
        let mut scatters = false;
        // The adjoints outside the run that the loop adds into, with the value whose memory
        // each is in (see `root`).
        let mut targets: Vec<(usize, usize)> = Vec::new();
        let sums = self.absorbed_sums(g);
        let members: Vec<usize> = self.members(g).filter(|&v| self.diff[v]).collect();
        for &v in &members {
            let mut init = if self.l.adjoint[v].is_some() { self.adj(v, "i") } else { "0.0".to_string() };
            // A sum computed in the loop passes its adjoint to every element it summed.
            for &(s, x) in &sums {
                if x == v && self.diff[s] {
                    let seed = if one_pass.is_some() { "1.0".to_string() } else { self.adj(s, "0") };
                    init = format!("{init} + {seed}");
                }
            }
            body.push_str(&format!(" double a{v} = {init};"));
        }
        for v in members.into_iter().rev() {
            let n = &self.p.nodes[v];
            let ops = self.fused_operands(v);
            let r = |k: usize| self.fused_read(g, ops[k].0, &ops[k].1);
            let y = format!("t{v}");
            let partials: Vec<(usize, String)> = match &n.op {
                Op::Unary(u, x) => vec![(*x, unary_derivative(*u, &r(0), &y))],
                Op::Binary(_, x, z) if self.scalar_divisor(g, v).is_some() => vec![(*x, format!("r{z}")), (*z, format!("(-{y} * r{z})"))],
                Op::Binary(b, x, z) => {
                    let (dx, dz) = binary_derivatives(*b, &r(0), &r(1), &y);
                    vec![(*x, dx), (*z, dz)]
                }
                Op::Addcmul(value, s, a, b) => {
                    vec![(*s, "1.0".into()), (*a, format!("{} * {}", lit(*value), r(2))), (*b, format!("{} * {}", lit(*value), r(1)))]
                }
                Op::Where(_, a, b) => vec![(*a, format!("({} != 0.0 ? 1.0 : 0.0)", r(0))), (*b, format!("({} != 0.0 ? 0.0 : 1.0)", r(0)))],
                Op::MaskedFill(x, _, _) => vec![(*x, format!("({} != 0.0 ? 0.0 : 1.0)", r(1)))],
                Op::Expand(x) | Op::Reshape(x) => vec![(*x, "1.0".into())],
                _ => vec![],
            };
            for (x, d) in partials {
                if !self.diff[x] {
                    continue;
                }
                let contribution = format!("a{v} * ({d})");
                if self.plan.group[x] == Some(g) {
                    body.push_str(&format!(" a{x} += {contribution};"));
                } else if self.p.nodes[x].numel() == 1 {
                    // Accumulated in a register, added to the workspace after the loop.
                    if !scalar_adjoints.contains(&x) {
                        scalar_adjoints.push(x);
                    }
                    body.push_str(&format!(" b{x} += {contribution};"));
                } else {
                    let index = match &n.op {
                        Op::Reshape(_) => "i".to_string(),
                        _ => broadcast_index("i", &n.shape, self.shape(x)),
                    };
                    scatters |= index != "i";
                    // Two views of one value (`x[1:] - x[:-1]`) add into overlapping places:
                    // one pass's adjoint lands where another's does.
                    if one_pass.is_none() {
                        let root = self.root(x);
                        scatters |= targets.iter().any(|&(r, t)| r == root && t != x);
                        targets.push((root, x));
                    }
                    body.push_str(&format!(" {} += {contribution};", target(x, &index)));
                }
            }
            if let Op::IndexSelect(x, dim, idx) = &n.op {
                if self.diff[*x] {
                    let dst = self.index_select_offset(v, *x, *dim, *idx);
                    scatters = true;
                    body.push_str(&format!(" {} += a{v};", target(*x, &dst)));
                }
            }
        }
        FusedAdjoints { body, scalar_adjoints, scatters }
    }

    /// Run `g`'s backward loop: the members' values recomputed and their adjoints passed back
    /// (see [`Emitter::fused_adjoints`]); for a one-pass run, the buffered adjoints its forward
    /// loop computed, scaled by the seed's adjoint.
    fn fused_backward(&mut self, g: usize) {
        let start = self.plan.groups[g].0;
        if !self.members(g).any(|v| self.diff[v]) {
            return;
        }
        if let Some(run) = &self.one_pass[g] {
            let mut c = format!("  {{ const double seed = {};", self.adj(run.seed, "0"));
            for &x in &run.targets {
                let _ = write!(c, " for (long i = 0; i < {}; i++) {} += seed * w[{} + i];", self.p.nodes[x].numel(), self.adj(x, "i"), self.deferred(g, x));
            }
            let _ = writeln!(self.c, "{c} }}");
            return;
        }
        let numel = self.p.nodes[start].numel();
        let FusedAdjoints { body: adjoints, scalar_adjoints, scatters } = self.fused_adjoints(g);
        let body = format!("{}{adjoints}", self.fused_values_again(g));
        let declared: String = scalar_adjoints.iter().map(|x| format!(" double b{x} = 0.0;")).collect();
        let flushed: String = scalar_adjoints.iter().map(|&x| format!(" {} += b{x};", self.adj(x, "0"))).collect();
        let scalars = self.scalars_in(g);
        let simd = simd_pragma(!scatters, &scalar_adjoints.iter().map(|x| format!("b{x}")).collect::<Vec<_>>());
        let _ = writeln!(self.c, "  {{{scalars}{declared} {simd}for (long i = 0; i < {numel}; i++) {{{body} }}{flushed} }}");
    }

    /// Adds `scale * dy` (for each element `i` of `v`) into operand `x`'s adjoint, if it has one.
    fn push_back(&mut self, v: usize, x: usize, scale: &str) {
        if !self.diff[x] {
            return;
        }
        let loops = nest(self.shape(v), self.shape(x));
        let _ = writeln!(self.c, "  {}", loops.add_into(&self.adj(x, &loops.from_index), &format!("{} * ({scale})", self.adj(v, "i"))));
    }

    fn backward(&mut self, v: usize, n: &Node) {
        if !self.diff[v] || reads_elsewhere(&self.views, v) {
            return;
        }
        let y = self.at(v, "i");
        match n.op.clone() {
            Op::Input(_) | Op::Noise(_) | Op::Const(_) | Op::Fill(_) | Op::Detach(_) => {}
            Op::Unary(u, x) => {
                let d = unary_derivative(u, &self.operand(v, x), &y);
                self.push_back(v, x, &d);
            }
            Op::Binary(b, x, z) => {
                let (dx, dz) = binary_derivatives(b, &self.operand(v, x), &self.operand(v, z), &y);
                self.push_back(v, x, &dx);
                self.push_back(v, z, &dz);
            }
            Op::Addcmul(value, s, a, b) => {
                let (av, bv) = (self.operand(v, a), self.operand(v, b));
                self.push_back(v, s, "1.0");
                self.push_back(v, a, &format!("{} * {bv}", lit(value)));
                self.push_back(v, b, &format!("{} * {av}", lit(value)));
            }
            Op::Where(c, a, b) => {
                let cv = self.operand(v, c);
                self.push_back(v, a, &format!("({cv} != 0.0 ? 1.0 : 0.0)"));
                self.push_back(v, b, &format!("({cv} != 0.0 ? 0.0 : 1.0)"));
            }
            Op::MaskedFill(x, m, _) => {
                let mv = self.operand(v, m);
                self.push_back(v, x, &format!("({mv} != 0.0 ? 0.0 : 1.0)"));
            }
            Op::Expand(x) => self.push_back(v, x, "1.0"),
            Op::Reshape(x) => {
                if self.diff[x] {
                    let _ = writeln!(self.c, "  for (long i = 0; i < {}; i++) {} += {};", n.numel(), self.adj(x, "i"), self.adj(v, "i"));
                }
            }
            Op::Sum(x, dims) | Op::LogSumExp(x, dims) => {
                if self.diff[x] {
                    let xs = self.shape(x).to_vec();
                    let loops = nest(&xs, &kept(&xs, &dims));
                    let r = &loops.from_index;
                    let scale = if matches!(n.op, Op::Sum(..)) { String::new() } else { format!(" * exp({} - {})", self.at(x, "i"), self.at(v, r)) };
                    let _ = writeln!(self.c, "  {}", loops.each(&format!("{} += {}{scale};", self.adj(x, "i"), self.adj(v, r))));
                }
            }
            Op::Slice(..) | Op::Select(..) => {
                if let Some((x, dst)) = self.strided_index(v) {
                    if self.diff[x] {
                        let _ = writeln!(self.c, "  for (long i = 0; i < {}; i++) {} += {};", n.numel(), self.adj(x, &dst), self.adj(v, "i"));
                    }
                }
            }
            Op::Triangle(x, lower, k) => {
                if self.diff[x] {
                    let keep = triangle_keeps(&n.shape, lower, k);
                    let _ = writeln!(self.c, "  for (long i = 0; i < {}; i++) if ({keep}) {} += {};", n.numel(), self.adj(x, "i"), self.adj(v, "i"));
                }
            }
            Op::Gather(x, dim, index) => {
                if self.diff[x] {
                    let dst = self.adj(x, &self.gather_index(v, x, dim, index));
                    let _ = writeln!(self.c, "  for (long i = 0; i < {}; i++) {dst} += {};", n.numel(), self.adj(v, "i"));
                }
            }
            Op::Cumulative(x, dim, product) => {
                if self.diff[x] {
                    let (len, inner) = (n.shape[dim], n.shape[dim + 1..].iter().product::<i64>());
                    let lines = n.numel() as i64 / len.max(1);
                    let (xo, gy, gx) = (self.l.value[x], self.l.adjoint[v].unwrap_or(0), self.l.adjoint[x].unwrap_or(0));
                    // A running sum's adjoint is the reversed running sum of dy; a running
                    // product's, exactly (zeros included): dx_i = sum_{j >= i} dy_j prod_{k <= j, k != i} x_k.
                    let body = if product {
                        format!("for (long i = 0; i < {len}; i++) {{ double s = 0.0; for (long j = i; j < {len}; j++) {{ double p = 1.0; for (long k = 0; k <= j; k++) if (k != i) p *= w[{xo} + base + k * {inner}]; s += w[{gy} + base + j * {inner}] * p; }} w[{gx} + base + i * {inner}] += s; }}")
                    } else {
                        format!(
                            "double s = 0.0; for (long i = {len} - 1; i >= 0; i--) {{ s += w[{gy} + base + i * {inner}]; w[{gx} + base + i * {inner}] += s; }}"
                        )
                    };
                    let _ = writeln!(self.c, "  for (long l = 0; l < {lines}; l++) {{ long base = (l / {inner}) * {} + l % {inner}; {body} }}", len * inner);
                }
            }
            Op::Diagonal(x) => {
                if self.diff[x] {
                    let d = n.shape.last().copied().unwrap_or(1);
                    let dst = format!("(i / {d}) * {} + (i % {d}) * {}", d * d, d + 1);
                    let _ = writeln!(self.c, "  for (long i = 0; i < {}; i++) {} += {};", n.numel(), self.adj(x, &dst), self.adj(v, "i"));
                }
            }
            Op::Transpose(x) => {
                if self.diff[x] {
                    let dst = self.adj(x, &transpose_index(&n.shape));
                    let _ = writeln!(self.c, "  for (long i = 0; i < {}; i++) {dst} += {};", n.numel(), self.adj(v, "i"));
                }
            }
            Op::MatMul(a, b, rows, inner, cols, transposed) => {
                let (ya, yb, gy) = (self.l.value[a], self.l.value[b], self.l.adjoint[v].unwrap_or(0));
                if uses_gemm(rows, inner, cols) {
                    // dA += dY op(B)^T; dB += A^T dY (or, held transposed, dY^T A).
                    let ldb = if transposed { inner } else { cols };
                    let gemm = self.gemm();
                    if let Some(ga) = self.l.adjoint[a] {
                        let _ = writeln!(
                            self.c,
                            "  {gemm}(0, {}, {rows}, {inner}, {cols}, w + {gy}, {cols}, w + {yb}, {ldb}, 1.0, w + {ga}, {inner});",
                            i32::from(!transposed)
                        );
                    }
                    if let Some(gb) = self.l.adjoint[b] {
                        if transposed {
                            let _ = writeln!(self.c, "  {gemm}(1, 0, {cols}, {inner}, {rows}, w + {gy}, {cols}, w + {ya}, {inner}, 1.0, w + {gb}, {inner});");
                        } else {
                            let _ = writeln!(self.c, "  {gemm}(1, 0, {inner}, {cols}, {rows}, w + {ya}, {inner}, w + {gy}, {cols}, 1.0, w + {gb}, {cols});");
                        }
                    }
                    return;
                }
                let bi = right_index(transposed, inner, cols);
                let (ea, eb) = (self.at(a, &format!("r * {inner} + q")), self.at(b, &bi));
                if self.diff[a] {
                    let da = self.adj(a, &format!("r * {inner} + q"));
                    let _ = writeln!(
                        self.c,
                        "  for (long r = 0; r < {rows}; r++) for (long q = 0; q < {inner}; q++) {{ double s = 0.0; for (long c = 0; c < {cols}; c++) s += w[{gy} + r * {cols} + c] * {eb}; {da} += s; }}"
                    );
                }
                if self.diff[b] {
                    let db = self.adj(b, &bi);
                    if cols == 1 && inner <= MATVEC_ACCUMULATORS {
                        // A^T dy, streaming A's rows once into accumulators the compiler can keep
                        // in registers (they alias nothing).
                        let db = self.adj(b, "q");
                        let _ = writeln!(
                            self.c,
                            "  {{ double acc[{inner}] = {{0.0}}; for (long r = 0; r < {rows}; r++) {{ double g = w[{gy} + r];\n    _Pragma(\"omp simd\") for (long q = 0; q < {inner}; q++) acc[q] += {ea} * g; }} for (long q = 0; q < {inner}; q++) {db} += acc[q]; }}"
                        );
                    } else {
                        let _ = writeln!(
                            self.c,
                            "  for (long q = 0; q < {inner}; q++) for (long c = 0; c < {cols}; c++) {{ double s = 0.0; for (long r = 0; r < {rows}; r++) s += {ea} * w[{gy} + r * {cols} + c]; {db} += s; }}"
                        );
                    }
                }
            }
            Op::SolveTriangular(a, b, upper, size, cols) => {
                // G = A^-T dX (a solve with the transpose, triangular the other way); then
                // dB += G and dA -= G X^T on A's triangle.
                let (ya, yx, gx) = (self.l.value[a], self.l.value[v], self.l.adjoint[v].unwrap_or(0));
                let (rows, inner) = if upper {
                    (format!("for (long r = 0; r < {size}; r++)"), "for (long q = 0; q < r; q++)".to_string())
                } else {
                    (format!("for (long r = {size} - 1; r >= 0; r--)"), format!("for (long q = r + 1; q < {size}; q++)"))
                };
                let _ = writeln!(self.c, "  {{ double g[{}];", size * cols);
                let _ = writeln!(
                    self.c,
                    "    for (long c = 0; c < {cols}; c++) {rows} {{ double s = w[{gx} + r * {cols} + c]; {inner} s -= w[{ya} + q * {size} + r] * g[q * {cols} + c]; g[r * {cols} + c] = s / w[{ya} + r * {size} + r]; }}"
                );
                if let Some(gb) = self.l.adjoint[b] {
                    let _ = writeln!(self.c, "    for (long i = 0; i < {}; i++) w[{gb} + i] += g[i];", size * cols);
                }
                if let Some(ga) = self.l.adjoint[a] {
                    let tri = if upper { "q >= r" } else { "q <= r" };
                    let _ = writeln!(
                        self.c,
                        "    for (long r = 0; r < {size}; r++) for (long q = 0; q < {size}; q++) if ({tri}) {{ double s = 0.0; for (long c = 0; c < {cols}; c++) s += g[r * {cols} + c] * w[{yx} + q * {cols} + c]; w[{ga} + r * {size} + q] -= s; }}"
                    );
                }
                let _ = writeln!(self.c, "  }}");
            }
            Op::Cholesky(a, size) => {
                // libtorch's (Murray 2016): P = tril(L^T dL), S = (P + tril(P, -1)^T) / 2,
                // dA += L^-T S L^-1 (symmetric).
                let (yl, gl) = (self.l.value[v], self.l.adjoint[v].unwrap_or(0));
                let Some(ga) = self.l.adjoint[a] else { return };
                let l = |r: &str, c: &str| format!("w[{yl} + ({r}) * {size} + ({c})]");
                let _ = writeln!(self.c, "  {{ double s[{nn}], x[{nn}];", nn = size * size);
                let _ = writeln!(
                    self.c,
                    "    for (long r = 0; r < {size}; r++) for (long c = 0; c <= r; c++) {{ double p = 0.0; for (long k = r; k < {size}; k++) p += {} * w[{gl} + k * {size} + c]; s[r * {size} + c] = 0.5 * p; s[c * {size} + r] = 0.5 * p; }}",
                    l("k", "r")
                );
                // X = L^-T S (back substitution with the upper L^T), then G = X L^-1 (columns
                // from the right), G kept in s.
                let _ = writeln!(
                    self.c,
                    "    for (long c = 0; c < {size}; c++) for (long r = {size} - 1; r >= 0; r--) {{ double t = s[r * {size} + c]; for (long q = r + 1; q < {size}; q++) t -= {} * x[q * {size} + c]; x[r * {size} + c] = t / {}; }}",
                    l("q", "r"),
                    l("r", "r")
                );
                let _ = writeln!(
                    self.c,
                    "    for (long r = 0; r < {size}; r++) for (long c = {size} - 1; c >= 0; c--) {{ double t = x[r * {size} + c]; for (long q = c + 1; q < {size}; q++) t -= s[r * {size} + q] * {}; s[r * {size} + c] = t / {}; }}",
                    l("q", "c"),
                    l("c", "c")
                );
                let _ = writeln!(self.c, "    for (long i = 0; i < {}; i++) w[{ga} + i] += s[i]; }}", size * size);
            }
            Op::Cat(parts, dim) => {
                let mut offset = 0;
                for p in parts {
                    if self.diff[p] && !self.placed_in(p, v) {
                        let src = self.cat_index(v, p, dim, offset);
                        let _ = writeln!(self.c, "  for (long i = 0; i < {}; i++) {} += {};", self.p.nodes[p].numel(), self.adj(p, "i"), self.adj(v, &src));
                    }
                    offset += self.shape(p)[dim];
                }
            }
            Op::IndexSelect(x, dim, idx) => {
                if self.diff[x] {
                    let dst = self.index_select_offset(v, x, dim, idx);
                    let _ = writeln!(self.c, "  for (long i = 0; i < {}; i++) {} += {};", n.numel(), self.adj(x, &dst), self.adj(v, "i"));
                }
            }
        }
    }
}

/// The C source of `p`'s kernel, its values stored in `precision` (see the module's
/// documentation).
pub fn generate(p: &Program, precision: Precision) -> String {
    let diff = differentiable(p);
    let plan = plan(p);
    let one_pass = one_pass_runs(p, &plan, &diff);
    let l = layout(p, &diff, &adjoints_in_memory(&plan), &one_pass);
    let copied = in_workspace(p);
    let live = live(p);
    let views = views(p, &plan, &live);
    let mut e = Emitter { p, l, diff, plan, one_pass, copied, views, c: String::new() };
    e.c.push_str("#include <math.h>\n#include <string.h>\n\n");
    e.c.push_str(VECTOR_MATH_DECLARATIONS);
    let _ = writeln!(e.c, "typedef {} real;", precision.c_type());
    e.c.push_str(crate::gemm::C_DECLARATION);
    e.c.push_str(DIGAMMA);
    e.c.push_str("double pyrite_kernel(const real *z, const real *noise, const void *const *consts, real *grad, real *w) {\n");
    // The constants' pointers, read once: a store into the workspace might otherwise alias
    // `consts` and force the compiler to reload them inside every loop (and to gather).
    for (k, storage) in p.const_storage.iter().enumerate() {
        let ty = match storage {
            Storage::F64 => "double",
            Storage::F32 => "float",
            Storage::I32 => "int",
        };
        let _ = writeln!(e.c, "  const {ty} *const pc{k} = (const {ty} *)consts[{k}]; (void)pc{k};");
    }
    for (v, n) in p.nodes.iter().enumerate() {
        match (e.plan.group[v], e.plan.absorbed[v], e.plan.hoisted[v]) {
            (None, None, None) if live[v] => e.forward(v, n),
            (Some(g), _, _) if e.plan.groups[g].0 == v => {
                // The values the run does not read from are computed first.
                let hoisted: Vec<usize> = (v..e.plan.groups[g].1).filter(|&u| e.plan.hoisted[u] == Some(g)).collect();
                for u in hoisted {
                    e.forward(u, &p.nodes[u]);
                }
                e.fused_forward(g);
            }
            _ => {}
        }
    }
    let out = e.at(p.output, "0");
    let _ = writeln!(e.c, "  double result = {out};");
    let _ = writeln!(e.c, "  for (long i = 0; i < {}; i++) grad[i] = 0.0;", p.input_len);
    if e.diff[p.output] {
        let first_adjoint = e.l.adjoints_start;
        let _ = writeln!(e.c, "  memset(w + {first_adjoint}, 0, sizeof(real) * {});", e.l.len - first_adjoint);
        let _ = writeln!(e.c, "  {} = 1.0;", e.adj(p.output, "0"));
        for (v, n) in p.nodes.iter().enumerate().rev() {
            match (e.plan.group[v], e.plan.absorbed[v]) {
                (None, None) => e.backward(v, n),
                (Some(g), _) if e.plan.groups[g].1 - 1 == v => e.fused_backward(g),
                _ => {}
            }
        }
        for (v, n) in p.nodes.iter().enumerate() {
            if let (Op::Input(offset), true, false) = (&n.op, e.diff[v], adjoint_in_grad(p, &e.copied, v)) {
                let _ = writeln!(e.c, "  for (long i = 0; i < {}; i++) grad[{offset} + i] = {};", n.numel(), e.adj(v, "i"));
            }
        }
    }
    e.c.push_str("  return result;\n}\n");
    e.c
}
