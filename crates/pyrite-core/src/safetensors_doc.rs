//! Saved documents (param stores, checkpoints) as safetensors files: the document's tensors are
//! stored as binary tensors, everything else (constraints, optimizer settings, the order of the
//! params) as JSON in the file's `__metadata__`, so that a large store is not megabytes of text
//! and any safetensors reader (`safetensors.numpy.load_file` in Python) can open it.
//!
//! A document is the JSON value the JSON files hold; in it a tensor is an object with `shape`,
//! `dtype` and `values` (see [`tensor_json`](crate::param_store::tensor_json)). Written as
//! safetensors, each such object loses its `values` for `"tensor": KEY`, `KEY` naming the binary
//! tensor (its JSON path, `params/scale`, `optimizer/m/scale`), and the rest of the document is
//! the metadata entry `pyrite`. Reading restores the values, so the checks made on JSON files
//! apply unchanged.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};
use serde_json::Value;
use tch::{Kind, Tensor};

use crate::error::{PyriteError, Result};

/// The metadata key holding the document without its tensors' values.
const DOCUMENT_KEY: &str = "pyrite";

/// Whether `path` names a JSON file (extension `json`); any other is written as safetensors.
pub fn is_json_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Writes `document` to `path` as safetensors, atomically (beside it, then renamed).
///
/// # Errors
///
/// [`PyriteError::Io`] naming the file if it cannot be written.
pub fn write(path: &Path, document: &Value) -> Result<()> {
    let mut tensors = Vec::new();
    let mut skeleton = document.clone();
    split_tensors(&mut skeleton, String::new(), &mut tensors);
    let io = |problem: String| PyriteError::Io { path: path.display().to_string(), problem };
    let text = serde_json::to_string(&skeleton).map_err(|e| io(e.to_string()))?;
    let metadata = Some(HashMap::from([(DOCUMENT_KEY.to_string(), text)]));
    let bytes = safetensors::tensor::serialize(tensors, &metadata).map_err(|e| io(format!("{e:?}")))?;
    crate::param_store::write_atomic(path, &bytes)
}

/// Reads a document written by [`write`], or a JSON file: a `.json` path is always read as
/// JSON, any other as safetensors when its content starts as one (an 8-byte header length that
/// fits the file, then `{`), as JSON otherwise.
///
/// # Errors
///
/// [`PyriteError::Io`] naming the file if it cannot be read, is not JSON, or is a safetensors
/// file not written by pyrite or whose tensors disagree with the document (missing, or of another
/// shape or dtype than it says).
pub fn read(path: &Path) -> Result<Value> {
    let io = |problem: String| PyriteError::Io { path: path.display().to_string(), problem };
    let bytes = std::fs::read(path).map_err(|e| io(e.to_string()))?;
    if is_json_path(path) || !looks_like_safetensors(&bytes) {
        return serde_json::from_slice(&bytes).map_err(|e| io(e.to_string()));
    }
    let file = SafeTensors::deserialize(&bytes).map_err(|e| io(format!("a malformed safetensors file ({e:?})")))?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| io(format!("{e:?}")))?;
    let text = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(DOCUMENT_KEY))
        .ok_or_else(|| io(format!("a safetensors file without pyrite's metadata (`{DOCUMENT_KEY}`): not written by pyrite")))?;
    let mut document: Value = serde_json::from_str(text).map_err(|e| io(format!("metadata `{DOCUMENT_KEY}`: {e}")))?;
    join_tensors(&mut document, &file).map_err(io)?;
    Ok(document)
}

/// Whether `bytes` start as a safetensors file: a little-endian header length that fits in the
/// file, then the header's opening `{`.
fn looks_like_safetensors(bytes: &[u8]) -> bool {
    let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
        return false;
    };
    let n = u64::from_le_bytes(*len);
    n >= 2 && n <= rest.len() as u64 && rest.first() == Some(&b'{')
}

/// A tensor's bytes, as the safetensors writer takes them.
struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Whether `v` is a tensor object of a document (`shape`, `dtype`, `values`).
fn is_tensor(v: &serde_json::Map<String, Value>) -> bool {
    v.contains_key("shape") && v.contains_key("dtype") && v.get("values").is_some_and(Value::is_array)
}

/// The dtypes a document's tensors take.
fn dtype_of(name: &str) -> Option<(Kind, Dtype)> {
    Some(match name {
        "float32" => (Kind::Float, Dtype::F32),
        "float64" => (Kind::Double, Dtype::F64),
        "int32" => (Kind::Int, Dtype::I32),
        "int64" => (Kind::Int64, Dtype::I64),
        "bool" => (Kind::Bool, Dtype::BOOL),
        _ => return None,
    })
}

/// Moves the values of every well-formed tensor object under `v` (at JSON path `at`) into
/// `out`, leaving `"tensor": KEY` in their place. Malformed tensor objects stay as they are, for
/// the reader's checks to name.
fn split_tensors(v: &mut Value, at: String, out: &mut Vec<(String, Bytes)>) {
    match v {
        Value::Object(obj) if is_tensor(obj) => {
            if let Some(bytes) = tensor_bytes(obj) {
                obj.remove("values");
                obj.insert("tensor".into(), Value::String(at.clone()));
                out.push((at, bytes));
            }
        }
        Value::Object(obj) => {
            for (k, child) in obj.iter_mut() {
                split_tensors(child, if at.is_empty() { k.clone() } else { format!("{at}/{k}") }, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                split_tensors(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The bytes of a tensor object's values in its dtype, if it is well formed.
fn tensor_bytes(obj: &serde_json::Map<String, Value>) -> Option<Bytes> {
    let (kind, dtype) = dtype_of(obj.get("dtype")?.as_str()?)?;
    let shape: Vec<usize> = obj.get("shape")?.as_array()?.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<_>>()?;
    let values: Vec<f64> = obj.get("values")?.as_array()?.iter().map(Value::as_f64).collect::<Option<_>>()?;
    if shape.iter().product::<usize>() != values.len() {
        return None;
    }
    let t = Tensor::from_slice(&values).f_to_kind(kind).ok()?;
    let mut data = vec![0u8; values.len() * kind.elt_size_in_bytes()];
    t.f_copy_data_u8(&mut data, values.len()).ok()?;
    Some(Bytes { dtype, shape, data })
}

/// Puts back the values of every `"tensor": KEY` object under `v`, from `file`.
fn join_tensors(v: &mut Value, file: &SafeTensors<'_>) -> std::result::Result<(), String> {
    match v {
        Value::Object(obj) if obj.contains_key("tensor") => {
            let key = obj["tensor"].as_str().ok_or_else(|| format!("a tensor reference is {}, not a name", obj["tensor"]))?.to_string();
            let view = file.tensor(&key).map_err(|_| format!("tensor `{key}` is missing from the file"))?;
            let (kind, dtype) =
                obj.get("dtype").and_then(Value::as_str).and_then(dtype_of).ok_or_else(|| format!("tensor `{key}`: its dtype is not one pyrite writes"))?;
            if view.dtype() != dtype {
                return Err(format!("tensor `{key}` is {:?} in the file, but its metadata says {:?}", view.dtype(), dtype));
            }
            let shape: Vec<Value> = view.shape().iter().map(|&d| Value::from(d as u64)).collect();
            if obj.get("shape") != Some(&Value::Array(shape.clone())) {
                return Err(format!(
                    "tensor `{key}` has shape {:?} in the file, but its metadata says {}",
                    view.shape(),
                    obj.get("shape").unwrap_or(&Value::Null)
                ));
            }
            let size: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let t = Tensor::f_from_data_size(view.data(), &size, kind).map_err(|e| format!("tensor `{key}`: {e}"))?;
            let values = Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).map_err(|e| format!("tensor `{key}`: {e}"))?;
            obj.remove("tensor");
            obj.insert("values".into(), Value::from(values));
            Ok(())
        }
        Value::Object(obj) => obj.values_mut().try_for_each(|child| join_tensors(child, file)),
        Value::Array(items) => items.iter_mut().try_for_each(|child| join_tensors(child, file)),
        _ => Ok(()),
    }
}
