"""How heavy is one_comp_mm_elim_abs's posterior tail in K_m?

For K_m much larger than the concentrations (about 14 mg/L), Michaelis-Menten elimination
(V_m / V) C / (K_m + C) is linear, (c / V) C with c = V_m / K_m, so the likelihood depends on
(k_a, c, sigma) alone. With V_m = c K_m the joint density in (k_a, K_m, c, sigma) is then the
Cauchy priors times the likelihood times the Jacobian K_m:
    K_m^-2 (c K_m)^-2 K_m g(k_a, c, sigma) ~ K_m^-3,
so the marginal density of K_m falls as K_m^-3 and its variance (and V_m's) is infinite.

This script checks that numerically: it integrates the posterior over (k_a, c, sigma) on a grid
at several K_m (the ODE solved by scipy to 1e-9) and prints the local slope of log p(K_m) against
log K_m, which should approach -3. Run it with the anchors' Python (numpy and scipy):
    ~/.cache/pyrite-anchors/venv/bin/python bench/one_comp_tail.py
"""
import json
import pathlib

import numpy as np
from scipy.integrate import solve_ivp

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = json.loads(
    (ROOT / "examples/posteriordb/data/one_comp_mm_elim_abs-one_comp_mm_elim_abs/data.json").read_text()
)
TIMES = np.array(DATA["times"])
LOG_C_HAT = np.log(np.array(DATA["C_hat"]))
D, V = DATA["D"], DATA["V"]


def concentrations(k_a, K_m, V_m):
    def rhs(t, y):
        dose = np.exp(-k_a * t) * D * k_a / V if t > 0 else 0.0
        return [dose - (V_m / V) * y[0] / (K_m + y[0])]

    sol = solve_ivp(rhs, (0.0, TIMES[-1]), [0.0], t_eval=TIMES, rtol=1e-9, atol=1e-12)
    return sol.y[0]


def log_half_cauchy(x):
    return np.log(2 / np.pi) - np.log1p(x * x)


SIGMAS = np.linspace(0.04, 0.4, 181)
K_AS = np.linspace(0.45, 1.15, 36)
LOG_CS = np.linspace(np.log(1e-3), np.log(10.0), 61)


def log_marginal(K_m):
    """log p(K_m) up to a constant: the posterior integrated over k_a, c = V_m / K_m, sigma."""
    terms = []
    for k_a in K_AS:
        for log_c in LOG_CS:
            c = np.exp(log_c)
            conc = concentrations(k_a, K_m, c * K_m)
            if np.any(conc <= 0):
                continue
            r2 = np.sum((LOG_C_HAT - np.log(conc)) ** 2)
            n = len(TIMES)
            log_lik = -n * np.log(SIGMAS) - r2 / (2 * SIGMAS**2)
            log_joint = (
                log_lik
                + log_half_cauchy(SIGMAS)
                + log_half_cauchy(k_a)
                + log_half_cauchy(K_m)
                + log_half_cauchy(c * K_m)
                + np.log(K_m)  # the Jacobian of V_m = c K_m
                + log_c  # the grid is uniform in log c
            )
            terms.append(np.logaddexp.reduce(log_joint))
    return np.logaddexp.reduce(np.array(terms))


def main():
    ks = [1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0]
    logs = [log_marginal(k) for k in ks]
    print(f"{'K_m':>8} {'log p(K_m)':>12} {'slope d log p / d log K_m':>26}")
    for i, (k, lp) in enumerate(zip(ks, logs)):
        slope = "" if i == 0 else f"{(lp - logs[i - 1]) / np.log(k / ks[i - 1]):26.3f}"
        print(f"{k:8.0f} {lp - logs[0]:12.3f} {slope}")


if __name__ == "__main__":
    main()
