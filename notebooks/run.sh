#!/usr/bin/env bash
# Installs the evcxr Rust kernel and Jupyter (once), then executes every notebook headless,
# saving outputs in place; fails on any error. The first run compiles pyrite inside the kernel
# (several minutes); evcxr's cache makes later runs faster.
#   bash notebooks/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
libtorch="$(bash scripts/setup-libtorch.sh)"
cache="${PYRITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyrite}"
venv="$cache/jupyter-venv"
if [ ! -x "$venv/bin/jupyter" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q jupyter nbconvert
fi
if ! command -v evcxr_jupyter >/dev/null 2>&1; then
  cargo install --locked evcxr_jupyter
fi
export PATH="$venv/bin:$HOME/.cargo/bin:$PATH"
evcxr_jupyter --install >/dev/null
# The kernel builds pyrite in its own directory: give it libtorch and its run-time path.
export LIBTORCH="$libtorch"
export LD_LIBRARY_PATH="$libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -z "${PYRITE_DATA:-}" ] && [ -f ../shared/data/rugged_data.csv ]; then
  export PYRITE_DATA="$(cd ../shared/data && pwd)"
fi
cd notebooks
for nb in radon.ipynb gmm.ipynb bnn.ipynb rugged.ipynb; do
  echo "executing $nb"
  jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.kernel_name=rust "$nb"
done
