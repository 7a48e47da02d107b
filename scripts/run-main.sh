#!/usr/bin/env bash
# The main job: the radon GLMM on the embedded data (plots and summary.json in out/radon).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-libtorch.sh >/dev/null
# Cargo's own output (crate downloads, compiling) goes to a log; its errors are shown.
log=target/run-main-build.log
mkdir -p target
if [ ! -x target/release/examples/radon ]; then
  echo "run-main: building pyrite (release; the first build takes a few minutes; log: $log)" >&2
fi
if ! cargo build --release --example radon >"$log" 2>&1; then
  echo "run-main: the build failed; the last lines of $log:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
exec target/release/examples/radon --out out/radon "$@"
