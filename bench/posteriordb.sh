#!/usr/bin/env bash
# posteriordb side by side in one run: pyrite compiled, pyrite eager and Stan (pystan 3, from
# ../shared/anchors/setup.sh) on the ported posteriors, with the same chains, warm-up and draws.
# Usage: bash bench/posteriordb.sh [CHAINS] [WARMUP] [SAMPLES] [POSTERIOR...]   (default: 1 1000
# 1000, every ported posterior). EAGER=0 skips the eager runs; STAN=0 skips Stan. NUMPYRO=1 (default
# 0) also runs NumPyro (bench/numpyro_posteriordb.py, in the same environment, seed NUMPYRO_SEED,
# default 1) on those of the run's posteriors it has a port of. STAN_CHECK=1 (default 0) also puts
# Stan's own draws through the reference check (bench/stan_check.py, a second, untimed Stan run).
# Results: target/bench/posteriordb-C.json (one row per posterior, Stan's figures added:
# stan_ess_per_s, stan_ess_per_s_net, ratio = pyrite compiled / Stan net) and the table with
# geometric means in target/bench/posteriordb-C.txt, C the number of chains. With NUMPYRO=1 the
# rows NumPyro ran also get numpyro_ess_per_s and numpyro_ratio = pyrite compiled / NumPyro.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
chains="${1:-1}"
warmup="${2:-1000}"
samples="${3:-1000}"
shift $(( $# < 3 ? $# : 3 ))
if [ $# -gt 0 ]; then
  sel=()
  for n in "$@"; do sel+=(--posterior "$n"); done
else
  sel=(--all)
fi
out="target/bench/posteriordb-$chains"
mkdir -p "$out"
bash scripts/setup-libtorch.sh >/dev/null
cargo build --release --example posteriordb >/dev/null 2>&1
run=(./target/release/examples/posteriordb "${sel[@]}" --chains "$chains" --warmup "$warmup" --samples "$samples")
"${run[@]}" --out "$out/compiled"
rm -rf "$out/eager"
if [ "${EAGER:-1}" != 0 ]; then
  "${run[@]}" --eager --out "$out/eager"
fi
: > "$out/stan.jsonl"
anchors="$(cd ../shared/anchors 2>/dev/null && pwd || true)"
venv="${ANCHOR_VENV:-$HOME/.cache/pyrite-anchors/venv}"
if [ "${STAN:-1}" != 0 ] && [ -n "$anchors" ] && [ -x "$venv/bin/python" ]; then
  py="$(bash "$anchors/setup.sh")"
  # httpstan caches fits by model, data and arguments: a run repeating an earlier one's seed would
  # be served from that cache (no sampling, a meaningless time), so each run draws its own.
  stan_seed="${STAN_SEED:-$(( $(date +%s) % 100000 + 1 ))}"
  echo "Stan's seed: $stan_seed"
  names=$(python3 -c "import json,sys; print(' '.join(r['posterior'] for r in json.load(open(sys.argv[1]))))" "$out/compiled/results.json")
  for n in $names; do
    "$py" "$anchors/stan_posteriordb.py" "../shared/posteriordb/posteriors/$n" "$chains" "$warmup" "$samples" "$stan_seed" 2>/dev/null | tail -n 1 >> "$out/stan.jsonl" || true
  done
else
  echo "(Stan skipped: run ../shared/anchors/setup.sh first, or STAN=0 was given)"
fi
rm -f "$out/stan_check.jsonl"
if [ "${STAN_CHECK:-0}" != 0 ] && [ -x "$venv/bin/python" ]; then
  names=$(python3 -c "import json,sys; print(' '.join('../shared/posteriordb/posteriors/' + r['posterior'] for r in json.load(open(sys.argv[1]))))" "$out/compiled/results.json")
  # shellcheck disable=SC2086
  "$venv/bin/python" bench/stan_check.py "$out/stan_check.jsonl" "$chains" "$warmup" "$samples" "${STAN_SEED:-1}" $names >/dev/null 2>&1 || true
fi
rm -f "$out/numpyro.json"
if [ "${NUMPYRO:-0}" != 0 ]; then
  if [ -x "$venv/bin/python" ]; then
    names=$(python3 -c "import json,sys; print(' '.join(r['posterior'] for r in json.load(open(sys.argv[1]))))" "$out/compiled/results.json")
    # shellcheck disable=SC2086
    "$venv/bin/python" bench/numpyro_posteriordb.py "$out/numpyro.json" "$chains" "$warmup" "$samples" "${NUMPYRO_SEED:-1}" $names 2>/dev/null || true
  else
    echo "(NumPyro skipped: run ../shared/anchors/setup.sh first)"
  fi
fi
python3 bench/posteriordb_table.py "$out" | tee "$out.txt"
