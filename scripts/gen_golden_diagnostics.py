"""Golden values for pyrite-mcmc's convergence diagnostics (`crates/pyrite-mcmc/src/diagnostics.rs`).

Fixed chain sets are drawn from a seeded numpy generator and rounded to 8 decimals (so that the
JSON stays small and the Rust side reads back exactly the numbers the references saw). For each
set the file holds ArviZ's rank-normalised split R-hat (`az.rhat(method="rank")`), bulk and tail
effective sample sizes (`az.ess(method="bulk" | "tail")`), ArviZ's FFT autocovariance of the first
chain, NumPyro's `hpdi` (re-implemented below, as numpyro needs jax), and numpy's mean, standard
deviation (ddof=1, as NumPyro's `print_summary`), median and default (linear) quantiles of all the
draws together. Non-finite numbers are written as the strings "nan", "inf" and "-inf".

Run (ArviZ in a throw-away virtual environment):

    python3 -m venv /tmp/azenv && /tmp/azenv/bin/pip install arviz numpy
    /tmp/azenv/bin/python scripts/gen_golden_diagnostics.py
"""

import json
import math
import os
import warnings

warnings.filterwarnings("ignore")  # ArviZ's refactor notice; numpy's 0/0 warnings on constant chains

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from arviz.stats.stats_utils import autocov  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "pyrite-mcmc", "tests", "golden", "diagnostics.json")
HPDI_PROBS = [0.5, 0.89, 0.9, 0.95]
QUANTILES = [0.0, 0.055, 0.25, 0.5, 0.945, 1.0]
AUTOCOV_LAGS = 20


def hpdi(x, prob):
    """NumPyro's `numpyro.diagnostics.hpdi` for one dimension: the shortest interval between two
    sorted draws `int(prob * n)` places apart."""
    sorted_x = np.sort(x)
    mass = x.shape[0]
    index_length = int(prob * mass)
    lengths = sorted_x[index_length:] - sorted_x[: mass - index_length]
    start = int(np.argmin(lengths))
    return [sorted_x[start], sorted_x[start + index_length]]


def ar1(rng, chains, draws, phi, scale=1.0):
    """Stationary AR(1) chains `x[t] = phi * x[t-1] + scale * e[t]`."""
    x = np.empty((chains, draws))
    x[:, 0] = rng.normal(0.0, scale / math.sqrt(1.0 - phi * phi), chains)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + rng.normal(0.0, scale, chains)
    return x


def chain_sets():
    rng = np.random.default_rng(20240611)
    return {
        "ar1_strong": ar1(rng, 4, 500, 0.95),
        "iid_normal": rng.normal(0.0, 1.0, (4, 400)),
        "different_means": rng.normal(0.0, 1.0, (3, 300)) + np.array([[0.0], [0.5], [1.5]]),
        "heavy_tailed": rng.standard_t(2.0, (4, 300)),
        "short_odd": rng.normal(0.0, 1.0, (2, 7)),
        "single_chain": ar1(rng, 1, 201, 0.5),
        "antithetic": ar1(rng, 4, 250, -0.6),
        "strongly_antithetic": ar1(rng, 2, 200, -0.9),
        "ties": rng.poisson(2.0, (2, 50)).astype(float),
        "constant": np.full((2, 10), 1.5),
        "constant_per_chain": np.repeat(np.array([[0.0], [1.0]]), 8, axis=1),
        "too_short": rng.normal(0.0, 1.0, (2, 3)),
        "slow_mixing": ar1(rng, 2, 40, 0.99),
        "trend": np.linspace(0.0, 3.0, 100) + rng.normal(0.0, 1.0, (2, 100)),
    }


def number(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def reference(x):
    flat = x.reshape(-1)
    return {
        "chains": x.tolist(),
        "rhat": number(az.rhat(x, method="rank")),
        "ess_bulk": number(az.ess(x, method="bulk")),
        "ess_tail": number(az.ess(x, method="tail")),
        "autocov_chain0": [number(v) for v in autocov(x[0])[:AUTOCOV_LAGS]],
        "hpdi": [{"prob": p, "interval": [number(v) for v in hpdi(flat, p)]} for p in HPDI_PROBS],
        "quantiles": [{"q": q, "value": number(np.quantile(flat, q))} for q in QUANTILES],
        "median": number(np.median(flat)),
        "mean": number(flat.mean()),
        "sd": number(flat.std(ddof=1)),
    }


def main():
    sets = {name: np.round(x, 8) for name, x in chain_sets().items()}
    out = {
        "generator": "scripts/gen_golden_diagnostics.py",
        "versions": {"arviz": az.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
        "sets": {name: reference(x) for name, x in sets.items()},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
