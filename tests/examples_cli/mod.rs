//! The examples' command lines: bad flags and missing data end every example with exit status 1
//! and one `error: <sentence>` line on standard error (plus `caused by:` lines), never a panic
//! or a `Debug` dump of the error. The example binaries are built once (a no-op when
//! `cargo test --all-targets` has built them) and run from a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use pyrite::prelude::*;

/// The directory holding the example binaries of this test's profile, after building them.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // This test runs as target/<profile>/deps/<name>; its examples are in
        // target/<profile>/examples.
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
        let target_dir = profile_dir.parent().expect("the target directory");
        let mut cargo = Command::new(env!("CARGO"));
        cargo.current_dir(root).args(["build", "--workspace", "--examples", "--quiet", "--target-dir"]).arg(target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("running cargo");
        assert!(status.success(), "building the examples failed: {status}");
        profile_dir.join("examples")
    })
}

/// A fresh scratch directory for one test, removed and recreated.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyrite-examples-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Runs example `name` with `args` (and `--out` in `dir` unless `args` has one) from `dir`,
/// without `PYRITE_DATA`.
fn run_example(name: &str, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(examples_dir().join(name));
    cmd.args(args);
    if !args.contains(&"--out") {
        cmd.arg("--out").arg(dir.join("out"));
    }
    cmd.current_dir(dir).env_remove("PYRITE_DATA").output().unwrap_or_else(|e| panic!("running example {name}: {e}"))
}

/// Checks that example `name` refused `args` as it should: status 1, standard error starting
/// with the single `error:` line, no panic and no `Debug` text. Returns that first line.
fn refused(name: &str, dir: &Path, args: &[&str]) -> String {
    let out = run_example(name, dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let what = format!("{name} {}", args.join(" "));
    assert_eq!(out.status.code(), Some(1), "{what}: exit status {:?}, standard error:\n{stderr}", out.status);
    let first = stderr.lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with("error: "), "{what}: standard error does not start with `error:`:\n{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error")).count(), 1, "{what}: more than one `error` line:\n{stderr}");
    for line in stderr.lines().skip(1) {
        assert!(line.starts_with("caused by: "), "{what}: a line after `error:` that is not a cause:\n{stderr}");
    }
    for bad in ["panicked", "Io {", "InvalidInput {", "Device(", "Error: ", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "{what}: standard error contains `{bad}`:\n{stderr}");
    }
    first
}

#[test]
fn zero_steps_is_refused_by_every_example() {
    let dir = scratch("steps");
    for name in ["radon", "rugged", "gmm_iris", "bnn", "vae"] {
        let first = refused(name, &dir, &["--steps", "0"]);
        assert_eq!(first, "error: invalid input `--steps`: must be positive, got 0", "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn other_bad_numbers_and_unknown_flags_are_refused() {
    let dir = scratch("numbers");
    assert_eq!(refused("radon", &dir, &["--threads", "0"]), "error: invalid input `--threads`: must be positive, got 0");
    assert_eq!(refused("bnn", &dir, &["--epochs", "0"]), "error: invalid input `--epochs`: must be positive, got 0");
    assert_eq!(refused("bnn", &dir, &["--samples=-3"]), "error: invalid input `--samples`: must be positive, got -3");
    assert_eq!(refused("bnn", &dir, &["--load", "no-such-fit.safetensors"]), "error: invalid input `--load`: no-such-fit.safetensors is not a file");
    assert_eq!(refused("vae", &dir, &["--epochs", "0"]), "error: invalid input `--epochs`: must be positive, got 0");
    let first = refused("gmm_iris", &dir, &["--steps", "many"]);
    assert!(first.starts_with("error: invalid input `command line`: invalid value 'many' for '--steps <STEPS>'"), "{first}");
    let first = refused("radon", &dir, &["--device", "cuda"]);
    assert!(first.starts_with("error: invalid input `command line`: unexpected argument '--device' found"), "{first}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_still_exits_zero() {
    let dir = scratch("help");
    let out = run_example("vae", &dir, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--device <DEVICE>"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_device_is_refused() {
    let dir = scratch("tpu");
    for name in ["bnn", "vae"] {
        assert_eq!(refused(name, &dir, &["--device", "tpu"]), "error: invalid input `--device`: `tpu` is not `cpu` or `cuda`", "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cuda_without_a_gpu_is_refused_with_a_sentence() {
    if cuda_available() {
        eprintln!("cuda_without_a_gpu_is_refused_with_a_sentence: CUDA is available here; nothing to refuse");
        return;
    }
    let dir = scratch("cuda");
    for name in ["bnn", "vae"] {
        assert_eq!(
            refused(name, &dir, &["--device", "cuda"]),
            "error: no CUDA device is available: libtorch sees none (check `nvidia-smi` and that libtorch_cuda.so is installed); use --device cpu",
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_directories_are_refused() {
    let dir = scratch("dirs");
    let missing = dir.join("no-such-dir");
    let missing = missing.to_str().expect("a UTF-8 temp path");
    for (name, flag) in [("rugged", "--data-dir"), ("radon", "--data-dir"), ("bnn", "--mnist-idx"), ("vae", "--mnist-idx")] {
        assert_eq!(refused(name, &dir, &[flag, missing]), format!("error: invalid input `{flag}`: the directory `{missing}` does not exist"), "{name}");
    }
    // An output directory that cannot be created: its path and the system's reason.
    let first = refused("radon", &dir, &["--out", "/dev/null/out"]);
    assert!(first.starts_with("error: /dev/null/out: cannot create the output directory: "), "{first}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_rugged_data_file_says_where_it_looked_and_how_to_supply_it() {
    let dir = scratch("rugged");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("an empty data directory");
    let first = refused("rugged", &dir, &["--data-dir", empty.to_str().expect("a UTF-8 temp path")]);
    assert!(first.starts_with(&format!("error: rugged_data.csv: not found in `{}` (given with --data-dir); ", empty.display())), "{first}");
    assert!(first.contains("`--data-dir DIR`") && first.contains("`PYRITE_DATA=DIR`"), "{first}");
    // Neither the flag nor the variable (`run_example` removes PYRITE_DATA).
    let first = refused("rugged", &dir, &[]);
    assert!(first.starts_with("error: rugged_data.csv: not found: neither --data-dir nor PYRITE_DATA names a directory; "), "{first}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_report_skips_causes_already_in_the_message_and_lists_the_others() {
    // A distribution error at a site includes its source's text: no repeated cause.
    let err = PyriteError::at_site("x", DistError::InvalidParameter { dist: "Normal", param: "scale", problem: "must be positive".into() });
    assert_eq!(pyrite_examples::error_report(&err), "error: site `x`: Normal: parameter `scale` must be positive");
    // A cause whose text the message leaves out gets its own line.
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read the data")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let err = Outer(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"));
    assert_eq!(pyrite_examples::error_report(&err), "error: cannot read the data\ncaused by: no such file");
}
