//! The captured graph, as the shim writes it: values by id, nodes in execution order.

use pyrite_core::{PyriteError, Result};
use serde_json::Value;

/// A value's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    /// A tensor of this shape (when known) and dtype name.
    Tensor {
        shape: Option<Vec<i64>>,
        dtype: Option<String>,
    },
    /// An integer, a float, a bool.
    Int,
    Float,
    Bool,
    /// A list (of ints, of tensors).
    List,
    /// `None`.
    NoneType,
    /// Anything else, by name.
    Other(String),
}

/// One operation.
#[derive(Debug, Clone)]
pub struct Node {
    /// `aten::mul`, `prim::Constant`, ...
    pub op: String,
    pub inputs: Vec<usize>,
    pub outputs: Vec<(usize, Type)>,
    /// A constant's value (`prim::Constant` only).
    pub value: Option<Value>,
    /// Whether the node has sub-blocks (control flow: never compiled).
    pub has_blocks: bool,
}

/// A captured computation.
#[derive(Debug, Clone)]
pub struct Graph {
    pub inputs: Vec<usize>,
    pub input_types: Vec<Type>,
    pub outputs: Vec<usize>,
    pub nodes: Vec<Node>,
    /// What the traced code read on the host of a value that depends on the inputs (the
    /// graph then holds for the values seen while tracing only), if it did.
    pub host_read: Option<String>,
    /// The tensors the traced code read that it did not make (constants of the graph), to see
    /// when they change.
    pub externals: std::sync::Arc<crate::trace::Externals>,
}

fn parse_type(v: &Value) -> Type {
    let Some((k, inner)) = v.as_object().and_then(|o| o.iter().next()) else { return Type::Other(v.to_string()) };
    match k.as_str() {
        "tensor" => Type::Tensor {
            shape: inner.get("shape").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect()),
            dtype: inner.get("dtype").and_then(Value::as_str).map(str::to_string),
        },
        "int" => Type::Int,
        "float" => Type::Float,
        "bool" => Type::Bool,
        "list" => Type::List,
        "none" => Type::NoneType,
        _ => Type::Other(inner.as_str().unwrap_or_default().to_string()),
    }
}

fn ids(v: Option<&Value>) -> Vec<usize> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_u64).map(|x| x as usize).collect()).unwrap_or_default()
}

impl Graph {
    /// Whether the traced code computed some values in float32 (a float32 constant, an
    /// enumerated support): the compiled code computes them in float64, so the two agree to
    /// float32's rounding only.
    pub fn computes_in_float32(&self) -> bool {
        let f32 = |t: &Type| matches!(t, Type::Tensor { dtype: Some(d), .. } if d == "float32");
        self.input_types.iter().any(f32) || self.nodes.iter().any(|n| n.outputs.iter().any(|(_, t)| f32(t)))
    }

    /// Reads the shim's JSON.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Io`] for text that is not the shim's JSON.
    pub fn from_json(text: &str) -> Result<Graph> {
        let bad = |problem: String| PyriteError::Io { path: "<traced graph>".into(), problem };
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let nodes = v
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no nodes".into()))?
            .iter()
            .map(|n| Node {
                op: n.get("op").and_then(Value::as_str).unwrap_or_default().to_string(),
                inputs: ids(n.get("inputs")),
                outputs: n
                    .get("outputs")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|o| (o.get("id").and_then(Value::as_u64).unwrap_or(0) as usize, parse_type(o.get("type").unwrap_or(&Value::Null))))
                            .collect()
                    })
                    .unwrap_or_default(),
                value: n.get("value").cloned(),
                has_blocks: n.get("blocks").is_some(),
            })
            .collect();
        Ok(Graph {
            inputs: ids(v.get("inputs")),
            input_types: v.get("input_types").and_then(Value::as_array).map(|a| a.iter().map(parse_type).collect()).unwrap_or_default(),
            outputs: ids(v.get("outputs")),
            nodes,
            host_read: None,
            externals: std::sync::Arc::new(crate::trace::Externals::none()),
        })
    }
}
