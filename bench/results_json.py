#!/usr/bin/env python3
"""Reads the text bench/run.sh wrote (target/bench/results.txt) and writes the same figures as
JSON: {"compiled": false, "rows": [{"model", "pyrite_us", "pyrite_eager_us", "floor_us",
"pyro_us", "numpyro_us"}, ...]}, null where a system did not run a model.

pyrite has no compiled step yet (issue 17): `pyrite_us` is the step pyrite runs, the eager one,
and equals `pyrite_eager_us`.

Usage: python3 bench/results_json.py target/bench/results.txt target/bench/results.json
"""
import json
import re
import sys

# model -> the label each system's line starts with.
ROWS = {
    "rugged-autonormal": {"pyrite": "rugged, AutoNormal", "pyro": "pyro AutoNormal:", "numpyro": "numpyro AutoNormal:"},
    "rugged-mvn": {"pyrite": "rugged, AutoMultivariateNormal", "pyro": "pyro AutoMultivariateNormal:", "numpyro": "numpyro AutoMultivariateNormal:"},
    "radon": {"pyrite": "radon GLMM, AutoNormal", "pyro": "pyro radon:", "numpyro": "numpyro radon:"},
    "gmm": {"pyrite": "iris GMM, AutoDelta + TraceEnum", "floor": "iris GMM, hand-written tch (floor)", "pyro": "pyro gmm:"},
    "glmm-1e6": {"numpyro": "numpyro glmm N=1000000 G=1000:"},
}
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def first_number_after(lines, label):
    for line in lines:
        if line.startswith(label):
            m = re.search(NUMBER, line[len(label):])
            if m:
                return float(m.group(1))
    return None


def main(src, dst):
    lines = [l.rstrip("\n") for l in open(src)]
    rows = []
    for model, labels in ROWS.items():
        row = {"model": model}
        for system in ("pyrite", "floor", "pyro", "numpyro"):
            label = labels.get(system)
            row[f"{system}_us"] = first_number_after(lines, label) if label else None
        rows.append(row)
    # The GLMM's pyrite and floor figures: the scaling table's row `1000000 1000 PYRITE FLOOR RATIO`.
    glmm = next(r for r in rows if r["model"] == "glmm-1e6")
    for line in lines:
        parts = line.split()
        if len(parts) == 5 and parts[0] == "1000000" and parts[1] == "1000":
            glmm["pyrite_us"], glmm["floor_us"] = float(parts[2]), float(parts[3])
    for row in rows:
        row["pyrite_eager_us"] = row["pyrite_us"]
    ordered = [{k: r[k] for k in ("model", "pyrite_us", "pyrite_eager_us", "floor_us", "pyro_us", "numpyro_us")} for r in rows]
    with open(dst, "w") as f:
        json.dump({"compiled": False, "source": src, "rows": ordered}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
