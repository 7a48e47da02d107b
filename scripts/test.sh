#!/usr/bin/env bash
# The whole test suite: libtorch set-up (when needed), every crate's unit, integration and doc
# tests, then the examples that CI must see run (with their checks), data-parallel SVI's on two
# ranks included when Gloo's headers are there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
libtorch="$(bash scripts/setup-libtorch.sh)"
if [ -z "${PYRITE_DATA:-}" ] && [ -f ../shared/data/rugged_data.csv ]; then
  export PYRITE_DATA="$(cd ../shared/data && pwd)"
fi
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
cargo test --workspace --doc
# The SVI steps run compiled by default (pyrite-compile); eagerly they meet the same checks.
cargo run --example radon -- --out target/ci-out/radon --check
cargo run --example radon -- --out target/ci-out/radon-eager --check --eager
cargo run --example gmm_iris -- --out target/ci-out/gmm --check
cargo run --example bnn -- --out target/ci-out/bnn --device cpu --check --save target/ci-out/bnn/mnist.safetensors
# The saved fit, reloaded in a fresh process, predicts with the same accuracy.
cargo run --example bnn -- --out target/ci-out/bnn-load --device cpu --check --load target/ci-out/bnn/mnist.safetensors
accuracy() { grep -o '"accuracy_mnist":[^,}]*' "$1/summary.json"; }
if [ "$(accuracy target/ci-out/bnn)" != "$(accuracy target/ci-out/bnn-load)" ]; then
  echo "bnn --load: $(accuracy target/ci-out/bnn-load), but the run that saved it had $(accuracy target/ci-out/bnn)" >&2
  exit 1
fi
# Eager minibatch steps (compiled by default: the batches as the step's inputs).
cargo run --example bnn -- --out target/ci-out/bnn-eager --device cpu --check --eager
cargo run --example vae -- --out target/ci-out/vae --device cpu --check
nuts=(--warmup 300 --samples 300 --chains 2 --check)
cargo run --example nuts -- --model radon "${nuts[@]}" --out target/ci-out/nuts-radon
# The same with the eager potential (compiled by default): its checks hold too.
cargo run --example nuts -- --model radon "${nuts[@]}" --eager --out target/ci-out/nuts-radon-eager
cargo run --example nuts -- --model gmm "${nuts[@]}" --out target/ci-out/nuts-gmm
cargo run --example nuts -- --model gmm "${nuts[@]}" --eager --out target/ci-out/nuts-gmm-eager
# posteriordb: eight posteriors (an AR model, two HMMs, the ordered mixture, two regressions, one
# nes year, the Lotka-Volterra ODE) against Stan's reference posteriors, compiled. With seed 0 one
# chain of each of the last two is stuck in a minor mode part-way through warm-up and is moved
# (`relocate_stuck_chains`); left there, Lotka-Volterra fails the check (R-hat 1.33).
cargo run --example posteriordb -- --posterior arK-arK --posterior hmm_example-hmm_example \
  --posterior low_dim_gauss_mix-low_dim_gauss_mix --posterior kidiq-kidscore_momhs --posterior mesquite-logmesquite \
  --posterior nes1996-nes --posterior bball_drive_event_0-hmm_drive_0 --posterior hudson_lynx_hare-lotka_volterra \
  --chains 4 --warmup 1000 --samples 1000 --check --out target/ci-out/posteriordb
if [ -n "${PYRITE_DATA:-}" ] && [ -f "$PYRITE_DATA/rugged_data.csv" ]; then
  cargo run --example rugged -- --out target/ci-out/rugged --check
  cargo run --example rugged -- --out target/ci-out/rugged-eager --check --eager
  cargo run --example nuts -- --model rugged "${nuts[@]}" --out target/ci-out/nuts-rugged
  cargo run --example nuts -- --model rugged "${nuts[@]}" --eager --out target/ci-out/nuts-rugged-eager
elif [ "${CI:-}" = "true" ]; then
  echo "rugged_data.csv not found (PYRITE_DATA=${PYRITE_DATA:-unset}): required under CI" >&2
  exit 1
else
  echo "skipping the rugged example: set PYRITE_DATA to the directory holding rugged_data.csv"
fi
# Data-parallel SVI (pyrite-distributed's two-process tests ran above): the example on two ranks,
# as its own launcher and under torchrun, when Gloo's headers are there.
if [ -n "${GLOO_INCLUDE_DIR:-}" ] || [ -f /usr/include/gloo/algorithm.h ] || [ -f /usr/local/include/gloo/algorithm.h ]; then
  cargo build --features distributed --example glmm_distributed
  glmm=(--n 100000 --groups 100 --steps 300 --check)
  target/debug/examples/glmm_distributed --spawn 2 "${glmm[@]}" --out target/ci-out/glmm-spawn
  torchrun="$(dirname "$libtorch")/bin/torchrun"
  if [ -x "$torchrun" ]; then
    PYTHONPATH="$(dirname "$libtorch")" "$torchrun" --standalone --nproc-per-node 2 --no-python -- \
      target/debug/examples/glmm_distributed "${glmm[@]}" --out target/ci-out/glmm-torchrun
  else
    echo "skipping glmm_distributed under torchrun: no torchrun beside $libtorch"
  fi
elif [ "${CI:-}" = "true" ]; then
  echo "Gloo's headers (libgloo-dev) not found: required under CI" >&2
  exit 1
else
  echo "skipping glmm_distributed: no Gloo headers (sudo apt-get install -y libgloo-dev)"
fi
python3 scripts/sync_docs.py --check
