#!/usr/bin/env bash
# NUTS side by side in one run: pyrite eager and compiled (1 chain, and 4 chains vectorised), NumPyro (the same)
# and Pyro (1 chain, fewer draws: it is slow), one CPU thread, on the rugged and radon models.
# The figure of merit is the smallest bulk ESS over scalar sites per second of sampling.
# Usage: bash bench/nuts.sh [WARMUP] [SAMPLES] [PYRO_DRAWS]     (results: target/bench/nuts.txt)
# The reference systems come from ../shared/anchors/setup.sh (run with ANCHORS=1 to install them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
warmup="${1:-1000}"
samples="${2:-1000}"
pyro_draws="${3:-300}"
data="${PYRITE_DATA:-$(cd ../shared/data 2>/dev/null && pwd || true)}"
anchors="$(cd ../shared/anchors 2>/dev/null && pwd || true)"
mkdir -p target/bench
out=target/bench/nuts.txt
bash scripts/setup-libtorch.sh >/dev/null
cargo build --release --example bench_nuts >/dev/null 2>&1
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  PYRITE_DATA="$data" ./target/release/examples/bench_nuts --warmup "$warmup" --samples "$samples" --chains 1 --eager
  PYRITE_DATA="$data" ./target/release/examples/bench_nuts --warmup "$warmup" --samples "$samples" --chains 4 --method vectorized --eager
  PYRITE_DATA="$data" ./target/release/examples/bench_nuts --warmup "$warmup" --samples "$samples" --chains 1
  PYRITE_DATA="$data" ./target/release/examples/bench_nuts --warmup "$warmup" --samples "$samples" --chains 4 --method vectorized
  venv="${ANCHOR_VENV:-$HOME/.cache/pyrite-anchors/venv}"
  if [ -n "$anchors" ] && { [ -x "$venv/bin/python" ] || [ "${ANCHORS:-0}" = 1 ]; }; then
    py="$(bash "$anchors/setup.sh")"
    "$py" "$anchors/numpyro_nuts.py" "$data" "$warmup" "$samples" 1 sequential 2>&1 | grep -v -i warning || true
    "$py" "$anchors/numpyro_nuts.py" "$data" "$warmup" "$samples" 4 vectorized 2>&1 | grep -v -i warning || true
    "$py" "$anchors/pyro_nuts.py" "$data" "$pyro_draws" "$pyro_draws" 2>&1 | grep -v -i warning || true
  else
    echo "(Pyro/NumPyro skipped: run with ANCHORS=1 to install them via ../shared/anchors/setup.sh)"
  fi
} | tee "$out"
