//! Lowering: the traced aten graph becomes a [`Program`] of a few kinds of tensor operations on
//! static shapes (elementwise maps with broadcasting, reductions, gathers), every value in
//! double precision. An operation outside that set stops the lowering with its name.

use std::collections::HashMap;

use serde_json::Value;

use crate::ir::{Graph, Type};

/// An elementwise function of one tensor (scalar operands folded in).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    Neg,
    Exp,
    Log,
    Log1p,
    Expm1,
    Sigmoid,
    /// `log(sigmoid(x))`.
    LogSigmoid,
    Softplus {
        beta: f64,
        threshold: f64,
    },
    Abs,
    Sqrt,
    Square,
    Reciprocal,
    Tanh,
    /// `max(x, 0)`.
    Relu,
    /// `log|Γ(x)|`.
    Lgamma,
    Clamp {
        min: f64,
        max: f64,
    },
    /// `a * x + b`.
    Affine {
        a: f64,
        b: f64,
    },
    /// `x / c`.
    DivBy(f64),
    /// `c / x`... as `aten::div(Scalar, Tensor)` never appears, only `x ^ p`.
    Pow(f64),
    /// 1 where `x != 0`, else 0 (a cast to bool).
    NonZero,
    /// `x` truncated toward zero (a cast to an integer type).
    Trunc,
    LogicalNot,
    /// `x OP c` as 1 or 0.
    Compare(Cmp, f64),
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
}

/// An elementwise function of two broadcast tensors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binary {
    /// `a + alpha * b`.
    Add(f64),
    /// `b - alpha * a` (`aten::rsub`).
    RSub(f64),
    Mul,
    Div,
    Pow,
    Compare(Cmp),
    And,
    Or,
    Max,
    Min,
    /// `x * log(y)`, 0 where `x` is 0.
    Xlogy,
    /// `x * log1p(y)`, 0 where `x` is 0.
    Xlog1py,
}

/// One operation of a [`Program`]; operands are value indices.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A slice of the flat input vector `z`, from this offset.
    Input(usize),
    /// A slice of the noise vector (standard normal draws made outside the kernel, one
    /// [`Program::noise`] entry each), from this offset.
    Noise(usize),
    /// The constant tensor of this index (its values are passed at run time).
    Const(usize),
    /// Every element this number.
    Fill(f64),
    Unary(Unary, usize),
    Binary(Binary, usize, usize),
    /// `s + v * t1 * t2`.
    Addcmul(f64, usize, usize, usize),
    /// `c ? a : b`.
    Where(usize, usize, usize),
    /// `mask ? v : x`.
    MaskedFill(usize, usize, f64),
    /// Broadcast to the value's shape.
    Expand(usize),
    /// Same elements, another shape.
    Reshape(usize),
    /// Same elements, no gradient.
    Detach(usize),
    /// Sum over `dims` of the operand's shape (the value's shape without them, or with 1s).
    Sum(usize, Vec<usize>),
    /// `log(sum(exp))` over `dims`.
    LogSumExp(usize, Vec<usize>),
    /// `x.index_select(dim, index)`, index a value of integers.
    IndexSelect(usize, usize, usize),
    /// The operands joined along a dim (`aten::cat`; `aten::stack` after unsqueezing).
    Cat(Vec<usize>, usize),
    /// Every `step`-th element along `dim` from `start` (`aten::slice`, `aten::narrow`).
    Slice(usize, usize, i64, i64),
    /// The elements at `index` along `dim`, which goes (`aten::select`).
    Select(usize, usize, i64),
    /// The lower (`true`) or upper triangle of the last two dims, from diagonal `k` on
    /// (`aten::tril`, `aten::triu`).
    Triangle(usize, bool, i64),
    /// The main diagonal of the last two dims (`aten::diagonal`).
    Diagonal(usize),
    /// `y[.., j, ..] = x[.., index[.., j, ..], ..]` along `dim`, `y` of the index's shape
    /// (`aten::gather`).
    Gather(usize, usize, usize),
    /// Running products along a dim (`aten::cumprod`), or sums (`aten::cumsum`) with `false`.
    Cumulative(usize, usize, bool),
    /// The last two dims swapped (`aten::transpose`, `aten::t`).
    Transpose(usize),
    /// The matrix product of a `[n, k]` and a `[k, m]` matrix (`aten::matmul`, `aten::mm`; a
    /// vector operand is a matrix of one row or column): `(a, b, n, k, m, t)`, with `b` held as
    /// its `[m, k]` transpose when `t` (a linear layer's `x W^T`).
    MatMul(usize, usize, i64, i64, i64, bool),
    /// `X` with `A X = B` for a triangular `[n, n]` matrix `A` and a `[n, m]` matrix `B`
    /// (`aten::linalg_solve_triangular`, left side): `(a, b, upper, n, m)`.
    SolveTriangular(usize, usize, bool, i64, i64),
    /// The lower Cholesky factor `L` (`A = L L^T`) of a symmetric positive-definite `[n, n]`
    /// matrix, read from its lower triangle (`aten::linalg_cholesky`, `aten::cholesky`):
    /// `(a, n)`. A matrix without a factor gives NaNs (rejected by the caller as a non-finite
    /// value; libtorch raises an error there).
    Cholesky(usize, i64),
}

/// A value: its operation and shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub shape: Vec<i64>,
}

impl Node {
    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product::<i64>() as usize
    }
}

/// A lowered computation: values in execution order; the output is a one-element value.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub nodes: Vec<Node>,
    pub output: usize,
    /// The length of the flat input vector.
    pub input_len: usize,
    /// The constant tensors' values, flattened, as doubles.
    pub consts: Vec<Vec<f64>>,
    /// How the kernel stores each constant (the narrowest type that holds its values exactly).
    pub const_storage: Vec<Storage>,
    /// The standard normal draws the traced code made (`aten::randn`), in order: shape and
    /// dtype name. The caller draws them anew for each call, in this order, after the data.
    pub noise: Vec<(Vec<i64>, String)>,
    /// The data inputs (the graph's last inputs, when asked for): shape and dtype name. They
    /// come first in the kernel's noise vector (not differentiated), the caller's values for
    /// each call.
    pub data: Vec<(Vec<i64>, String)>,
}

/// How a constant is stored for the kernel: its values exactly, in as few bytes as they allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    F64,
    F32,
    I32,
}

impl Storage {
    /// The storage for a constant of dtype `dtype` holding `values`.
    pub fn of(dtype: Option<&str>, values: &[f64]) -> Storage {
        let integral = values.iter().all(|v| v.fract() == 0.0 && v.abs() < 2f64.powi(31));
        match dtype {
            Some("float32") => Storage::F32,
            Some("int64" | "int32" | "bool") if integral => Storage::I32,
            _ => Storage::F64,
        }
    }
}

impl Program {
    /// The length of the kernel's noise vector: the data, then the draws.
    pub fn noise_len(&self) -> usize {
        self.data_len() + self.noise.iter().map(|(s, _)| s.iter().product::<i64>() as usize).sum::<usize>()
    }

    /// How many values of the noise vector are data.
    pub fn data_len(&self) -> usize {
        self.data.iter().map(|(s, _)| s.iter().product::<i64>() as usize).sum()
    }
}

/// What a graph value is, while lowering.
#[derive(Debug, Clone)]
enum Val {
    Tensor(usize),
    Int(i64),
    Float(f64),
    Bool(bool),
    Ints(Vec<i64>),
    /// A list of tensors (`aten::cat`'s and `aten::stack`'s operand).
    Tensors(Vec<usize>),
    None,
    Other,
}

/// Why a graph cannot be lowered: the operation (or feature) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported(pub String);

struct Lowering {
    nodes: Vec<Node>,
    consts: Vec<Vec<f64>>,
    const_storage: Vec<Storage>,
    env: HashMap<usize, Val>,
    /// Whether `aten::randn` becomes a noise input (else it is unsupported).
    noise_allowed: bool,
    noise: Vec<(Vec<i64>, String)>,
    noise_len: usize,
    /// The traced dtype of each tensor value that has one.
    dtypes: HashMap<usize, String>,
    /// Each value but the inputs, by its operation, shape and dtype (see [`Lowering::push`]).
    computed: HashMap<String, usize>,
    /// The traced dtype of the operation being lowered.
    lowering_dtype: Option<String>,
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == "inf" => Some(f64::INFINITY),
        Value::String(s) if s == "-inf" => Some(f64::NEG_INFINITY),
        Value::String(s) if s == "nan" => Some(f64::NAN),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// The broadcast shape of two shapes (right-aligned).
pub fn broadcast(a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
            let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
            match (da, db) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

impl Lowering {
    /// Adds a value, or returns the one already computed the same way: every operation but the
    /// inputs is a pure function of its operands, so a repeat (a closure that recomputes `-k` or
    /// `v / 2` at each of an ODE solver's stages) is computed once. The traced dtype is part of
    /// "the same way": a cast to float and a view of a boolean mask are both reshapes of it,
    /// but only the mask may index a tensor as a mask.
    fn push(&mut self, op: Op, shape: Vec<i64>) -> usize {
        let key = match op {
            Op::Input(_) | Op::Noise(_) | Op::Const(_) => None,
            _ => Some(format!("{op:?} {shape:?} {:?}", self.lowering_dtype)),
        };
        if let Some(&t) = key.as_ref().and_then(|k| self.computed.get(k)) {
            return t;
        }
        self.nodes.push(Node { op, shape });
        let t = self.nodes.len() - 1;
        if let Some(k) = key {
            self.computed.insert(k, t);
        }
        t
    }

    fn get(&self, id: usize) -> Result<&Val, Unsupported> {
        self.env.get(&id).ok_or_else(|| Unsupported(format!("value %{id} is used before it is defined")))
    }

    fn tensor(&self, id: usize) -> Option<usize> {
        match self.env.get(&id) {
            Some(Val::Tensor(t)) => Some(*t),
            _ => None,
        }
    }

    fn scalar(&self, id: usize) -> Option<f64> {
        match self.env.get(&id) {
            Some(Val::Int(i)) => Some(*i as f64),
            Some(Val::Float(x)) => Some(*x),
            Some(Val::Bool(b)) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    fn ints(&self, id: usize) -> Option<Vec<i64>> {
        match self.env.get(&id) {
            Some(Val::Ints(v)) => Some(v.clone()),
            Some(Val::Int(i)) => Some(vec![*i]),
            _ => None,
        }
    }

    fn shape(&self, t: usize) -> &[i64] {
        &self.nodes[t].shape
    }

    /// A tensor operand, or a scalar one as a one-element fill.
    fn tensor_or_scalar(&mut self, id: usize) -> Option<usize> {
        if let Some(t) = self.tensor(id) {
            return Some(t);
        }
        let x = self.scalar(id)?;
        Some(self.push(Op::Fill(x), vec![]))
    }

    /// Normalises reduction dims (negative from the end) against `rank`.
    fn dims(&self, id: usize, rank: usize) -> Option<Vec<usize>> {
        match self.env.get(&id) {
            Some(Val::None) => Some((0..rank).collect()),
            _ => {
                let mut d: Vec<usize> = self.ints(id)?.into_iter().map(|d| if d < 0 { (d + rank as i64) as usize } else { d as usize }).collect();
                if d.is_empty() {
                    d = (0..rank).collect();
                }
                d.sort_unstable();
                d.dedup();
                d.iter().all(|&x| x < rank).then_some(d)
            }
        }
    }

    fn lower_node(&mut self, n: &crate::ir::Node) -> Result<(), Unsupported> {
        let unsupported = |why: &str| Unsupported(format!("{} ({why})", n.op));
        if n.has_blocks {
            return Err(unsupported("control flow"));
        }
        let out_shape = || -> Option<Vec<i64>> {
            match n.outputs.first().map(|o| &o.1) {
                Some(Type::Tensor { shape: Some(s), .. }) => Some(s.clone()),
                _ => None,
            }
        };
        let out_dtype = || -> Option<String> {
            match n.outputs.first().map(|o| &o.1) {
                Some(Type::Tensor { dtype, .. }) => dtype.clone(),
                _ => None,
            }
        };
        let out_id = n.outputs.first().map(|o| o.0).ok_or_else(|| unsupported("no output"))?;
        self.lowering_dtype = out_dtype();
        let i = &n.inputs;
        let arg = |k: usize| i.get(k).copied().ok_or_else(|| unsupported("too few operands"));
        let val = match n.op.as_str() {
            "prim::Constant" => {
                let v = n.value.clone().unwrap_or(Value::Null);
                match &n.outputs[0].1 {
                    Type::Tensor { .. } => {
                        let obj = v.as_object().ok_or_else(|| unsupported("constant tensor without values"))?;
                        let shape: Vec<i64> =
                            obj.get("shape").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
                        let values: Vec<f64> = obj.get("values").and_then(Value::as_array).map(|a| a.iter().filter_map(number).collect()).unwrap_or_default();
                        if values.len() != shape.iter().product::<i64>() as usize {
                            return Err(unsupported("constant tensor with unreadable values"));
                        }
                        let dtype = match &n.outputs[0].1 {
                            Type::Tensor { dtype, .. } => dtype.clone(),
                            _ => None,
                        };
                        self.const_storage.push(Storage::of(dtype.as_deref(), &values));
                        self.consts.push(values);
                        let k = self.consts.len() - 1;
                        Val::Tensor(self.push(Op::Const(k), shape))
                    }
                    Type::Int => Val::Int(v.as_i64().ok_or_else(|| unsupported("int constant"))?),
                    Type::Float => Val::Float(number(&v).ok_or_else(|| unsupported("float constant"))?),
                    Type::Bool => Val::Bool(v.as_bool().ok_or_else(|| unsupported("bool constant"))?),
                    Type::NoneType => Val::None,
                    Type::List => match v.as_array() {
                        Some(a) if a.iter().all(Value::is_i64) => Val::Ints(a.iter().filter_map(Value::as_i64).collect()),
                        _ => Val::Other,
                    },
                    _ => Val::Other,
                }
            }
            "prim::ListConstruct" => {
                if i.iter().all(|&x| matches!(self.env.get(&x), Some(Val::Int(_)))) {
                    Val::Ints(i.iter().filter_map(|&x| self.scalar(x)).map(|x| x as i64).collect())
                } else if i.iter().all(|&x| self.tensor(x).is_some()) {
                    Val::Tensors(i.iter().filter_map(|&x| self.tensor(x)).collect())
                } else {
                    return Err(unsupported("a list of neither ints nor tensors"));
                }
            }
            op => {
                let shape = out_shape().ok_or_else(|| unsupported("an output of unknown shape"))?;
                let x0 = i.first().and_then(|&a| self.tensor(a));
                let unary = |u: Unary, s: &mut Self| -> Result<Val, Unsupported> {
                    let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                    Ok(Val::Tensor(s.push(Op::Unary(u, x), shape.clone())))
                };
                match op {
                    "aten::neg" => unary(Unary::Neg, self)?,
                    "aten::exp" => unary(Unary::Exp, self)?,
                    // `log(exp(y))` is `y` (a positive param's log-scale, read back by its
                    // log-density): no pass of `log`, and no overflow.
                    "aten::log" => match x0.map(|x| &self.nodes[x].op) {
                        Some(&Op::Unary(Unary::Exp, y)) => Val::Tensor(self.push(Op::Reshape(y), shape)),
                        _ => unary(Unary::Log, self)?,
                    },
                    "aten::log1p" => unary(Unary::Log1p, self)?,
                    "aten::expm1" => unary(Unary::Expm1, self)?,
                    "aten::sigmoid" => unary(Unary::Sigmoid, self)?,
                    "aten::log_sigmoid" => unary(Unary::LogSigmoid, self)?,
                    "aten::abs" => unary(Unary::Abs, self)?,
                    "aten::sqrt" => unary(Unary::Sqrt, self)?,
                    "aten::square" => unary(Unary::Square, self)?,
                    "aten::reciprocal" => unary(Unary::Reciprocal, self)?,
                    "aten::tanh" => unary(Unary::Tanh, self)?,
                    "aten::relu" => unary(Unary::Relu, self)?,
                    "aten::lgamma" => unary(Unary::Lgamma, self)?,
                    "aten::logical_not" => unary(Unary::LogicalNot, self)?,
                    "aten::softplus" => {
                        let beta = self.scalar(arg(1)?).ok_or_else(|| unsupported("beta"))?;
                        let threshold = self.scalar(arg(2)?).ok_or_else(|| unsupported("threshold"))?;
                        unary(Unary::Softplus { beta, threshold }, self)?
                    }
                    "aten::clamp" | "aten::clamp_min" | "aten::clamp_max" => {
                        let lo = if op == "aten::clamp_max" { None } else { i.get(1).and_then(|&x| self.scalar(x)) };
                        let hi = match op {
                            "aten::clamp" => i.get(2).and_then(|&x| self.scalar(x)),
                            "aten::clamp_max" => i.get(1).and_then(|&x| self.scalar(x)),
                            _ => None,
                        };
                        if i.get(1).is_some_and(|&x| self.tensor(x).is_some()) || i.get(2).is_some_and(|&x| self.tensor(x).is_some()) {
                            return Err(unsupported("tensor bounds"));
                        }
                        unary(Unary::Clamp { min: lo.unwrap_or(f64::NEG_INFINITY), max: hi.unwrap_or(f64::INFINITY) }, self)?
                    }
                    "aten::pow" => match (self.tensor(arg(0)?), self.scalar(arg(1)?)) {
                        (Some(_), Some(p)) => unary(Unary::Pow(p), self)?,
                        _ => self.binary(Binary::Pow, arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                    },
                    "aten::add" | "aten::sub" => {
                        let alpha = i.get(2).and_then(|&x| self.scalar(x)).unwrap_or(1.0);
                        let alpha = if op == "aten::sub" { -alpha } else { alpha };
                        match (self.tensor(arg(0)?), self.scalar(arg(1)?)) {
                            (Some(_), Some(c)) => unary(Unary::Affine { a: 1.0, b: alpha * c }, self)?,
                            _ => self.binary(Binary::Add(alpha), arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                        }
                    }
                    "aten::rsub" => {
                        let alpha = i.get(2).and_then(|&x| self.scalar(x)).unwrap_or(1.0);
                        match (self.tensor(arg(0)?), self.scalar(arg(1)?)) {
                            (Some(_), Some(c)) => unary(Unary::Affine { a: -alpha, b: c }, self)?,
                            _ => self.binary(Binary::RSub(alpha), arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                        }
                    }
                    "aten::mul" => match (self.tensor(arg(0)?), self.scalar(arg(1)?)) {
                        (Some(_), Some(c)) => unary(Unary::Affine { a: c, b: 0.0 }, self)?,
                        _ => self.binary(Binary::Mul, arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                    },
                    "aten::div" => {
                        if i.len() > 2 && !matches!(self.env.get(&i[2]), Some(Val::None)) {
                            return Err(unsupported("a rounding mode"));
                        }
                        match (self.tensor(arg(0)?), self.scalar(arg(1)?)) {
                            (Some(_), Some(c)) => unary(Unary::DivBy(c), self)?,
                            _ => self.binary(Binary::Div, arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                        }
                    }
                    "aten::ge" | "aten::gt" | "aten::le" | "aten::lt" | "aten::eq" | "aten::ne" => {
                        let c = match op {
                            "aten::ge" => Cmp::Ge,
                            "aten::gt" => Cmp::Gt,
                            "aten::le" => Cmp::Le,
                            "aten::lt" => Cmp::Lt,
                            "aten::eq" => Cmp::Eq,
                            _ => Cmp::Ne,
                        };
                        match (self.tensor(arg(0)?), self.scalar(arg(1)?)) {
                            (Some(_), Some(x)) => unary(Unary::Compare(c, x), self)?,
                            _ => self.binary(Binary::Compare(c), arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                        }
                    }
                    "aten::xlogy" => self.binary(Binary::Xlogy, arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                    "aten::special_xlog1py" | "aten::xlog1py" => {
                        self.binary(Binary::Xlog1py, arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?
                    }
                    "aten::logical_and" => self.binary(Binary::And, arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                    "aten::logical_or" => self.binary(Binary::Or, arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                    "aten::maximum" | "aten::max.other" => self.binary(Binary::Max, arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                    "aten::minimum" | "aten::min.other" => self.binary(Binary::Min, arg(0)?, arg(1)?, shape).ok_or_else(|| unsupported("operands"))?,
                    "aten::addcmul" => {
                        let (s, a, b) = (self.tensor_or_scalar(arg(0)?), self.tensor_or_scalar(arg(1)?), self.tensor_or_scalar(arg(2)?));
                        let v = i.get(3).and_then(|&x| self.scalar(x)).unwrap_or(1.0);
                        match (s, a, b) {
                            (Some(s), Some(a), Some(b)) => Val::Tensor(self.push(Op::Addcmul(v, s, a, b), shape)),
                            _ => return Err(unsupported("operands")),
                        }
                    }
                    "aten::where" => match (self.tensor_or_scalar(arg(0)?), self.tensor_or_scalar(arg(1)?), self.tensor_or_scalar(arg(2)?)) {
                        (Some(c), Some(a), Some(b)) => Val::Tensor(self.push(Op::Where(c, a, b), shape)),
                        _ => return Err(unsupported("operands")),
                    },
                    "aten::masked_fill" => match (x0, self.tensor(arg(1)?), self.scalar(arg(2)?)) {
                        (Some(x), Some(m), Some(v)) => Val::Tensor(self.push(Op::MaskedFill(x, m, v), shape)),
                        _ => return Err(unsupported("a tensor fill value")),
                    },
                    // A value read on the host may have steered the model's control flow, which
                    // the trace cannot follow.
                    op if HOST_READS.contains(&op) => {
                        return Err(unsupported("a tensor read on the host inside the model (its value may steer what the model does)"))
                    }
                    // Host data enters a traced region as `aten::zeros` (or `empty`) followed by a
                    // copy the tracer does not see (`Tensor::from_slice`): never trusted.
                    "aten::zeros" | "aten::empty" | "aten::new_zeros" | "aten::new_empty" | "aten::empty_like" => {
                        return Err(unsupported("a tensor made inside the model, which may hold host data the trace cannot see: make it before the model runs"))
                    }
                    "aten::zeros_like" => Val::Tensor(self.push(Op::Fill(0.0), shape)),
                    "aten::ones_like" | "aten::ones" => Val::Tensor(self.push(Op::Fill(1.0), shape)),
                    "aten::full_like" | "aten::full" => {
                        let v = self.scalar(arg(1)?).ok_or_else(|| unsupported("fill value"))?;
                        Val::Tensor(self.push(Op::Fill(v), shape))
                    }
                    "aten::randn" if self.noise_allowed => {
                        let offset = self.noise_len;
                        self.noise_len += shape.iter().product::<i64>() as usize;
                        self.noise.push((shape.clone(), out_dtype().unwrap_or_else(|| "float32".into())));
                        Val::Tensor(self.push(Op::Noise(offset), shape))
                    }
                    "aten::arange" => {
                        let numbers: Vec<f64> = i.iter().map_while(|&x| self.scalar(x)).collect();
                        let (start, step) = match numbers.len() {
                            // arange(end, dtype?, ...) with the dtype an int: only `end` counts.
                            _ if i.len() == 5 => (0.0, 1.0),
                            _ if i.len() == 6 => (numbers.first().copied().unwrap_or(0.0), 1.0),
                            _ if i.len() == 7 => (numbers.first().copied().unwrap_or(0.0), numbers.get(2).copied().unwrap_or(1.0)),
                            _ => return Err(unsupported("operands")),
                        };
                        let n = shape.iter().product::<i64>();
                        self.consts.push((0..n).map(|k| start + step * k as f64).collect());
                        self.const_storage.push(Storage::F64);
                        let k = self.consts.len() - 1;
                        Val::Tensor(self.push(Op::Const(k), shape))
                    }
                    "aten::scalar_tensor" => {
                        let v = self.scalar(arg(0)?).ok_or_else(|| unsupported("value"))?;
                        Val::Tensor(self.push(Op::Fill(v), shape))
                    }
                    "aten::to" | "aten::type_as" | "aten::contiguous" | "aten::clone" | "aten::alias" | "aten::resolve_conj" | "aten::resolve_neg" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        match out_dtype().as_deref() {
                            Some("bool") => Val::Tensor(self.push(Op::Unary(Unary::NonZero, x), shape)),
                            Some("int64" | "int32") => Val::Tensor(self.push(Op::Unary(Unary::Trunc, x), shape)),
                            Some("float32" | "float64") => Val::Tensor(self.push(Op::Reshape(x), shape)),
                            other => return Err(unsupported(&format!("dtype {other:?}"))),
                        }
                    }
                    "aten::detach" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        Val::Tensor(self.push(Op::Detach(x), shape))
                    }
                    "aten::view" | "aten::reshape" | "aten::unsqueeze" | "aten::squeeze" | "aten::flatten" | "aten::view_as" | "aten::reshape_as"
                    | "aten::unflatten" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        if self.nodes[x].numel() != shape.iter().product::<i64>() as usize {
                            return Err(unsupported("a reshape changing the number of elements"));
                        }
                        Val::Tensor(self.push(Op::Reshape(x), shape))
                    }
                    "aten::expand" | "aten::expand_as" | "aten::broadcast_to" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        if broadcast(self.shape(x), &shape).as_deref() != Some(shape.as_slice()) {
                            return Err(unsupported("an expand that is not a broadcast"));
                        }
                        Val::Tensor(self.push(Op::Expand(x), shape))
                    }
                    "aten::sum" | "aten::mean" | "aten::logsumexp" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        let rank = self.shape(x).len();
                        // `sum(x, dtype)` has an int or None second operand; `sum(x, dims, keepdim, dtype)` a list.
                        let dims = match i.get(1).map(|&d| self.env.get(&d)) {
                            None | Some(Some(Val::None)) => (0..rank).collect(),
                            Some(Some(Val::Int(_))) if op == "aten::sum" && i.len() == 2 => (0..rank).collect(),
                            Some(_) => self.dims(arg(1)?, rank).ok_or_else(|| unsupported("dims"))?,
                        };
                        let node = match op {
                            "aten::logsumexp" => Op::LogSumExp(x, dims.clone()),
                            _ => Op::Sum(x, dims.clone()),
                        };
                        let s = self.push(node, shape.clone());
                        if op == "aten::mean" {
                            let count: i64 = dims.iter().map(|&d| self.shape(x)[d]).product();
                            Val::Tensor(self.push(Op::Unary(Unary::DivBy(count as f64), s), shape))
                        } else {
                            Val::Tensor(s)
                        }
                    }
                    // Whether every (some) element along dims is true: no element false (a count
                    // of the false ones is 0), some true (a count of the true ones above 0).
                    "aten::all" | "aten::any" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        let xs = self.shape(x).to_vec();
                        let rank = xs.len();
                        let dims = match i.get(1).map(|&d| self.env.get(&d)) {
                            None | Some(Some(Val::None)) => (0..rank).collect(),
                            Some(Some(Val::Int(d))) => vec![if *d < 0 { (*d + rank as i64) as usize } else { *d as usize }],
                            Some(_) => self.dims(arg(1)?, rank).ok_or_else(|| unsupported("dims"))?,
                        };
                        let (marked, test) = if op == "aten::all" { (Unary::LogicalNot, Cmp::Eq) } else { (Unary::NonZero, Cmp::Gt) };
                        let marked = self.push(Op::Unary(marked, x), xs);
                        let count = self.push(Op::Sum(marked, dims), shape.clone());
                        Val::Tensor(self.push(Op::Unary(Unary::Compare(test, 0.0), count), shape))
                    }
                    "aten::cat" | "aten::stack" => {
                        let parts = match self.get(arg(0)?)? {
                            Val::Tensors(parts) => parts.clone(),
                            _ => return Err(unsupported("operands")),
                        };
                        let rank = shape.len() as i64;
                        let d = i.get(1).and_then(|&x| self.scalar(x)).unwrap_or(0.0) as i64;
                        let d = if d < 0 { d + rank } else { d } as usize;
                        let parts = if op == "aten::stack" {
                            parts
                                .into_iter()
                                .map(|p| {
                                    let mut s = self.shape(p).to_vec();
                                    s.insert(d, 1);
                                    self.push(Op::Reshape(p), s)
                                })
                                .collect()
                        } else {
                            parts
                        };
                        if parts.iter().any(|&p| self.shape(p).len() != shape.len()) {
                            return Err(unsupported("operands of another rank"));
                        }
                        Val::Tensor(self.push(Op::Cat(parts, d), shape))
                    }
                    "aten::cumprod" | "aten::cumsum" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        let rank = self.shape(x).len() as i64;
                        let d = i.get(1).and_then(|&v| self.scalar(v)).ok_or_else(|| unsupported("dim"))? as i64;
                        let d = if d < 0 { d + rank } else { d };
                        if !(0..rank).contains(&d) {
                            return Err(unsupported("dim"));
                        }
                        Val::Tensor(self.push(Op::Cumulative(x, d as usize, op == "aten::cumprod"), shape))
                    }
                    "aten::eye" => {
                        let n = shape.first().copied().ok_or_else(|| unsupported("shape"))?;
                        let m = shape.get(1).copied().unwrap_or(n);
                        self.consts.push((0..n * m).map(|k| if k / m == k % m { 1.0 } else { 0.0 }).collect());
                        self.const_storage.push(Storage::F64);
                        let k = self.consts.len() - 1;
                        Val::Tensor(self.push(Op::Const(k), shape))
                    }
                    "aten::tril" | "aten::triu" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        if shape.len() < 2 {
                            return Err(unsupported("fewer than two dims"));
                        }
                        let k = i.get(1).and_then(|&v| self.scalar(v)).unwrap_or(0.0) as i64;
                        Val::Tensor(self.push(Op::Triangle(x, op == "aten::tril", k), shape))
                    }
                    "aten::diagonal" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        let rank = self.shape(x).len() as i64;
                        let offset = i.get(1).and_then(|&v| self.scalar(v)).unwrap_or(0.0) as i64;
                        let norm = |d: f64| if d < 0.0 { d as i64 + rank } else { d as i64 };
                        let d1 = norm(i.get(2).and_then(|&v| self.scalar(v)).unwrap_or(0.0));
                        let d2 = norm(i.get(3).and_then(|&v| self.scalar(v)).unwrap_or(1.0));
                        let xs = self.shape(x);
                        if offset != 0 || d1 != rank - 2 || d2 != rank - 1 || xs[xs.len() - 1] != xs[xs.len() - 2] {
                            return Err(unsupported("a diagonal other than the main one of square last two dims"));
                        }
                        Val::Tensor(self.push(Op::Diagonal(x), shape))
                    }
                    "aten::transpose" | "aten::t" | "aten::permute" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        let rank = self.shape(x).len() as i64;
                        let norm = |d: i64| if d < 0 { d + rank } else { d };
                        let swapped = match op {
                            "aten::t" => vec![0, 1],
                            "aten::transpose" => {
                                let d = |k: usize| i.get(k).and_then(|&v| self.scalar(v)).map(|v| norm(v as i64));
                                let (d0, d1) = (d(1).ok_or_else(|| unsupported("dims"))?, d(2).ok_or_else(|| unsupported("dims"))?);
                                vec![d0.min(d1), d0.max(d1)]
                            }
                            _ => {
                                let perm: Vec<i64> = self.ints(arg(1)?).ok_or_else(|| unsupported("dims"))?.into_iter().map(norm).collect();
                                if perm.len() != rank as usize || perm.iter().any(|&d| !(0..rank).contains(&d)) {
                                    return Err(unsupported("dims"));
                                }
                                let moved: Vec<i64> = (0..rank).filter(|&d| perm[d as usize] != d).collect();
                                if moved.len() == 2 && perm[moved[0] as usize] == moved[1] {
                                    moved
                                } else if moved.is_empty() {
                                    vec![]
                                } else {
                                    return Err(unsupported("a permutation other than a swap of the last two dims"));
                                }
                            }
                        };
                        match swapped.as_slice() {
                            // Nothing moves (a vector's `t`, a dim with itself).
                            [] => Val::Tensor(self.push(Op::Reshape(x), shape)),
                            [a, b] if a == b || rank < 2 => Val::Tensor(self.push(Op::Reshape(x), shape)),
                            [a, b] if *a == rank - 2 && *b == rank - 1 => Val::Tensor(self.push(Op::Transpose(x), shape)),
                            _ => return Err(unsupported("a transpose of other dims than the last two")),
                        }
                    }
                    "aten::matmul" | "aten::mm" | "aten::mv" => {
                        let (a, b) = (x0.ok_or_else(|| unsupported("operands"))?, self.tensor(arg(1)?).ok_or_else(|| unsupported("operands"))?);
                        // `x W^T`: the product reads `W` itself (the transpose is then unused).
                        let (b, transposed) = match self.nodes[b].op {
                            Op::Transpose(w) if self.shape(w).len() == 2 => (w, true),
                            _ => (b, false),
                        };
                        let (sa, sb) = (self.shape(a).to_vec(), self.shape(b).to_vec());
                        let (n, k) = match sa.as_slice() {
                            [k] => (1, *k),
                            [n, k] => (*n, *k),
                            _ => return Err(unsupported("batched operands")),
                        };
                        let (k2, m) = match (sb.as_slice(), transposed) {
                            ([k], _) => (*k, 1),
                            ([k, m], false) => (*k, *m),
                            ([m, k], true) => (*k, *m),
                            _ => return Err(unsupported("batched operands")),
                        };
                        if k != k2 || shape.iter().product::<i64>() != n * m {
                            return Err(unsupported("operands of mismatched shapes"));
                        }
                        Val::Tensor(self.push(Op::MatMul(a, b, n, k, m, transposed), shape))
                    }
                    // A linear layer, `x W^T + b` (tch's `nn::Linear`): the product reads `W` in
                    // place, the bias is broadcast over the rows.
                    "aten::linear" => {
                        let (x, w) = (x0.ok_or_else(|| unsupported("operands"))?, self.tensor(arg(1)?).ok_or_else(|| unsupported("operands"))?);
                        let (sx, sw) = (self.shape(x).to_vec(), self.shape(w).to_vec());
                        let (n, k) = match sx.as_slice() {
                            [k] => (1, *k),
                            [n, k] => (*n, *k),
                            _ => return Err(unsupported("batched operands")),
                        };
                        let (m, k2) = match sw.as_slice() {
                            [m, k2] => (*m, *k2),
                            _ => return Err(unsupported("a weight that is not a matrix")),
                        };
                        if k != k2 || shape.iter().product::<i64>() != n * m {
                            return Err(unsupported("operands of mismatched shapes"));
                        }
                        let product = self.push(Op::MatMul(x, w, n, k, m, true), shape.clone());
                        match i.get(2).and_then(|&b| self.tensor(b)) {
                            Some(bias) => Val::Tensor(self.push(Op::Binary(Binary::Add(1.0), product, bias), shape)),
                            None => Val::Tensor(product),
                        }
                    }
                    "aten::linalg_solve_triangular" => {
                        let (a, b) = (x0.ok_or_else(|| unsupported("operands"))?, self.tensor(arg(1)?).ok_or_else(|| unsupported("operands"))?);
                        let flag = |k: usize| i.get(k).and_then(|&v| self.scalar(v)).map(|v| v != 0.0);
                        let (upper, left, unit) = (flag(2).ok_or_else(|| unsupported("upper"))?, flag(3).unwrap_or(true), flag(4).unwrap_or(false));
                        let (sa, sb) = (self.shape(a).to_vec(), self.shape(b).to_vec());
                        match (sa.as_slice(), sb.as_slice()) {
                            ([n, n2], [n3, m]) if n == n2 && n == n3 && left && !unit => {
                                Val::Tensor(self.push(Op::SolveTriangular(a, b, upper, *n, *m), shape))
                            }
                            _ => return Err(unsupported("batched operands, a right side or a unit diagonal")),
                        }
                    }
                    "aten::linalg_cholesky_ex" | "aten::linalg_cholesky" | "aten::cholesky" => {
                        let a = x0.ok_or_else(|| unsupported("operands"))?;
                        let upper = i.get(1).and_then(|&v| self.scalar(v)).is_some_and(|v| v != 0.0);
                        match *self.shape(a) {
                            [n, n2] if n == n2 => {
                                let l = self.push(Op::Cholesky(a, n), shape.clone());
                                Val::Tensor(if upper { self.push(Op::Transpose(l), shape) } else { l })
                            }
                            _ => return Err(unsupported("a batch of matrices")),
                        }
                    }
                    "aten::slice" | "aten::narrow" | "aten::select" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        let xs = self.shape(x).to_vec();
                        let rank = xs.len() as i64;
                        let d = i.get(1).and_then(|&v| self.scalar(v)).ok_or_else(|| unsupported("dim"))? as i64;
                        let d = if d < 0 { d + rank } else { d };
                        if !(0..rank).contains(&d) {
                            return Err(unsupported("dim"));
                        }
                        let du = d as usize;
                        let size = xs[du];
                        let wrap = |v: i64| if v < 0 { v + size } else { v };
                        match op {
                            "aten::select" => {
                                let index = wrap(i.get(2).and_then(|&v| self.scalar(v)).ok_or_else(|| unsupported("index"))? as i64);
                                Val::Tensor(self.push(Op::Select(x, du, index), shape))
                            }
                            "aten::narrow" => {
                                let start = wrap(i.get(2).and_then(|&v| self.scalar(v)).ok_or_else(|| unsupported("start"))? as i64);
                                Val::Tensor(self.push(Op::Slice(x, du, start, 1), shape))
                            }
                            _ => {
                                // slice(x, dim, start?, end?, step): a None start is 0.
                                let start = i.get(2).and_then(|&v| self.scalar(v)).map(|v| wrap(v as i64).clamp(0, size)).unwrap_or(0);
                                let step = i.get(4).and_then(|&v| self.scalar(v)).unwrap_or(1.0) as i64;
                                if step < 1 {
                                    return Err(unsupported("step"));
                                }
                                Val::Tensor(self.push(Op::Slice(x, du, start, step), shape))
                            }
                        }
                    }
                    "aten::gather" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        let rank = self.shape(x).len() as i64;
                        let d = i.get(1).and_then(|&v| self.scalar(v)).ok_or_else(|| unsupported("dim"))? as i64;
                        let d = if d < 0 { d + rank } else { d };
                        let idx = self.tensor(arg(2)?).ok_or_else(|| unsupported("index"))?;
                        if !(0..rank).contains(&d) || self.shape(idx).len() as i64 != rank || self.shape(idx) != shape.as_slice() {
                            return Err(unsupported("an index of another rank"));
                        }
                        Val::Tensor(self.push(Op::Gather(x, d as usize, idx), shape))
                    }
                    "aten::index" => {
                        // `x[idx]` with one integer index tensor on the first dim: a gather of
                        // the flattened index, reshaped to `idx.shape ++ x.shape[1..]`.
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        let idx = match self.get(arg(1)?)? {
                            Val::Tensors(list) if list.len() == 1 => list[0],
                            _ => return Err(unsupported("indices other than one tensor on the first dim")),
                        };
                        if self.dtypes.get(&idx).is_some_and(|d| d == "bool") {
                            return Err(unsupported("a boolean mask"));
                        }
                        let xs = self.shape(x).to_vec();
                        let n = self.nodes[idx].numel() as i64;
                        let flat = self.push(Op::Reshape(idx), vec![n]);
                        let mut gathered = vec![n];
                        gathered.extend_from_slice(&xs[1..]);
                        if gathered.iter().product::<i64>() != shape.iter().product::<i64>() {
                            return Err(unsupported("an index of another shape"));
                        }
                        let g = self.push(Op::IndexSelect(x, 0, flat), gathered);
                        Val::Tensor(self.push(Op::Reshape(g), shape))
                    }
                    "aten::index_select" => {
                        let x = x0.ok_or_else(|| unsupported("a non-tensor operand"))?;
                        let rank = self.shape(x).len() as i64;
                        let d = self.scalar(arg(1)?).ok_or_else(|| unsupported("dim"))? as i64;
                        let d = if d < 0 { d + rank } else { d };
                        let idx = self.tensor(arg(2)?).ok_or_else(|| unsupported("index"))?;
                        Val::Tensor(self.push(Op::IndexSelect(x, d as usize, idx), shape))
                    }
                    other => return Err(Unsupported(format!("{other} (not among the operations the compiler knows)"))),
                }
            }
        };
        if let (Val::Tensor(t), Some(dtype)) = (&val, out_dtype()) {
            self.dtypes.insert(*t, dtype);
        }
        self.env.insert(out_id, val);
        Ok(())
    }

    /// A broadcast elementwise operation of two operands (tensors or scalars).
    fn binary(&mut self, b: Binary, x: usize, y: usize, shape: Vec<i64>) -> Option<Val> {
        let x = self.tensor_or_scalar(x)?;
        let y = self.tensor_or_scalar(y)?;
        Some(Val::Tensor(self.push(Op::Binary(b, x, y), shape)))
    }
}

/// Operations that read a tensor's value on the host (`item`): the value may have steered the
/// model's control flow, which a trace cannot follow.
const HOST_READS: [&str; 4] = ["aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "aten::equal"];

/// The ids of the values the graph's outputs depend on.
fn live_values(graph: &Graph) -> std::collections::HashSet<usize> {
    let mut live: std::collections::HashSet<usize> = graph.outputs.iter().copied().collect();
    for n in graph.nodes.iter().rev() {
        if n.outputs.iter().any(|(id, _)| live.contains(id)) {
            live.extend(n.inputs.iter().copied());
        }
    }
    live
}

/// Lowers `graph`, whose inputs are slices of one flat vector in order.
///
/// # Errors
///
/// [`Unsupported`] naming the first operation outside the compiler's set, or a graph whose
/// output is not a one-element tensor.
pub fn lower(graph: &Graph) -> Result<Program, Unsupported> {
    lower_with(graph, false, 0)
}

/// As [`lower`]; with `noise`, the standard normal draws of the traced code (`aten::randn`)
/// become inputs of their own ([`Program::noise`]), drawn by the caller for each call; the
/// graph's last `data` inputs are data ([`Program::data`]): read anew at each call, not
/// differentiated.
///
/// # Errors
///
/// As [`lower`].
pub fn lower_with(graph: &Graph, noise: bool, data: usize) -> Result<Program, Unsupported> {
    if let Some(read) = &graph.host_read {
        return Err(Unsupported(format!(
            "the model reads a value computed from its latent sites or params on the host ({read}): the result may depend on it in ways a capture cannot follow"
        )));
    }
    let mut l = Lowering {
        nodes: Vec::new(),
        consts: Vec::new(),
        const_storage: Vec::new(),
        env: HashMap::new(),
        noise_allowed: noise,
        noise: Vec::new(),
        noise_len: 0,
        dtypes: HashMap::new(),
        computed: HashMap::new(),
        lowering_dtype: None,
    };
    let mut offset = 0;
    let params = graph.inputs.len().checked_sub(data).ok_or_else(|| Unsupported(format!("{data} data inputs of {}", graph.inputs.len())))?;
    let mut data_inputs = Vec::new();
    for (k, (id, ty)) in graph.inputs.iter().zip(&graph.input_types).enumerate() {
        let Type::Tensor { shape: Some(shape), dtype } = ty else {
            return Err(Unsupported(format!("input %{id} of unknown shape")));
        };
        let t = if k < params {
            let t = l.push(Op::Input(offset), shape.clone());
            offset += l.nodes[t].numel();
            t
        } else {
            let t = l.push(Op::Noise(l.noise_len), shape.clone());
            l.noise_len += l.nodes[t].numel();
            data_inputs.push((shape.clone(), dtype.clone().unwrap_or_else(|| "float32".into())));
            if let Some(d) = dtype {
                l.dtypes.insert(t, d.clone());
            }
            t
        };
        l.env.insert(*id, Val::Tensor(t));
    }
    let live = live_values(graph);
    for n in &graph.nodes {
        // Nodes whose values the output does not use are skipped, but never a host read, nor a
        // draw (it advances the generator as the eager code's does: the noise stays in step).
        let drawn = noise && n.op == "aten::randn";
        if drawn || n.outputs.iter().any(|(id, _)| live.contains(id)) || HOST_READS.contains(&n.op.as_str()) {
            l.lower_node(n)?;
        }
    }
    let [out] = graph.outputs.as_slice() else {
        return Err(Unsupported(format!("{} outputs, not one", graph.outputs.len())));
    };
    let output = match l.get(*out)? {
        Val::Tensor(t) if l.nodes[*t].numel() == 1 => *t,
        _ => return Err(Unsupported("an output that is not a one-element tensor".into())),
    };
    Ok(Program { nodes: l.nodes, output, input_len: offset, consts: l.consts, const_storage: l.const_storage, noise: l.noise, data: data_inputs })
}
