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
python3 scripts/sync_docs.py --check
