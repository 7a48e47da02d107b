//! The flags every example takes (`--data-dir`, `--out`, `--seed`, `--steps`) and small helpers.

pub mod images;
pub mod models;
pub mod plots;

use std::path::PathBuf;

use clap::Parser;
use pyrite::prelude::*;

/// The example contract's flags.
#[derive(Parser, Debug, Clone)]
pub struct Flags {
    /// Data directory (default: $PYRITE_DATA, then the embedded data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where to write plots and summary.json.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// SVI steps (each example has its own default).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Exit with an error if the fitted values miss the example's reference figures (used by CI).
    #[arg(long)]
    pub check: bool,
    /// libtorch CPU threads (default: the example's own choice; small models run fastest on one,
    /// since each tensor operation is tiny).
    #[arg(long)]
    pub threads: Option<i32>,
}

impl Flags {
    /// Parses the command line and creates the output directory.
    pub fn parse_and_prepare() -> Result<Flags> {
        let flags = Flags::parse();
        std::fs::create_dir_all(&flags.out).map_err(|e| PyriteError::Io { path: flags.out.display().to_string(), problem: e.to_string() })?;
        Ok(flags)
    }
    /// Sets libtorch's CPU threads from `--threads`, else to `default`.
    pub fn set_threads(&self, default: i32) {
        pyrite::tch::set_num_threads(self.threads.unwrap_or(default));
    }
    /// Writes `summary.json` into the output directory.
    pub fn write_summary(&self, value: &serde_json::Value) -> Result<()> {
        let path = self.out.join("summary.json");
        let text = serde_json::to_string_pretty(value).expect("JSON");
        std::fs::write(&path, text).map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })
    }
}

/// A scalar tensor as f64.
pub fn scalar(t: &Tensor) -> f64 {
    t.double_value(&[])
}

/// `{"mean": m, "sd": s}` of a site's posterior samples.
pub fn mean_sd(samples: &Tensor) -> serde_json::Value {
    let s = samples.to_kind(Kind::Double);
    serde_json::json!({"mean": s.mean(Kind::Double).double_value(&[]), "sd": s.std(true).double_value(&[])})
}

/// Compares a fitted value with a reference within a tolerance; returns a line for the report
/// and whether it passed.
pub fn within(name: &str, got: f64, want: f64, tol: f64) -> (String, bool) {
    let ok = (got - want).abs() <= tol;
    (format!("{name}: {got:.4} vs {want:.4} (tolerance {tol}) {}", if ok { "ok" } else { "MISSED" }), ok)
}

/// Prints the checks and fails when `--check` was given and one missed.
pub fn report_checks(flags: &Flags, checks: &[(String, bool)]) -> Result<()> {
    for (line, _) in checks {
        println!("  check {line}");
    }
    if flags.check && checks.iter().any(|(_, ok)| !ok) {
        return Err(PyriteError::Model("reference checks failed".into()));
    }
    Ok(())
}
