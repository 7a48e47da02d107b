#!/usr/bin/env bash
# The whole test suite: libtorch set-up (when needed), every crate's unit, integration and doc
# tests, then the examples that CI must see run (with their checks).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-libtorch.sh >/dev/null
if [ -z "${PYRITE_DATA:-}" ] && [ -f ../shared/data/rugged_data.csv ]; then
  export PYRITE_DATA="$(cd ../shared/data && pwd)"
fi
cargo test --workspace --all-targets
cargo test --workspace --doc
cargo run --example radon -- --out target/ci-out/radon --check
cargo run --example gmm_iris -- --out target/ci-out/gmm --check
cargo run --example bnn -- --out target/ci-out/bnn --device cpu --check
cargo run --example vae -- --out target/ci-out/vae --device cpu --check
if [ -n "${PYRITE_DATA:-}" ] && [ -f "$PYRITE_DATA/rugged_data.csv" ]; then
  cargo run --example rugged -- --out target/ci-out/rugged --check
elif [ "${CI:-}" = "true" ]; then
  echo "rugged_data.csv not found (PYRITE_DATA=${PYRITE_DATA:-unset}): required under CI" >&2
  exit 1
else
  echo "skipping the rugged example: set PYRITE_DATA to the directory holding rugged_data.csv"
fi
python3 scripts/sync_docs.py --check
