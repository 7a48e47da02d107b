"""Golden values for pyrite's model comparison (`crates/pyrite-infer/src/compare.rs`, `psis.rs`).

Fixed log-likelihood matrices (`[draws, observations]`, draws in ArviZ's stacked chain-major
order) are drawn from a seeded numpy generator and rounded to 8 decimals, so that the Rust side
reads back exactly the numbers ArviZ saw. For each matrix the file holds ArviZ's `az.waic` and
`az.loo` (pointwise, with the Pareto k of every observation, for the given `reff`) and
`az.psislw` of the negated log-likelihood (the smoothed, normalised log weights); for three
models fitted to one data set it holds `az.compare` with LOO and WAIC, stacking and pseudo-BMA
weights, the stacking objective ArviZ's weights reach and the stacking weights its optimiser
finds when run to a tolerance of 1e-15 (ArviZ's default stops around 1e-4 from the optimum). Non-finite numbers are written as the
strings "nan", "inf" and "-inf".

Matrices:
- gaussian: a normal model's log-likelihood under 400 posterior draws of its mean and scale
  (its smoothed weights are left out to keep the file small: its loo_i depend on them);
- heavy: draws whose log-likelihood has a heavy lower tail (a few draws fit some observations
  very badly), so that several Pareto k exceed 0.7 (reff 0.6 sizes the tails);
- short: 10 draws, tails too short to fit (k = inf);
- ties: log-likelihoods rounded to one decimal, so that the tails hold ties (as repeated MCMC
  draws give), where only the multiset of smoothed weights is defined.

Run (ArviZ in a throw-away virtual environment):

    python3 -m venv /tmp/azenv && /tmp/azenv/bin/pip install arviz numpy
    /tmp/azenv/bin/python scripts/gen_golden_compare.py
"""

import json
import math
import os
import warnings

warnings.filterwarnings("ignore")  # ArviZ's k and WAIC warnings are recorded, not printed

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy.optimize import Bounds, LinearConstraint, minimize  # noqa: E402
from scipy.stats import norm  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "compare.json")


def number(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def numbers(a):
    return [number(v) for v in np.asarray(a).reshape(-1)]


def gaussian_model(rng, y, draws, shift=0.0, scale=1.0):
    """Log N(y_i | mu_d + shift, sigma_d * scale) under posterior-like draws of mu and sigma."""
    n = len(y)
    mu = rng.normal(y.mean(), y.std() / math.sqrt(n), draws)
    sigma = y.std() * np.exp(rng.normal(0.0, 1.0 / math.sqrt(2 * n), draws))
    return norm.logpdf(y[None, :], (mu + shift)[:, None], (sigma * scale)[:, None])


def matrices(rng):
    y = rng.normal(1.0, 2.0, 12)
    gaussian = gaussian_model(rng, y, 400)
    # Heavy: for each observation, a log-likelihood -c * exp(s * z) with z standard normal, so
    # that -ll (the log importance ratio) has a log-normal right tail, heavier with s.
    s = np.linspace(0.2, 1.6, 8)
    c = np.linspace(0.5, 2.0, 8)
    heavy = -c[None, :] * np.exp(s[None, :] * rng.normal(0.0, 1.0, (800, 8)))
    short = rng.normal(-1.0, 0.5, (10, 5))
    ties = np.round(gaussian_model(rng, rng.normal(0.0, 1.0, 8), 400), 1)
    return {
        "gaussian": (gaussian, 1.0, False),  # psislw weights left out (size): its loo_i checks them
        "heavy": (heavy, 0.6, False),
        "short": (short, 1.0, False),
        "ties": (ties, 1.0, True),
    }


def idata(ll):
    """One chain of draws, as ArviZ wants it: `(chain, draw, observation)`."""
    return az.from_dict(log_likelihood={"obs": ll[None, :, :]})


def reference(name, ll, reff, ties):
    w = az.waic(idata(ll), pointwise=True)
    lo = az.loo(idata(ll), pointwise=True, reff=reff)
    log_weights, k = az.psislw(-ll.T, reff)
    return {
        "draws": ll.shape[0],
        "observations": ll.shape[1],
        "r_eff": reff,
        "ties": ties,
        "log_lik": numbers(ll),
        "waic": {
            "elpd": number(w["elpd_waic"]),
            "se": number(w["se"]),
            "p": number(w["p_waic"]),
            "pointwise": numbers(w["waic_i"].values),
            "warning": bool(w["warning"]),
        },
        "loo": {
            "elpd": number(lo["elpd_loo"]),
            "se": number(lo["se"]),
            "p": number(lo["p_loo"]),
            "pointwise": numbers(lo["loo_i"].values),
            "pareto_k": numbers(lo["pareto_k"].values),
            "good_k": number(lo["good_k"]),
            "warning": bool(lo["warning"]),
        },
        # `[observations, draws]`, as psislw returns them for the transposed matrix.
        "psislw": {"log_weights": [] if name == "gaussian" else numbers(log_weights), "k": numbers(k)},
    }


def tight_stacking(exp_elpd):
    """ArviZ's stacking optimisation (SLSQP from uniform weights) run to a tolerance of 1e-15."""
    cols = exp_elpd.shape[1]
    result = minimize(
        fun=lambda w: -np.sum(np.log(exp_elpd @ w)),
        x0=np.full(cols, 1.0 / cols),
        jac=lambda w: -np.sum(exp_elpd / (exp_elpd @ w)[:, None], axis=0),
        bounds=Bounds(lb=np.zeros(cols), ub=np.ones(cols)),
        constraints=LinearConstraint(np.ones(cols), lb=1.0, ub=1.0),
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return result.x


def comparison(rng):
    """Three models of one data set: the right one, one with a shifted mean, one too wide."""
    y = rng.normal(0.5, 1.5, 20)
    models = {
        "right": gaussian_model(rng, y, 200),
        "shifted": gaussian_model(rng, y, 200, shift=0.6),
        "wide": gaussian_model(rng, y, 200, scale=1.6),
    }
    models = {k: np.round(v, 8) for k, v in models.items()}
    out = {"draws": 200, "observations": 20, "log_lik": {k: numbers(v) for k, v in models.items()}, "tables": []}
    for ic in ["loo", "waic"]:
        elpds = {
            k: (az.loo(idata(v), pointwise=True, reff=1.0) if ic == "loo" else az.waic(idata(v), pointwise=True))
            for k, v in models.items()
        }
        for method in ["stacking", "pseudo-BMA"]:
            table = az.compare(elpds, ic=ic, method=method)
            rows = [
                {
                    "name": name,
                    "rank": int(r["rank"]),
                    "elpd": number(r[f"elpd_{ic}"]),
                    "p": number(r[f"p_{ic}"]),
                    "elpd_diff": number(r["elpd_diff"]),
                    "weight": number(r["weight"]),
                    "se": number(r["se"]),
                    "dse": number(r["dse"]),
                    "warning": bool(r["warning"]),
                }
                for name, r in table.iterrows()
            ]
            entry = {"ic": ic, "method": method, "rows": rows}
            if method == "stacking":
                # sum_i log sum_k w_k exp(elpd_ik) at ArviZ's weights, and the weights ArviZ's
                # optimiser reaches with a tolerance of 1e-15 instead of its default 1e-6.
                pointwise = np.array([elpds[r["name"]][f"{ic}_i"].values for r in rows]).T
                weights = np.array([r["weight"] for r in rows])
                entry["log_score"] = number(np.sum(np.log(np.exp(pointwise) @ weights)))
                entry["tight_weights"] = numbers(tight_stacking(np.exp(pointwise)))
            out["tables"].append(entry)
    return out


def main():
    rng = np.random.default_rng(20240917)
    sets = {name: (np.round(ll, 8), reff, ties) for name, (ll, reff, ties) in matrices(rng).items()}
    out = {
        "generator": "scripts/gen_golden_compare.py",
        "versions": {"arviz": az.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
        "matrices": {name: reference(name, *v) for name, v in sets.items()},
        "compare": comparison(rng),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")
    for name, m in out["matrices"].items():
        k = [v for v in m["loo"]["pareto_k"]]
        print(f"  {name}: elpd_loo {m['loo']['elpd']:.3f}, k {min(map(float, k)):.2f}..{max(map(float, k)):.2f}, good_k {m['loo']['good_k']:.3f}")
    for t in out["compare"]["tables"]:
        print(f"  compare {t['ic']} {t['method']}: " + ", ".join(f"{r['name']} {r['weight']:.4f}" for r in t["rows"]))


if __name__ == "__main__":
    main()
