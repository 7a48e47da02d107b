#!/usr/bin/env bash
# The main job: the radon GLMM on the embedded data (plots and summary.json in out/radon).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-libtorch.sh >/dev/null
cargo run --release --example radon -- --out out/radon "$@"
