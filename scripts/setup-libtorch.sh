#!/usr/bin/env bash
# Provides libtorch 2.13.0 for tch 0.26, with no manual steps, and wires it into cargo.
#
# * Honours a user's own LIBTORCH (a directory with lib/libtorch.so and include/).
# * Otherwise installs the PyPI wheel torch==2.13.0 (libtorch plus its CUDA libraries) once into a
#   per-user cache, ${PYRITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyrite}/torch-2.13.0, which every
#   clone of the project reuses.
# * Writes .cargo/config.toml (git-ignored) in this checkout with LIBTORCH and a run-time library
#   path (rpath), so that plain `cargo build`, `cargo test` and `cargo run` work from any new shell.
# * Installs Gloo's headers (libgloo-dev) for the `distributed` feature when run as root, or says
#   how to.
# Idempotent: a second run does nothing but check. Prints the libtorch directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=2.13.0

if [ -n "${LIBTORCH:-}" ]; then
  libtorch="$LIBTORCH"
  [ -e "$libtorch/lib/libtorch.so" ] || [ -e "$libtorch/lib/libtorch.dylib" ] || {
    echo "setup-libtorch: LIBTORCH=$libtorch has no lib/libtorch.so" >&2; exit 1; }
else
  cache="${PYRITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyrite}"
  site="$cache/torch-$version"
  libtorch="$site/torch"
  if [ ! -e "$libtorch/lib/libtorch.so" ]; then
    mkdir -p "$cache"
    log="$cache/pip-torch-$version.log"
    echo "setup-libtorch: installing torch==$version from PyPI into $site (once, about 5 GB; log: $log)" >&2
    tmp="$(mktemp -d "$cache/.torch-$version.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    if ! python3 -m pip install --disable-pip-version-check --no-cache-dir --target "$tmp" "torch==$version" >"$log" 2>&1; then
      echo "setup-libtorch: pip could not install torch==$version; the last lines of $log:" >&2
      tail -n 15 "$log" >&2
      exit 1
    fi
    rm -rf "$site"
    mv "$tmp" "$site"   # atomic: a half-finished install is never taken for a whole one
    trap - EXIT
  fi
fi

libdir="$libtorch/lib"
if [ -f "$libtorch/version.py" ] && ! grep -q "__version__ = '$version" "$libtorch/version.py"; then
  echo "setup-libtorch: $libtorch is not PyTorch $version, which tch 0.26 needs" >&2; exit 1
fi
mkdir -p "$here/.cargo"
config="$here/.cargo/config.toml"
want="# Written by scripts/setup-libtorch.sh; not tracked by git.
[env]
LIBTORCH = \"$libtorch\"

[build]
rustdocflags = [\"-C\", \"link-arg=-Wl,-rpath,$libdir\", \"-C\", \"link-arg=-Wl,--disable-new-dtags\"]

[target.'cfg(target_os = \"linux\")']
rustflags = [\"-C\", \"link-arg=-Wl,-rpath,$libdir\", \"-C\", \"link-arg=-Wl,--disable-new-dtags\"]
"
if [ ! -f "$config" ] || [ "$(cat "$config")" != "$want" ]; then
  printf '%s' "$want" > "$config.tmp" && mv "$config.tmp" "$config"
fi

# Gloo's headers (Debian's libgloo-dev), which the `distributed` feature (pyrite-distributed,
# data-parallel SVI on libtorch's own c10d) compiles against; libtorch carries Gloo itself. As
# root (CI) they are installed; otherwise the one command to run is printed, and everything but
# the process groups builds without them.
if [ -z "${GLOO_INCLUDE_DIR:-}" ] && [ ! -f /usr/include/gloo/algorithm.h ] && [ ! -f /usr/local/include/gloo/algorithm.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    mkdir -p "${PYRITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyrite}"
    aptlog="${PYRITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pyrite}/apt-libgloo-dev.log"
    echo "setup-libtorch: installing libgloo-dev (Gloo's headers, for --features distributed; log: $aptlog)" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -q libgloo-dev || { apt-get update -q && apt-get install -y -q libgloo-dev; }; } >"$aptlog" 2>&1 ||
      echo "setup-libtorch: could not install libgloo-dev (see $aptlog); pyrite-distributed builds without process groups" >&2
  else
    echo "setup-libtorch: Gloo's headers are missing, so pyrite-distributed builds without process groups; to add them run: sudo apt-get install -y libgloo-dev" >&2
  fi
fi
echo "$libtorch"
