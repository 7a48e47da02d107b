#!/usr/bin/env python3
"""Writes the golden KL divergences that pyrite-distributions' `kl_divergence` is tested against.

Run it with the PyTorch 2.13 that scripts/setup-libtorch.sh installs, as scripts/gen_golden.py:

    PYTHONPATH=$(dirname $(bash scripts/setup-libtorch.sh)) python3 scripts/gen_golden_kl.py

It writes crates/pyrite-distributions/tests/golden/kl.json (float64 throughout): for every pair
of families that torch's `kl_divergence` registry covers and pyrite has, one or more cases of
`p` and `q` (their constructors' parameters, with batch shapes that broadcast against each other,
such as p of batch [3] and q of batch [], or [2, 1] and [3]) and torch's `kl_divergence(p, q)`.

Encoding: as distributions.json, every tensor is `{"shape": [...], "data": nested lists}` with
non-finite numbers as the strings "nan", "inf" and "-inf". A distribution is
`{"family", "ctor", "params": [[name, tensor], ...]}` (parameters in the order of the Rust
constructor's arguments), or `{"family": "Independent", "reinterpreted": n, "base": ...}`.

torch returns, for the pairs whose divergence is infinite whatever the parameters (Normal to
Gamma, ...), a tensor of p's batch shape; pyrite's is the broadcast batch shape of p and q, so
those cases give q a batch shape that broadcasts into p's.

Parameters are drawn from a fixed torch.Generator seed, so the file is reproducible.
"""

import json
import os
import sys

import torch
import torch.distributions as D

from golden_common import GOLDEN_DIR, Draws, enc, t

OUT = os.path.join(GOLDEN_DIR, "kl.json")

_draws = Draws(20240614)
rand, randn, spd, tril = _draws.rand, _draws.randn, _draws.spd, _draws.tril


# ---------------------------------------------------------------- distributions
# Each returns (json spec, torch distribution).


def dist(family, ctor, params, d):
    return {"family": family, "ctor": ctor, "params": [[n, enc(v)] for n, v in params]}, d


def normal(loc, scale):
    return dist("Normal", "new", [("loc", loc), ("scale", scale)], D.Normal(loc, scale))


def log_normal(loc, scale):
    return dist("LogNormal", "new", [("loc", loc), ("scale", scale)], D.LogNormal(loc, scale))


def half_normal(scale):
    return dist("HalfNormal", "new", [("scale", scale)], D.HalfNormal(scale))


def laplace(loc, scale):
    return dist("Laplace", "new", [("loc", loc), ("scale", scale)], D.Laplace(loc, scale))


def cauchy(loc, scale):
    return dist("Cauchy", "new", [("loc", loc), ("scale", scale)], D.Cauchy(loc, scale))


def half_cauchy(scale):
    return dist("HalfCauchy", "new", [("scale", scale)], D.HalfCauchy(scale))


def uniform(low, high):
    return dist("Uniform", "new", [("low", low), ("high", high)], D.Uniform(low, high))


def exponential(rate):
    return dist("Exponential", "new", [("rate", rate)], D.Exponential(rate))


def gamma(conc, rate):
    return dist("Gamma", "new", [("concentration", conc), ("rate", rate)], D.Gamma(conc, rate))


def inverse_gamma(conc, rate):
    return dist("InverseGamma", "new", [("concentration", conc), ("rate", rate)], D.InverseGamma(conc, rate))


def beta(c1, c0):
    return dist("Beta", "new", [("concentration1", c1), ("concentration0", c0)], D.Beta(c1, c0))


def dirichlet(conc):
    return dist("Dirichlet", "new", [("concentration", conc)], D.Dirichlet(conc))


def bernoulli(probs=None, logits=None):
    if logits is not None:
        return dist("Bernoulli", "from_logits", [("logits", logits)], D.Bernoulli(logits=logits))
    return dist("Bernoulli", "new", [("probs", probs)], D.Bernoulli(probs=probs))


def binomial(n, probs):
    return dist("Binomial", "new", [("total_count", n), ("probs", probs)], D.Binomial(n, probs=probs))


def categorical(probs=None, logits=None):
    if logits is not None:
        return dist("Categorical", "from_logits", [("logits", logits)], D.Categorical(logits=logits))
    return dist("Categorical", "new", [("probs", probs)], D.Categorical(probs=probs))


def one_hot_categorical(probs):
    return dist("OneHotCategorical", "new", [("probs", probs)], D.OneHotCategorical(probs=probs))


def poisson(rate):
    return dist("Poisson", "new", [("rate", rate)], D.Poisson(rate))


def mvn_tril(loc, scale_tril):
    return dist("MultivariateNormal", "from_scale_tril", [("loc", loc), ("scale_tril", scale_tril)],
                D.MultivariateNormal(loc, scale_tril=scale_tril))


def mvn_cov(loc, cov):
    return dist("MultivariateNormal", "from_covariance", [("loc", loc), ("covariance_matrix", cov)],
                D.MultivariateNormal(loc, covariance_matrix=cov))


def mvn_precision(loc, prec):
    return dist("MultivariateNormal", "from_precision", [("loc", loc), ("precision_matrix", prec)],
                D.MultivariateNormal(loc, precision_matrix=prec))


def low_rank_mvn(loc, w, diag):
    return dist("LowRankMultivariateNormal", "new", [("loc", loc), ("cov_factor", w), ("cov_diag", diag)],
                D.LowRankMultivariateNormal(loc, w, diag))


def independent(base, n):
    spec, d = base
    return {"family": "Independent", "reinterpreted": n, "base": spec}, D.Independent(d, n)


def pos(*shape, lo=0.3, hi=3.0):
    return rand(*shape, lo=lo, hi=hi)


def simplex(*shape):
    x = rand(*shape, lo=0.1, hi=1.0)
    return x / x.sum(-1, keepdim=True)


# ---------------------------------------------------------------- cases

CASES = []


def kl(p, q, note):
    (p_spec, p_dist), (q_spec, q_dist) = p, q
    CASES.append({"note": note, "p": p_spec, "q": q_spec, "kl": enc(D.kl_divergence(p_dist, q_dist))})


# same family, univariate
kl(normal(randn(3), pos(3)), normal(t(0.2), t(1.5)), "p [3], q []")
kl(normal(randn(2, 1), pos(2, 1)), normal(randn(3), pos(3)), "p [2,1], q [3]")
kl(log_normal(randn(3), pos(3)), log_normal(randn(3), pos(3)), "p [3], q [3]")
kl(half_normal(pos(3)), half_normal(t(1.3)), "p [3], q []")
kl(half_normal(pos(2, 1)), half_normal(pos(3)), "p [2,1], q [3]")
kl(laplace(randn(3), pos(3)), laplace(t(-0.4), t(0.9)), "p [3], q []")
kl(laplace(randn(2, 1), pos(2, 1)), laplace(randn(3), pos(3)), "p [2,1], q [3]")
kl(cauchy(randn(3), pos(3)), cauchy(t(0.5), t(2.0)), "p [3], q []")
kl(half_cauchy(pos(3)), half_cauchy(pos(3)), "p [3], q [3]")
kl(uniform(t([0.0, -1.0, 0.5, 0.2]), t([1.0, 2.0, 0.7, 3.0])), uniform(t([-0.5, -1.0, 0.6, 0.0]), t([1.5, 1.0, 0.8, 3.0])),
   "p [4], q [4]; inf where p's support is not inside q's")
kl(uniform(t(0.2), t(0.9)), uniform(t([0.0, -2.0, 0.1]), t([1.0, 0.5, 4.0])), "p [], q [3]")
kl(exponential(pos(3)), exponential(t(0.7)), "p [3], q []")
kl(exponential(pos(2, 1)), exponential(pos(3)), "p [2,1], q [3]")
kl(gamma(pos(3), pos(3)), gamma(t(2.0), t(0.5)), "p [3], q []")
kl(gamma(pos(2, 1), pos(2, 1)), gamma(pos(3), pos(3)), "p [2,1], q [3]")
kl(inverse_gamma(pos(3), pos(3)), inverse_gamma(pos(3), pos(3)), "p [3], q [3]")
kl(beta(pos(3), pos(3)), beta(t(2.0), t(3.0)), "p [3], q []")
kl(beta(pos(2, 1), pos(2, 1)), beta(pos(3), pos(3)), "p [2,1], q [3]")
kl(poisson(pos(3, lo=0.1, hi=8.0)), poisson(t(2.5)), "p [3], q []")

# same family, discrete
kl(bernoulli(t([0.0, 0.3, 1.0, 0.5, 0.0, 1.0])), bernoulli(t([0.5, 0.0, 0.2, 1.0, 0.0, 1.0])),
   "probs on the boundary: 0 where p is certain, inf where q excludes an outcome of p")
kl(bernoulli(logits=randn(3) * 2), bernoulli(logits=t(0.4)), "logits, p [3], q []")
kl(bernoulli(t(0.35)), bernoulli(rand(3)), "p [], q [3]")
kl(binomial(t(10.0), rand(3)), binomial(t(10.0), t(0.4)), "equal total_count, p [3], q []")
kl(binomial(t([10.0, 6.0, 8.0]), rand(3)), binomial(t(6.0), t(0.3)), "p.total_count > q's gives inf, p [3], q []")
kl(categorical(simplex(3, 4)), categorical(t([0.1, 0.2, 0.3, 0.4])), "p [3] K=4, q []")
kl(categorical(t([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]])), categorical(t([[0.2, 0.3, 0.5], [0.6, 0.0, 0.4]])),
   "zero probabilities: 0 log 0 = 0, inf where q excludes a category of p")
kl(categorical(logits=randn(2, 1, 5)), categorical(logits=randn(3, 5)), "logits, p [2,1], q [3]")
kl(one_hot_categorical(simplex(2, 3)), one_hot_categorical(simplex(3)), "p [2] K=3, q []")
kl(dirichlet(pos(3, 4)), dirichlet(pos(4)), "p [3] K=4, q []")
kl(dirichlet(pos(4)), dirichlet(pos(2, 4)), "p [] K=4, q [2]")

# Independent
kl(independent(normal(randn(2, 3), pos(2, 3)), 1), independent(normal(randn(3), pos(3)), 1), "Normal to_event(1), p [2], q []")
kl(independent(beta(pos(2, 3), pos(2, 3)), 2), independent(beta(pos(2, 3), pos(2, 3)), 2), "Beta to_event(2)")
kl(independent(gamma(pos(2, 3), pos(2, 3)), 1), independent(exponential(pos(2, 3)), 1), "Gamma to Exponential, to_event(1)")

# multivariate normals
kl(mvn_tril(randn(2, 3), tril(2)), mvn_tril(randn(3), tril()), "scale_tril, p [2], q []")
kl(mvn_cov(randn(3), spd()), mvn_precision(randn(2, 3), spd(2)), "covariance p [], precision q [2]")
kl(mvn_tril(randn(2, 1, 3), tril(3)), mvn_cov(randn(3, 3), spd(n=3)), "p loc [2,1,3] x scale_tril [3,3,3], q [3]")
kl(low_rank_mvn(randn(2, 4), randn(2, 4, 2), pos(2, 4)), low_rank_mvn(randn(4), randn(4, 1), pos(4)), "low rank, p [2] r=2, q [] r=1")
kl(mvn_tril(randn(4), tril(n=4)), low_rank_mvn(randn(2, 4), randn(4, 2), pos(2, 4)), "MVN to low rank, p [], q [2]")
kl(low_rank_mvn(randn(2, 3), randn(3, 2), pos(3)), mvn_cov(randn(3), spd()), "low rank to MVN, p [2], q []")

# across families
kl(bernoulli(rand(3)), poisson(t(0.8)), "p [3], q []")
kl(beta(pos(3), pos(3)), exponential(t(1.5)), "p [3], q []")
kl(beta(pos(2, 1), pos(2, 1)), gamma(pos(3), pos(3)), "p [2,1], q [3]")
kl(beta(pos(3), pos(3)), normal(t(0.3), t(0.8)), "p [3], q []")
kl(beta(pos(4), pos(4)), uniform(t([0.0, -1.0, 0.1, -0.5]), t([1.0, 2.0, 1.0, 0.9])), "inf where [0, 1] is not inside q's support")
kl(exponential(pos(3)), gamma(t(2.0), t(1.5)), "p [3], q []")
kl(exponential(pos(2, 1)), normal(randn(3), pos(3)), "p [2,1], q [3]")
kl(gamma(pos(3), pos(3)), exponential(t(0.6)), "p [3], q []")
kl(gamma(pos(2, 1), pos(2, 1)), normal(randn(3), pos(3)), "p [2,1], q [3]")
kl(laplace(randn(3), pos(3)), normal(t(0.1), t(1.2)), "p [3], q []")
kl(normal(randn(2, 1), pos(2, 1)), laplace(randn(3), pos(3)), "p [2,1], q [3]")
kl(uniform(t([0.1, 0.0, -0.2, 0.5]), t([0.6, 1.0, 0.5, 1.3])), beta(pos(4), pos(4)), "inf where p's support leaves [0, 1]")
kl(uniform(t([0.5, -1.0, 0.0]), t([2.0, 1.0, 3.0])), exponential(t(0.9)), "inf where low < 0")
kl(uniform(t([0.5, -1.0, 0.0]), t([2.0, 1.0, 3.0])), gamma(pos(3), pos(3)), "inf where low < 0")
kl(uniform(randn(2, 1), t(3.0)), normal(randn(3), pos(3)), "p [2,1], q [3]")

# across families, infinite whatever the parameters
INFINITE = [
    (exponential(pos(3)), beta(t(2.0), t(2.0))),
    (exponential(pos(3)), uniform(t(0.0), t(5.0))),
    (gamma(pos(3), pos(3)), beta(t(2.0), t(2.0))),
    (gamma(pos(3), pos(3)), uniform(t(0.0), t(5.0))),
    (laplace(randn(3), pos(3)), beta(t(2.0), t(2.0))),
    (laplace(randn(3), pos(3)), exponential(t(1.0))),
    (laplace(randn(3), pos(3)), gamma(t(2.0), t(1.0))),
    (laplace(randn(3), pos(3)), uniform(t(-5.0), t(5.0))),
    (normal(randn(3), pos(3)), beta(t(2.0), t(2.0))),
    (normal(randn(3), pos(3)), exponential(t(1.0))),
    (normal(randn(3), pos(3)), gamma(t(2.0), t(1.0))),
    (normal(randn(3), pos(3)), uniform(t(-5.0), t(5.0))),
    (poisson(pos(3)), bernoulli(t(0.5))),
    (poisson(pos(3)), binomial(t(5.0), t(0.5))),
]
for p, q in INFINITE:
    kl(p, q, "support of p not inside q's: inf, p [3], q []")


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    doc = {"generator": "scripts/gen_golden_kl.py", "torch_version": torch.__version__, "dtype": "float64", "cases": CASES}
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    pairs = sorted({(c["p"]["family"], c["q"]["family"]) for c in CASES})
    print(f"wrote {len(CASES)} cases for {len(pairs)} pairs of families to {os.path.normpath(OUT)} "
          f"({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
