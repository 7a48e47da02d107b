#!/usr/bin/env bash
# Side-by-side benchmark: pyrite's SVI steps, then (when the reference environment exists or
# ANCHORS=1 asks to create it) the same models in Pyro and NumPyro, all in one run.
# Usage: bash bench/run.sh [STEPS] [THREADS]     (results: target/bench/results.txt)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${1:-1000}"
threads="${2:-1}"
data="${PYRITE_DATA:-$(cd ../shared/data 2>/dev/null && pwd || true)}"
anchors="$(cd ../shared/anchors 2>/dev/null && pwd || true)"
mkdir -p target/bench
out=target/bench/results.txt
bash scripts/setup-libtorch.sh >/dev/null
cargo build --release --example bench >/dev/null 2>&1
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  PYRITE_DATA="$data" /usr/bin/time -f "pyrite peak RSS %M KB" ./target/release/examples/bench --steps "$steps" --threads "$threads" 2>&1
  venv="${ANCHOR_VENV:-$HOME/.cache/pyrite-anchors/venv}"
  if [ -n "$anchors" ] && { [ -x "$venv/bin/python" ] || [ "${ANCHORS:-0}" = 1 ]; }; then
    py="$(bash "$anchors/setup.sh")"
    for s in pyro_rugged numpyro_rugged pyro_radon numpyro_radon pyro_gmm_iris; do
      /usr/bin/time -f "$s peak RSS %M KB" "$py" "$anchors/$s.py" "$data" "$steps" 2>&1 | grep -v -i warning || true
    done
  else
    echo "(Pyro/NumPyro skipped: run with ANCHORS=1 to install them via ../shared/anchors/setup.sh)"
  fi
} | tee "$out"
