#!/usr/bin/env python3
"""Reads the text bench/run.sh wrote (target/bench/results.txt) and writes the same figures as
JSON: {"rows": [{"model", "pyrite_us", "pyrite_eager_us", "floor_us", "pyro_us", "numpyro_us",
"compiled"}, ...]}, null where a system did not run a model.

`pyrite_us` is the step with `Svi::compiled` on (`bench --compiled`, `scaling --compiled`),
`pyrite_eager_us` the default eager step; `compiled` says whether the step did compile (a model
the compiler cannot take runs eagerly: then both are eager steps).

Usage: python3 bench/results_json.py target/bench/results.txt target/bench/results.json
"""
import json
import re
import sys

# model -> the label each system's line starts with.
ROWS = {
    "rugged-autonormal": {"pyrite": "rugged, AutoNormal ", "pyro": "pyro AutoNormal:", "numpyro": "numpyro AutoNormal:"},
    "rugged-mvn": {"pyrite": "rugged, AutoMultivariateNormal ", "pyro": "pyro AutoMultivariateNormal:", "numpyro": "numpyro AutoMultivariateNormal:"},
    "radon": {"pyrite": "radon GLMM, AutoNormal ", "pyro": "pyro radon:", "numpyro": "numpyro radon:"},
    "gmm": {"pyrite": "iris GMM, AutoDelta + TraceEnum ", "floor": "iris GMM, hand-written tch (floor)", "pyro": "pyro gmm:"},
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


def pyrite_rows(lines, label):
    """The eager figure, the compiled-mode figure and whether that one compiled."""
    eager = compiled = None
    did = False
    for line in lines:
        if not line.startswith(label.rstrip()):
            continue
        rest = line[len(label.rstrip()):]
        m = re.search(NUMBER + r"\s*$", rest)
        if not m:
            continue
        value = float(m.group(1))
        if rest.lstrip().startswith("(compiled)"):
            compiled, did = value, True
        elif rest.lstrip().startswith("(not compiled)"):
            compiled, did = value, False
        elif not rest.lstrip().startswith("("):
            eager = value
    return eager, compiled, did


def main(src, dst):
    lines = [l.rstrip("\n") for l in open(src)]
    rows = []
    for model, labels in ROWS.items():
        row = {"model": model}
        for system in ("floor", "pyro", "numpyro"):
            label = labels.get(system)
            row[f"{system}_us"] = first_number_after(lines, label) if label else None
        eager, compiled, did = pyrite_rows(lines, labels["pyrite"]) if "pyrite" in labels else (None, None, False)
        row["pyrite_eager_us"], row["pyrite_us"], row["compiled"] = eager, compiled if compiled is not None else eager, did
        rows.append(row)
    # The GLMM's figures: the scaling tables' rows `1000000 1000 PYRITE FLOOR RATIO`, under the
    # header `... pyrite us ...` (eager) or `... compiled us ...`.
    glmm = next(r for r in rows if r["model"] == "glmm-1e6")
    compiled_table = False
    for line in lines:
        if "groups" in line and "floor us" in line:
            compiled_table = "compiled us" in line
        parts = line.split()
        if len(parts) == 5 and parts[0] == "1000000" and parts[1] == "1000":
            if glmm["floor_us"] is None:
                glmm["floor_us"] = float(parts[3])
            if compiled_table:
                glmm["pyrite_us"], glmm["compiled"] = float(parts[2]), True
            else:
                glmm["pyrite_eager_us"] = float(parts[2])
    if glmm["pyrite_us"] is None:
        glmm["pyrite_us"] = glmm["pyrite_eager_us"]
    keys = ("model", "pyrite_us", "pyrite_eager_us", "floor_us", "pyro_us", "numpyro_us", "compiled")
    ordered = [{k: r.get(k) for k in keys} for r in rows]
    with open(dst, "w") as f:
        json.dump({"source": src, "rows": ordered}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
