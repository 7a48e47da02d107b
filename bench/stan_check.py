"""Stan's own draws put through the reference check that examples/posteriordb applies to pyrite's.

Usage: python bench/stan_check.py OUT.jsonl CHAINS WARMUP SAMPLES SEED POSTERIOR_DIR...
(inside the environment of ../shared/anchors/setup.sh). For each posterior (a directory of
../shared/posteriordb/posteriors: model.stan, data.json, reference.json) it runs Stan's NUTS
(pystan 3, default settings) with the given chains, warm-up, draws and seed, and appends one JSON
line to OUT.jsonl: `posterior, ok, worst_mean_z, worst_sd_ratio, max_r_hat, min_ess_bulk,
divergences`, with the runner's rule (|mean - ref mean| <= 0.15 ref sd, sd within 10% of the ref
sd, rank-normalised split R-hat <= 1.01, ArviZ's). It says whether a posterior pyrite fails is
one the same budget of Stan's own sampler also fails. It times nothing: the timings beside pyrite's
come from ../shared/anchors/stan_posteriordb.py.
"""
import json
import os
import sys
import tempfile

import arviz as az
import numpy as np
import stan


def flat_index(name, shape):
    """Stan's 1-based flat name `theta[2,3]` as a row-major index into an array of `shape`."""
    _, _, idx = name.partition("[")
    if not idx:
        return 0
    return int(np.ravel_multi_index([int(i) - 1 for i in idx.rstrip("]").split(",")], shape, order="C"))


def check(directory, chains, warmup, samples, seed):
    code = open(os.path.join(directory, "model.stan")).read()
    data = json.load(open(os.path.join(directory, "data.json")))
    ref = json.load(open(os.path.join(directory, "reference.json")))
    cwd = os.getcwd()
    os.chdir(tempfile.mkdtemp())  # httpstan builds in the working directory
    try:
        model = stan.build(code, data=data, random_seed=seed)
        fit = model.sample(num_chains=chains, num_warmup=warmup, num_samples=samples)
    finally:
        os.chdir(cwd)
    idata = az.from_pystan(posterior=fit)
    ess = az.ess(idata, method="bulk")
    rhat = az.rhat(idata, method="rank")
    row = {"posterior": os.path.basename(os.path.normpath(directory)), "system": "stan", "chains": chains, "warmup": warmup,
           "samples": samples, "seed": seed, "worst_mean_z": 0.0, "worst_sd_ratio": 1.0, "max_r_hat": float("nan"),
           "min_ess_bulk": float("inf"), "divergences": int(np.sum(fit["divergent__"]))}
    for name, m, s in zip(ref["names"], ref["mean"], ref["sd"]):
        base = name.partition("[")[0]
        if base not in idata.posterior:
            continue
        values = idata.posterior[base].values  # [chains, draws, ...]
        j = flat_index(name, values.shape[2:])
        v = values.reshape(values.shape[0] * values.shape[1], -1)[:, j]
        z = (float(v.mean()) - m) / s if s > 0 else 0.0
        ratio = float(v.std(ddof=1)) / s if s > 0 else 1.0
        if abs(z) > abs(row["worst_mean_z"]):
            row["worst_mean_z"] = z
        if abs(ratio - 1.0) > abs(row["worst_sd_ratio"] - 1.0):
            row["worst_sd_ratio"] = ratio
        r = float(np.ravel(rhat[base].values)[j])
        if np.isfinite(r) and not r <= row["max_r_hat"]:
            row["max_r_hat"] = r
        row["min_ess_bulk"] = min(row["min_ess_bulk"], float(np.ravel(ess[base].values)[j]))
    r = row["max_r_hat"]
    row["ok"] = abs(row["worst_mean_z"]) <= 0.15 and abs(row["worst_sd_ratio"] - 1.0) <= 0.10 and (not np.isfinite(r) or r <= 1.01)
    return row


def main():
    out, chains, warmup, samples, seed = sys.argv[1], *(int(a) for a in sys.argv[2:6])
    for directory in sys.argv[6:]:
        try:
            row = check(directory, chains, warmup, samples, seed)
        except Exception as e:  # one posterior's failure is reported, and the others still run
            row = {"posterior": os.path.basename(os.path.normpath(directory)), "system": "stan", "ok": False, "error": str(e)[:300]}
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
