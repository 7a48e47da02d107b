#!/usr/bin/env bash
# Side-by-side benchmark: pyrite's SVI steps, then (when the reference environment exists or
# ANCHORS=1 asks to create it) the same models in Pyro and NumPyro, all in one run.
# Usage: bash bench/run.sh [STEPS] [THREADS]
# Results: target/bench/results.txt (as printed) and target/bench/results.json (one row per model:
# rugged-autonormal, rugged-mvn, radon, gmm, glmm-1e6; µs per step of pyrite, its floor, Pyro and
# NumPyro, null where a system does not run a model).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${1:-1000}"
threads="${2:-1}"
data="${PYRITE_DATA:-$(cd ../shared/data 2>/dev/null && pwd || true)}"
anchors="$(cd ../shared/anchors 2>/dev/null && pwd || true)"
mkdir -p target/bench
out=target/bench/results.txt
bash scripts/setup-libtorch.sh >/dev/null
cargo build --release --example bench --example scaling >/dev/null 2>&1
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  PYRITE_DATA="$data" /usr/bin/time -f "pyrite peak RSS %M KB" ./target/release/examples/bench --steps "$steps" --threads "$threads" --eager 2>&1
  PYRITE_DATA="$data" ./target/release/examples/bench --steps "$steps" --threads "$threads" 2>&1
  # The large-data case: the GLMM of bench/scaling.rs at N = 10^6 with 10^3 groups.
  ./target/release/examples/scaling --n 1000000 --groups 1000 --threads "$threads" --eager 2>&1
  ./target/release/examples/scaling --n 1000000 --groups 1000 --threads "$threads" 2>&1
  venv="${ANCHOR_VENV:-$HOME/.cache/pyrite-anchors/venv}"
  if [ -n "$anchors" ] && { [ -x "$venv/bin/python" ] || [ "${ANCHORS:-0}" = 1 ]; }; then
    py="$(bash "$anchors/setup.sh")"
    for s in pyro_rugged numpyro_rugged pyro_radon numpyro_radon pyro_gmm_iris; do
      /usr/bin/time -f "$s peak RSS %M KB" "$py" "$anchors/$s.py" "$data" "$steps" 2>&1 | grep -v -i warning || true
    done
    "$py" "$anchors/numpyro_glmm_scaling.py" 1000000 1000 50 2>&1 | grep -v -i warning || true
  else
    echo "(Pyro/NumPyro skipped: run with ANCHORS=1 to install them via ../shared/anchors/setup.sh)"
  fi
} | tee "$out"
python3 bench/results_json.py "$out" target/bench/results.json
echo "wrote $out and target/bench/results.json"
