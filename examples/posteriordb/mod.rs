//! posteriordb's reference posteriors (stan-dev/posteriordb, BSD 3-Clause: `data/LICENCE.md`)
//! as pyrite models: each posterior's data (`data/NAME/data.json`, as posteriordb ships it),
//! its reference summary (`reference.json`: Stan's flat names such as `beta[2]`, means and
//! sds from 10 long Stan chains) and a model ported from its Stan program, one file per model
//! family. `examples/posteriordb.rs` runs NUTS on them and checks each parameter against its
//! reference.

pub mod gps;
pub mod hmms;
pub mod mixtures;
pub mod odes;
pub mod regressions;
pub mod time_series;

use std::path::{Path, PathBuf};

use pyrite::prelude::*;
use serde_json::Value;

/// A posterior's data: posteriordb's `data.json` fields by name.
pub struct Data {
    file: PathBuf,
    fields: serde_json::Map<String, Value>,
}

impl Data {
    /// Reads `dir/data.json`.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Io`] naming the file for one that is missing or not a JSON object.
    pub fn load(dir: &Path) -> Result<Data> {
        let file = dir.join("data.json");
        let text = std::fs::read_to_string(&file).map_err(|e| io(&file, e))?;
        let fields = match serde_json::from_str::<Value>(&text).map_err(|e| io(&file, e))? {
            Value::Object(m) => m,
            _ => return Err(io(&file, "not a JSON object")),
        };
        Ok(Data { file, fields })
    }

    fn field(&self, name: &str) -> Result<&Value> {
        self.fields.get(name).ok_or_else(|| io(&self.file, format!("no field `{name}`")))
    }

    fn bad(&self, name: &str, what: &str) -> PyriteError {
        io(&self.file, format!("field `{name}` is not {what}"))
    }

    /// An integer field (`int N;`).
    pub fn int(&self, name: &str) -> Result<i64> {
        self.field(name)?.as_i64().ok_or_else(|| self.bad(name, "an integer"))
    }

    /// A number field (`real xpred;`).
    pub fn real(&self, name: &str) -> Result<f64> {
        self.field(name)?.as_f64().ok_or_else(|| self.bad(name, "a number"))
    }

    /// A vector or array field of numbers (`vector[N] y;`, `array[N] int g;`) as float64.
    pub fn vector(&self, name: &str) -> Result<Tensor> {
        let values: Option<Vec<f64>> = self.field(name)?.as_array().and_then(|a| a.iter().map(Value::as_f64).collect());
        values.map(|v| Tensor::from_slice(&v)).ok_or_else(|| self.bad(name, "an array of numbers"))
    }

    /// A vector field of `n` numbers.
    pub fn vector_of(&self, name: &str, n: i64) -> Result<Tensor> {
        let v = self.vector(name)?;
        if v.size() != [n] {
            return Err(self.bad(name, &format!("{n} numbers long")));
        }
        Ok(v)
    }

    /// A matrix field (`matrix[N, D] X;`, an array of rows) as float64 `[rows, cols]`.
    pub fn matrix(&self, name: &str) -> Result<Tensor> {
        let rows = self.field(name)?.as_array().ok_or_else(|| self.bad(name, "an array of rows"))?;
        let mut values = Vec::new();
        let mut cols = None;
        for row in rows {
            let r: Vec<f64> =
                row.as_array().and_then(|a| a.iter().map(Value::as_f64).collect()).ok_or_else(|| self.bad(name, "an array of rows of numbers"))?;
            if *cols.get_or_insert(r.len()) != r.len() {
                return Err(self.bad(name, "a matrix (rows of one length)"));
            }
            values.extend(r);
        }
        Ok(Tensor::from_slice(&values).reshape([rows.len() as i64, cols.unwrap_or(0) as i64]))
    }
}

fn io(file: &Path, problem: impl ToString) -> PyriteError {
    PyriteError::Io { path: file.display().to_string(), problem: problem.to_string() }
}

/// A posterior's reference summary: Stan's flat names with their means and sds.
pub struct Reference {
    pub names: Vec<String>,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl Reference {
    /// Reads `dir/reference.json`.
    ///
    /// # Errors
    ///
    /// [`PyriteError::Io`] naming the file and the field that is missing or malformed.
    pub fn load(dir: &Path) -> Result<Reference> {
        let file = dir.join("reference.json");
        let text = std::fs::read_to_string(&file).map_err(|e| io(&file, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| io(&file, e))?;
        let list = |key: &str| v.get(key).and_then(Value::as_array).ok_or_else(|| io(&file, format!("no list `{key}`")));
        let names =
            list("names")?.iter().map(|n| n.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().ok_or_else(|| io(&file, "`names` holds a non-string"))?;
        let numbers = |key: &str| -> Result<Vec<f64>> {
            let l = list(key)?;
            let out: Option<Vec<f64>> = l.iter().map(Value::as_f64).collect();
            out.filter(|o| o.len() == names.len()).ok_or_else(|| io(&file, format!("`{key}` is not {} numbers", names.len())))
        };
        Ok(Reference { mean: numbers("mean")?, sd: numbers("sd")?, names })
    }
}

/// Stan's flat names of a site of `shape` (`beta` -> `beta[1]`, ..., row-major and 1-based for
/// matrices: `theta[1,3]`), in the order of the site's values.
pub fn stan_names(site: &str, shape: &[i64]) -> Vec<String> {
    if shape.is_empty() {
        return vec![site.to_string()];
    }
    let total: i64 = shape.iter().product();
    (0..total)
        .map(|mut flat| {
            let mut index = vec![0; shape.len()];
            for (d, &n) in shape.iter().enumerate().rev() {
                index[d] = flat % n + 1;
                flat /= n;
            }
            format!("{site}[{}]", index.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
        })
        .collect()
}

/// A ported model, ready to run: its data are tensors it holds.
pub type Model = Box<dyn Fn(&()) -> Result<()>>;

/// A ported model's builder: it reads its data once (outside the model, which then only holds
/// tensors) and returns the model.
pub type Build = fn(&Data) -> Result<Model>;

/// Every ported posterior: posteriordb's name and the model's builder.
pub fn ported() -> Vec<(&'static str, Build)> {
    let mut all: Vec<(&'static str, Build)> = Vec::new();
    all.extend(regressions::POSTERIORS.iter().copied());
    all.extend(time_series::POSTERIORS.iter().copied());
    all.extend(mixtures::POSTERIORS.iter().copied());
    all.extend(hmms::POSTERIORS.iter().copied());
    all.extend(gps::POSTERIORS.iter().copied());
    all.extend(odes::POSTERIORS.iter().copied());
    all
}

/// The directory of the copied data and references (`examples/posteriordb/data`).
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("posteriordb").join("data")
}

/// A flat (improper) prior on the real line, of `shape` (Stan: a parameter with no sampling
/// statement).
pub fn flat(shape: &[i64]) -> Result<DistRef> {
    Ok(ImproperUniform::new(Constraint::Real, &[], shape)?.into_dist())
}

/// A flat prior on the positive reals (Stan: `real<lower=0>` with no sampling statement).
pub fn flat_positive() -> Result<DistRef> {
    flat_positive_of(&[])
}

/// A flat prior on the positive reals of `shape` (`array[4] real<lower=0> theta`).
pub fn flat_positive_of(shape: &[i64]) -> Result<DistRef> {
    Ok(ImproperUniform::new(Constraint::Positive, &[], shape)?.into_dist())
}

/// A float64 scalar tensor (the models' numbers are float64, as Stan's).
pub fn c(v: f64) -> Tensor {
    Tensor::from(v)
}

/// The summaries of `sites`, deterministic sites of `model` (the transformed parameters a
/// reference lists, such as gp_pois_regr's `f`), from the draws of its latent sites by chain
/// (`[chains, draws, ...]`): the model is run on each draw (`Predictive`) and the values are
/// summarised by chain as the latent sites are.
///
/// # Errors
///
/// The model's errors at a draw.
pub fn derived(model: &Model, by_chain: &Samples, sites: &[&str]) -> Result<Vec<(String, PosteriorSummary)>> {
    let Some(first) = by_chain.values().next().filter(|_| !sites.is_empty()) else { return Ok(Vec::new()) };
    let (chains, draws) = (first.size()[0], first.size()[1]);
    let flat: Samples = by_chain.iter().map(|(k, v)| (k.clone(), v.flatten(0, 1))).collect();
    let values = Predictive::from_samples(model, &flat).return_sites(sites).sequential().call(&())?;
    let by_chain: Samples = values
        .into_iter()
        .map(|(k, v)| {
            let shape: Vec<i64> = [chains, draws].into_iter().chain(v.size().into_iter().skip(1)).collect();
            (k, v.reshape(shape))
        })
        .collect();
    Ok(posterior_summary(&by_chain, 0.9, true)?.into_iter().collect())
}
