//! The examples' library (`pyrite_examples`): the flags every example takes (`--data-dir`,
//! `--out`, `--seed`, `--steps`, `--check`, `--threads`, and `--device` in the examples that can
//! use a GPU), checked before any work; [`run`], the `main` of every example, which prints an
//! error as one `error: <message>` line followed by a `caused by: <cause>` line per further cause
//! and exits with status 1; and small helpers.
//!
//! ```no_run
//! use pyrite::prelude::*;
//! use pyrite_examples::Flags;
//!
//! fn example() -> Result<()> {
//!     let flags = Flags::parse_and_prepare()?; // `--steps 0` is an error, not a panic later
//!     println!("{} steps", flags.steps.unwrap_or(100));
//!     Ok(())
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     pyrite_examples::run(example)
//! }
//! ```

pub mod images;
pub mod models;
pub mod plots;
pub mod posteriordb;

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use pyrite::prelude::*;

/// Runs an example's body as its `main`. On an error, prints `error: <message>` and then
/// `caused by: <cause>` for each cause in the error's source chain whose text the lines before
/// do not already contain, on standard error, and returns exit status 1.
pub fn run(body: impl FnOnce() -> Result<()>) -> ExitCode {
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", error_report(&err));
            ExitCode::FAILURE
        }
    }
}

/// The text [`run`] prints for an error: `error: <message>`, then one `caused by: <cause>` line
/// per cause of the source chain, skipping a cause whose text is already shown (pyrite's errors
/// often include their source in their own message).
///
/// ```
/// use pyrite::prelude::*;
/// let err = PyriteError::InvalidInput { what: "--steps".into(), problem: "must be positive, got 0".into() };
/// assert_eq!(pyrite_examples::error_report(&err), "error: invalid input `--steps`: must be positive, got 0");
/// ```
pub fn error_report(err: &(dyn std::error::Error + 'static)) -> String {
    let mut report = format!("error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !report.contains(&text) {
            report.push_str("\ncaused by: ");
            report.push_str(&text);
        }
        source = cause.source();
    }
    report
}

/// Parses the command line into `T`. `--help` and `--version` print and exit with status 0, as
/// with clap's own `parse`; a command line that clap refuses (an unknown flag, a value that is
/// not a number) is [`PyriteError::InvalidInput`] for `command line`, so that the example exits
/// through [`run`] with one `error:` line and status 1.
pub fn parse_args<T: Parser>() -> Result<T> {
    match T::try_parse() {
        Ok(args) => Ok(args),
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let rendered = e.render().to_string();
            let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("cannot parse the command line");
            let mut problem = first.strip_prefix("error: ").unwrap_or(first).to_string();
            for tip in lines.filter(|l| l.starts_with("tip: ")) {
                problem.push_str(&format!(" ({tip})"));
            }
            problem.push_str("; see --help");
            Err(PyriteError::InvalidInput { what: "command line".into(), problem })
        }
    }
}

/// `Ok` when `value` is positive, else [`PyriteError::InvalidInput`] naming `flag`
/// (`invalid input `--steps`: must be positive, got 0`).
pub fn check_positive<T: PartialOrd + Default + Display>(flag: &str, value: T) -> Result<()> {
    if value > T::default() {
        Ok(())
    } else {
        Err(PyriteError::InvalidInput { what: flag.into(), problem: format!("must be positive, got {value}") })
    }
}

/// `Ok` when `dir` is an existing directory, else [`PyriteError::InvalidInput`] naming `flag`
/// and saying whether the path does not exist or is not a directory.
pub fn check_dir(flag: &str, dir: &Path) -> Result<()> {
    let problem = if !dir.exists() {
        format!("the directory `{}` does not exist", dir.display())
    } else if !dir.is_dir() {
        format!("`{}` is not a directory", dir.display())
    } else {
        return Ok(());
    };
    Err(PyriteError::InvalidInput { what: flag.into(), problem })
}

/// A data loader's error (whose message names the file and what is wrong) as
/// [`PyriteError::Io`] for the data set `what`.
pub fn data_error(what: &str) -> impl Fn(pyrite::data::DataError) -> PyriteError + '_ {
    move |e| PyriteError::Io { path: what.to_string(), problem: e.to_string() }
}

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
    /// Parses the command line, checks the flags and creates the output directory.
    pub fn parse_and_prepare() -> Result<Flags> {
        let flags: Flags = parse_args()?;
        flags.prepare()?;
        Ok(flags)
    }
    /// Checks the flags: `--steps` and `--threads` positive, `--data-dir` an existing directory.
    pub fn check(&self) -> Result<()> {
        if let Some(steps) = self.steps {
            check_positive("--steps", steps)?;
        }
        if let Some(threads) = self.threads {
            check_positive("--threads", threads)?;
        }
        if let Some(dir) = &self.data_dir {
            check_dir("--data-dir", dir)?;
        }
        Ok(())
    }
    /// Checks the flags ([`Flags::check`]) and creates the output directory.
    pub fn prepare(&self) -> Result<()> {
        self.check()?;
        std::fs::create_dir_all(&self.out)
            .map_err(|e| PyriteError::Io { path: self.out.display().to_string(), problem: format!("cannot create the output directory: {e}") })
    }
    /// The directory to read data files from and where it came from: `--data-dir`, else
    /// `$PYRITE_DATA` (when set and not empty), else `None`.
    pub fn data_dir_or_env(&self) -> Option<(PathBuf, &'static str)> {
        match &self.data_dir {
            Some(dir) => Some((dir.clone(), "given with --data-dir")),
            None => std::env::var_os(pyrite::data::DATA_DIR_ENV).filter(|v| !v.is_empty()).map(|v| (PathBuf::from(v), "named by PYRITE_DATA")),
        }
    }
    /// Sets libtorch's CPU threads from `--threads`, else to `default`.
    pub fn set_threads(&self, default: i32) {
        pyrite::tch::set_num_threads(self.threads.unwrap_or(default));
    }
    /// Writes `summary.json` into the output directory.
    pub fn write_summary(&self, value: &serde_json::Value) -> Result<()> {
        let path = self.out.join("summary.json");
        let io_err = |problem: String| PyriteError::Io { path: path.display().to_string(), problem };
        let text = serde_json::to_string_pretty(value).map_err(|e| io_err(e.to_string()))?;
        std::fs::write(&path, text).map_err(|e| io_err(e.to_string()))
    }
}

/// The `--device` flag of the examples that can run on a GPU, parsed the same way in each.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceFlag {
    /// `cpu` or `cuda` (default: CUDA when available).
    #[arg(long)]
    pub device: Option<String>,
}

impl DeviceFlag {
    /// The device the flag names, made this thread's default device (numbers in a model, as in
    /// `Normal::new(0.0, 1.0)`, become tensors there).
    ///
    /// # Errors
    ///
    /// [`PyriteError::InvalidInput`] for a name other than `cpu` and `cuda`;
    /// [`PyriteError::Device`] for `cuda` on a machine where libtorch sees no GPU.
    pub fn select(&self) -> Result<Device> {
        let device = device_from_flag(self.device.as_deref()).map_err(|e| match e {
            PyriteError::InvalidInput { problem, .. } => PyriteError::InvalidInput { what: "--device".into(), problem },
            e => e,
        })?;
        set_default_device(device)?;
        Ok(device)
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

/// The last loss of an SVI run (NaN for an empty run, which `--steps` >= 1 rules out).
pub fn final_loss(losses: &[f64]) -> f64 {
    losses.last().copied().unwrap_or(f64::NAN)
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

/// Loads `rugged_data.csv` from `--data-dir`, else from `$PYRITE_DATA`. A missing file is an
/// error that says where it looked and how to supply the file.
pub fn load_rugged(flags: &Flags) -> Result<pyrite::data::Rugged> {
    use pyrite::data::{RUGGED_FILE, RUGGED_URL};
    let how = format!("pass the directory that holds it with `--data-dir DIR` or set `PYRITE_DATA=DIR` (the file is the Pyro tutorial's, from {RUGGED_URL})");
    let missing = |problem: String| PyriteError::Io { path: RUGGED_FILE.into(), problem };
    let Some((dir, origin)) = flags.data_dir_or_env() else {
        return Err(missing(format!("not found: neither --data-dir nor PYRITE_DATA names a directory; {how}")));
    };
    if !dir.join(RUGGED_FILE).is_file() {
        return Err(missing(format!("not found in `{}` ({origin}); {how}", dir.display())));
    }
    let rugged = pyrite::data::rugged(Some(&dir)).map_err(data_error(RUGGED_FILE))?;
    if rugged.is_empty() {
        return Err(PyriteError::InvalidInput { what: RUGGED_FILE.into(), problem: format!("`{}` has no country with a finite rgdppc_2000", dir.display()) });
    }
    Ok(rugged)
}
