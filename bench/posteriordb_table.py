"""Merges a bench/posteriordb.sh run: pyrite compiled (DIR/compiled/results.json), pyrite eager
(DIR/eager/results.json, if run), Stan (DIR/stan.jsonl, one JSON line per posterior, if run; and
DIR/stan_check.jsonl, Stan's draws through the same reference check, if run) and
NumPyro (DIR/numpyro.json, a list of rows from bench/numpyro_posteriordb.py, if run) into DIR.json
(one row per posterior) and prints the table with the geometric means of the ratios of min bulk
ESS per second (pyrite compiled over Stan net of its process overhead, over Stan, over pyrite
eager and, where NumPyro ran, over NumPyro: numpyro_ratio, over the rows that have it)."""
import json
import math
import os
import sys

d = sys.argv[1]


def load(path):
    return {r["posterior"]: r for r in json.load(open(path))} if os.path.exists(path) else {}


compiled = load(os.path.join(d, "compiled", "results.json"))
eager = load(os.path.join(d, "eager", "results.json"))
has_numpyro = os.path.exists(os.path.join(d, "numpyro.json"))
numpyro = load(os.path.join(d, "numpyro.json"))
stan = {}
if os.path.exists(os.path.join(d, "stan.jsonl")):
    for line in open(os.path.join(d, "stan.jsonl")):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            stan[r["posterior"]] = r

stan_check = {}
if os.path.exists(os.path.join(d, "stan_check.jsonl")):
    for line in open(os.path.join(d, "stan_check.jsonl")):
        if line.strip().startswith("{"):
            r = json.loads(line)
            stan_check[r["posterior"]] = r
has_stan_check = bool(stan_check)

rows = []
for name, c in compiled.items():
    row = dict(c)
    e = eager.get(name)
    s = stan.get(name)
    row["eager_ess_per_s"] = e["min_ess_per_s"] if e else None
    row["eager_ok"] = e["ok"] if e else None
    row["stan_ess_per_s"] = s["min_ess_per_s"] if s else None
    row["stan_ess_per_s_net"] = s["min_ess_per_s_net"] if s else None
    row["stan_divergences"] = s["divergences"] if s else None
    row["stan_ok"] = stan_check[name]["ok"] if name in stan_check else None
    ok = lambda x: x is not None and isinstance(x, (int, float)) and x > 0 and math.isfinite(x)
    row["ratio"] = c["min_ess_per_s"] / s["min_ess_per_s_net"] if s and ok(c["min_ess_per_s"]) and ok(s["min_ess_per_s_net"]) else None
    if has_numpyro:
        n = numpyro.get(name)
        row["numpyro_ess_per_s"] = n["min_ess_per_s"] if n else None
        row["numpyro_ok"] = n["ok"] if n else None
        row["numpyro_divergences"] = n["divergences"] if n else None
        row["numpyro_ratio"] = c["min_ess_per_s"] / n["min_ess_per_s"] if n and ok(c["min_ess_per_s"]) and ok(n["min_ess_per_s"]) else None
    rows.append(row)
json.dump(rows, open(d + ".json", "w"), indent=1)


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0 and math.isfinite(x)]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def f(x, fmt):
    return format(x, fmt) if isinstance(x, (int, float)) and x is not None else "-"


print(f"{'posterior':<44} {'ok':>4} {'compiled':>9} {'eager':>9} {'stan':>9} {'stan net':>9} {'vs stan':>8} {'div':>4} {'stan div':>8}"
      + (f" {'stan ok':>7}" if has_stan_check else "") + (f" {'numpyro':>9} {'vs npy':>8} {'npy ok':>6}" if has_numpyro else ""))
for r in rows:
    print(f"{r['posterior']:<44} {('yes' if r['ok'] else 'NO'):>4} {f(r['min_ess_per_s'], '9.0f')} {f(r['eager_ess_per_s'], '9.1f')} "
          f"{f(r['stan_ess_per_s'], '9.0f')} {f(r['stan_ess_per_s_net'], '9.0f')} {f(r['ratio'], '8.2f')} {r['divergences']:>4} {f(r['stan_divergences'], '8d')}"
          + (f" {('-' if r['stan_ok'] is None else 'yes' if r['stan_ok'] else 'NO'):>7}" if has_stan_check else "")
          + (f" {f(r['numpyro_ess_per_s'], '9.0f'):>9} {f(r['numpyro_ratio'], '8.2f'):>8} "
             f"{('-' if r['numpyro_ok'] is None else 'yes' if r['numpyro_ok'] else 'NO'):>6}" if has_numpyro else ""))
ratios = [r["ratio"] for r in rows]
eager_ratios = [r["min_ess_per_s"] / r["eager_ess_per_s"] for r in rows if r["eager_ess_per_s"]]
n_stan = sum(x is not None for x in ratios)
print(f"passed {sum(r['ok'] for r in rows)} of {len(rows)}; geometric mean of compiled / Stan net: {geomean(ratios):.2f} over {n_stan}; "
      f"at least Stan's on {sum(1 for x in ratios if x and x >= 1)} of {n_stan}; compiled / eager: {geomean(eager_ratios):.1f}")
if has_stan_check:
    print(f"Stan's own draws passed the same check on {sum(1 for r in rows if r['stan_ok'])} of {sum(1 for r in rows if r['stan_ok'] is not None)}")
if has_numpyro:
    npy_ratios = [r["numpyro_ratio"] for r in rows if r["numpyro_ratio"] is not None]
    print(f"geometric mean of compiled / NumPyro: {geomean(npy_ratios):.2f} over {len(npy_ratios)}; "
          f"at least NumPyro's on {sum(1 for x in npy_ratios if x >= 1)} of {len(npy_ratios)}; "
          f"NumPyro passed {sum(1 for r in rows if r['numpyro_ok'])} of {sum(1 for r in rows if r['numpyro_ok'] is not None)}")
