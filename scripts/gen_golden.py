#!/usr/bin/env python3
"""Writes the golden values that pyrite-distributions' tests compare against.

Run it with the PyTorch 2.13 that scripts/setup-libtorch.sh installs (the libtorch that tch 0.26
links against is the same release):

    PYTHONPATH=$(dirname $(bash scripts/setup-libtorch.sh)) python3 scripts/gen_golden.py

It writes crates/pyrite-distributions/tests/golden/distributions.json (float64 throughout): for
every family and several parameterisations (scalars, batches, parameters that broadcast against
each other such as loc [3, 1] with scale [2]), the constructor's parameters, a value tensor (with
extra sample dims or dims that broadcast against the batch shape), and torch's expected
`batch_shape`, `event_shape`, `log_prob(value)`, `mean`, `variance` and `entropy`; and, under
"transforms", torch's forward values and log|det J| of the transforms (stick breaking, the
Cholesky transforms, sigmoid, softplus, biject_to of intervals) on fixed inputs.

Encoding: every tensor is `{"shape": [...], "data": nested lists}`; non-finite numbers are the
strings "nan", "inf" and "-inf" (JSON has no literals for them); a moment or entropy that torch
does not define (it raises, e.g. Poisson.entropy or Binomial.entropy with an inhomogeneous
total_count) is `null`. Values that torch defines as NaN (Categorical.mean, StudentT.mean for
df <= 1, Cauchy.mean) are recorded as NaN, not null.

InverseGamma uses torch.distributions.InverseGamma, which in torch 2.13 *is*
TransformedDistribution(Gamma(concentration, rate), PowerTransform(-1)) (log_prob through the
transform) with closed-form mean, variance and entropy.

Parameters are drawn from a fixed torch.Generator seed, so the file is reproducible.
"""

import json
import os
import sys

import torch
import torch.distributions as D

from golden_common import GOLDEN_DIR, Draws, enc, t

OUT = os.path.join(GOLDEN_DIR, "distributions.json")

_draws = Draws(20240613)
rand, randn, spd, tril = _draws.rand, _draws.randn, _draws.spd, _draws.tril


def maybe(f):
    try:
        return enc(f())
    except NotImplementedError:
        return None


CASES = []


def case(family, ctor, params, value, dist, note=""):
    """params: list of (name, tensor) in the order of the Rust constructor's arguments."""
    lp = dist.log_prob(value)
    CASES.append(
        {
            "family": family,
            "ctor": ctor,
            "note": note,
            "params": [[name, enc(t)] for name, t in params],
            "value": enc(value),
            "batch_shape": list(dist.batch_shape),
            "event_shape": list(dist.event_shape),
            "log_prob": enc(lp),
            "mean": maybe(lambda: dist.mean),
            "variance": maybe(lambda: dist.variance),
            "entropy": maybe(lambda: dist.entropy()),
        }
    )


def simplex(*shape):
    x = rand(*shape, lo=0.1, hi=1.0)
    return x / x.sum(-1, keepdim=True)


# ---------------------------------------------------------------- univariate, location-scale
for fam, cls in [("Normal", D.Normal), ("Cauchy", D.Cauchy), ("Laplace", D.Laplace)]:
    loc, scale = t(0.3), t(1.7)
    case(fam, "new", [("loc", loc), ("scale", scale)], t([-2.0, 0.0, 0.3, 1.5, 10.0]), cls(loc, scale), "scalar params")
    loc, scale = randn(3, 1), rand(2, lo=0.2, hi=3.0)
    case(fam, "new", [("loc", loc), ("scale", scale)], randn(4, 3, 2), cls(loc, scale), "loc [3,1] x scale [2], value [4,3,2]")
    loc, scale = randn(3), t(0.5)
    case(fam, "new", [("loc", loc), ("scale", scale)], randn(2, 1), cls(loc, scale), "value [2,1] broadcasts with batch [3]")

loc, scale = randn(2, 1), rand(3, lo=0.2, hi=1.5)
case("LogNormal", "new", [("loc", loc), ("scale", scale)], rand(5, 2, 3, lo=0.05, hi=6.0), D.LogNormal(loc, scale), "loc [2,1] x scale [3]")
loc, scale = t(-0.4), t(0.8)
case("LogNormal", "new", [("loc", loc), ("scale", scale)], t([0.01, 0.5, 1.0, 3.0]), D.LogNormal(loc, scale), "scalar")

for fam, cls in [("HalfNormal", D.HalfNormal), ("HalfCauchy", D.HalfCauchy)]:
    scale = rand(3, lo=0.3, hi=3.0)
    case(fam, "new", [("scale", scale)], t([[0.0, 0.5, 2.0], [1.0, 7.0, 0.1]]), cls(scale), "scale [3], value [2,3] incl. 0")
    scale = rand(2, 1, lo=0.3, hi=3.0)
    case(fam, "new", [("scale", scale)], rand(4, lo=0.0, hi=4.0), cls(scale), "scale [2,1], value [4]")

low, high = randn(3), t(2.5)
case("Uniform", "new", [("low", low), ("high", high)], t([[-0.5, 0.0, 2.0], [2.4, 1.0, -0.1]]).clamp(min=low.max().item()), D.Uniform(low, high), "low [3], high scalar")
low = t([[-1.0], [0.5]])
high = t([1.0, 2.0, 3.0])
case("Uniform", "new", [("low", low), ("high", high)], t([[0.6], [0.9]]), D.Uniform(low, high), "low [2,1] x high [3], value [2,1]")
case("Uniform", "new", [("low", t(0.0)), ("high", t(1.0))], t([0.0, 0.25, 1.0]), D.Uniform(t(0.0), t(1.0)), "value on both bounds (high gives -inf)")

rate = t([0.5, 1.0, 4.0])
case("Exponential", "new", [("rate", rate)], t([[0.0, 1.0, 0.2], [3.0, 0.01, 2.0]]), D.Exponential(rate), "rate [3], value incl. 0")
rate = rand(2, 1, lo=0.1, hi=3.0)
case("Exponential", "new", [("rate", rate)], rand(3, lo=0.0, hi=5.0), D.Exponential(rate), "rate [2,1], value [3]")

# ---------------------------------------------------------------- gamma family
conc, rate = t([[0.5], [1.0], [3.7]]), t([0.8, 2.0])
case("Gamma", "new", [("concentration", conc), ("rate", rate)], rand(4, 3, 2, lo=0.01, hi=5.0), D.Gamma(conc, rate), "conc [3,1] x rate [2]")
conc, rate = t(2.5), rand(3, lo=0.5, hi=2.0)
case("Gamma", "new", [("concentration", conc), ("rate", rate)], t([0.3, 1.0, 7.5]), D.Gamma(conc, rate), "scalar conc")

conc, rate = t([0.7, 1.5, 2.0, 4.2]), t(1.3)
case("InverseGamma", "new", [("concentration", conc), ("rate", rate)], t([[0.2, 0.9, 1.0, 3.5], [5.0, 0.05, 0.4, 1.2]]), D.InverseGamma(conc, rate), "mean inf for conc<=1, variance inf for conc<=2")
conc, rate = t([[3.0], [6.0]]), t([0.5, 2.0, 4.0])
case("InverseGamma", "new", [("concentration", conc), ("rate", rate)], rand(2, 3, lo=0.1, hi=3.0), D.InverseGamma(conc, rate), "conc [2,1] x rate [3]")

c1, c0 = t([[0.5], [1.0], [4.0]]), t([0.7, 3.0])
case("Beta", "new", [("concentration1", c1), ("concentration0", c0)], rand(5, 3, 2, lo=0.02, hi=0.98), D.Beta(c1, c0), "c1 [3,1] x c0 [2]")
c1, c0 = t(2.0), t(2.0)
case("Beta", "new", [("concentration1", c1), ("concentration0", c0)], t([0.1, 0.5, 0.9]), D.Beta(c1, c0), "scalar")

conc = t([0.5, 1.0, 2.5, 4.0])
case("Dirichlet", "new", [("concentration", conc)], simplex(3, 4), D.Dirichlet(conc), "K=4, value [3,4]")
conc = rand(2, 3, lo=0.3, hi=5.0)
case("Dirichlet", "new", [("concentration", conc)], simplex(5, 1, 3), D.Dirichlet(conc), "batch [2], value [5,1,3]")

# ---------------------------------------------------------------- StudentT
df, loc, scale = t([0.8, 1.5, 5.0]), t(0.2), t([[0.5], [2.0]])
case("StudentT", "new", [("df", df), ("loc", loc), ("scale", scale)], randn(4, 2, 3) * 3, D.StudentT(df, loc, scale), "df<=1 mean nan, df<=2 variance inf; df [3] x scale [2,1]")
df, loc, scale = t(30.0), randn(3), t(1.0)
case("StudentT", "new", [("df", df), ("loc", loc), ("scale", scale)], randn(2, 1), D.StudentT(df, loc, scale), "value [2,1] with batch [3]")

# ---------------------------------------------------------------- multivariate normals
loc, L = randn(3), tril()
case("MultivariateNormal", "from_scale_tril", [("loc", loc), ("scale_tril", L)], randn(4, 3), D.MultivariateNormal(loc, scale_tril=L), "d=3")
loc, L = randn(2, 3), tril()
case("MultivariateNormal", "from_scale_tril", [("loc", loc), ("scale_tril", L)], randn(5, 1, 3), D.MultivariateNormal(loc, scale_tril=L), "loc [2,3] x scale_tril [3,3], value [5,1,3]")
loc, S = randn(3), spd(2)
case("MultivariateNormal", "from_covariance", [("loc", loc), ("covariance_matrix", S)], randn(4, 2, 3), D.MultivariateNormal(loc, covariance_matrix=S), "batch of covariances [2,3,3]")
loc, S = randn(2, 1, 2), spd(3, n=2)
case("MultivariateNormal", "from_covariance", [("loc", loc), ("covariance_matrix", S)], randn(2, 3, 2), D.MultivariateNormal(loc, covariance_matrix=S), "loc [2,1,2] x cov [3,2,2]")
loc, P = randn(4), spd(n=4)
case("MultivariateNormal", "from_precision", [("loc", loc), ("precision_matrix", P)], randn(3, 4), D.MultivariateNormal(loc, precision_matrix=P), "d=4")
loc, P = randn(2, 3), spd(2)
case("MultivariateNormal", "from_precision", [("loc", loc), ("precision_matrix", P)], randn(3), D.MultivariateNormal(loc, precision_matrix=P), "batch [2], value [3]")

loc, W, Dg = randn(4), randn(4, 2), rand(4, lo=0.2, hi=2.0)
case("LowRankMultivariateNormal", "new", [("loc", loc), ("cov_factor", W), ("cov_diag", Dg)], randn(3, 4), D.LowRankMultivariateNormal(loc, W, Dg), "d=4 r=2")
loc, W, Dg = randn(2, 1, 3), randn(3, 3, 1), rand(3, lo=0.2, hi=2.0)
case("LowRankMultivariateNormal", "new", [("loc", loc), ("cov_factor", W), ("cov_diag", Dg)], randn(5, 1, 1, 3), D.LowRankMultivariateNormal(loc, W, Dg), "loc [2,1,3] x W [3,3,1], value [5,1,1,3]")

# ---------------------------------------------------------------- discrete
probs = t([0.1, 0.2, 0.3, 0.4])
case("Categorical", "new", [("probs", probs)], t([0.0, 3.0, 1.0, 2.0, 3.0]), D.Categorical(probs=probs), "K=4")
probs = simplex(2, 3)
case("Categorical", "new", [("probs", probs)], t([[0.0], [2.0], [1.0]]), D.Categorical(probs=probs), "batch [2], value [3,1]")
probs = t([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
case("Categorical", "new", [("probs", probs)], t([[0.0, 1.0], [2.0, 0.0]]), D.Categorical(probs=probs), "zero probabilities (torch clamps them to eps)")
logits = randn(3, 1, 5) * 2
case("Categorical", "from_logits", [("logits", logits)], t([[[4.0], [0.0], [1.0]], [[2.0], [3.0], [3.0]]]), D.Categorical(logits=logits), "logits [3,1,5], value [2,3,1]")
logits = randn(2, 3)
case("Categorical", "from_logits", [("logits", logits)], t([2.0, 0.0]), D.Categorical(logits=logits), "logits [2,3]")

probs = simplex(2, 3)
case("OneHotCategorical", "new", [("probs", probs)], torch.eye(3)[torch.tensor([[0], [2], [1], [1]])], D.OneHotCategorical(probs=probs), "batch [2], value [4,1,3]")
logits = randn(4)
case("OneHotCategorical", "from_logits", [("logits", logits)], torch.eye(4), D.OneHotCategorical(logits=logits), "K=4, all one-hots")

probs = t([0.0, 0.3, 1.0])
case("Bernoulli", "new", [("probs", probs)], t([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]), D.Bernoulli(probs=probs), "probs on the boundary")
probs = rand(2, 1)
case("Bernoulli", "new", [("probs", probs)], t([0.0, 1.0, 1.0]), D.Bernoulli(probs=probs), "probs [2,1], value [3]")
logits = randn(3) * 3
case("Bernoulli", "from_logits", [("logits", logits)], t([[1.0], [0.0]]), D.Bernoulli(logits=logits), "logits [3], value [2,1]")

n, p = t(10.0), t([0.1, 0.5, 0.9])
case("Binomial", "new", [("total_count", n), ("probs", p)], t([[0.0, 5.0, 10.0], [3.0, 4.0, 9.0]]), D.Binomial(n, probs=p), "homogeneous n=10")
n, p = t([[2.0], [7.0]]), t([0.2, 0.6, 0.75])
case("Binomial", "new", [("total_count", n), ("probs", p)], t([[1.0, 2.0, 0.0], [7.0, 4.0, 5.0]]), D.Binomial(n, probs=p), "n [2,1] x probs [3] (entropy undefined)")
n, logits = t(6.0), randn(2, 1) * 2
case("Binomial", "from_logits", [("total_count", n), ("logits", logits)], t([0.0, 3.0, 6.0]), D.Binomial(n, logits=logits), "logits [2,1], value [3]")

n, p = t(3.0), t([0.0, 1.0])
case("Binomial", "new", [("total_count", n), ("probs", p)], t([[0.0, 3.0], [1.0, 2.0]]), D.Binomial(n, probs=p), "probs on the boundary")
rate = t([0.0, 0.5, 3.0, 20.0])
case("Poisson", "new", [("rate", rate)], t([[0.0, 0.0, 2.0, 25.0], [0.0, 3.0, 0.0, 17.0]]), D.Poisson(rate), "rate 0 included")
rate = t([[1.0], [4.5]])
case("Poisson", "new", [("rate", rate)], t([0.0, 1.0, 4.0, 9.0]), D.Poisson(rate), "rate [2,1], value [4]")

n, p = t([1.0, 2.5, 10.0]), t([[0.2], [0.7]])
case("NegativeBinomial", "new", [("total_count", n), ("probs", p)], t([[0.0, 1.0, 5.0], [12.0, 3.0, 0.0]]), D.NegativeBinomial(n, probs=p), "n [3] x probs [2,1]")
n, logits = t(3.0), randn(3)
case("NegativeBinomial", "from_logits", [("total_count", n), ("logits", logits)], t([[0.0], [2.0], [7.0]]), D.NegativeBinomial(n, logits=logits), "logits [3], value [3,1]")


# ---------------------------------------------------------------- transforms
# forward values and log|det J| of the transforms whose parameterisation must match torch's
# (StickBreaking, CorrCholesky, ...); LowerCholeskyTransform defines no log_abs_det_jacobian
# in torch, so that entry is null.
TRANSFORMS = []


def transform_case(name, tr, x):
    y = tr(x)
    try:
        ladj = enc(tr.log_abs_det_jacobian(x, y))
    except NotImplementedError:
        ladj = None
    TRANSFORMS.append({"transform": name, "x": enc(x), "y": enc(y), "log_abs_det_jacobian": ladj})


T = D.transforms
transform_case("Exp", T.ExpTransform(), randn(2, 3))
transform_case("Softplus", T.SoftplusTransform(), randn(2, 3) * 3)
transform_case("Sigmoid", T.SigmoidTransform(), randn(2, 3) * 3)
transform_case("StickBreaking", T.StickBreakingTransform(), randn(2, 3))
transform_case("LowerCholesky", T.LowerCholeskyTransform(), randn(2, 3, 3))
transform_case("CorrCholesky", T.CorrCholeskyTransform(), randn(2, 6))
transform_case("biject_to(interval(-2, 5))", D.biject_to(D.constraints.interval(-2.0, 5.0)), randn(4))
transform_case("biject_to(greater_than(1.5))", D.biject_to(D.constraints.greater_than(1.5)), randn(4))


def main():
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    doc = {
        "generator": "scripts/gen_golden.py",
        "torch_version": torch.__version__,
        "dtype": "float64",
        "cases": CASES,
        "transforms": TRANSFORMS,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    families = sorted({c["family"] for c in CASES})
    print(f"wrote {len(CASES)} cases for {len(families)} families to {os.path.normpath(OUT)} "
          f"({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
