"""What the golden-file generators share: torch set up for float64 with argument validation,
seeded draws, and the JSON encoding of tensors (`{"shape": [...], "data": nested lists}`, with
non-finite numbers as the strings "nan", "inf" and "-inf", which JSON has no literals for)."""

import math
import os
import warnings

warnings.filterwarnings("ignore", message=".*NumPy.*")  # torch works without numpy here

import torch  # noqa: E402

torch.distributions.Distribution.set_default_validate_args(True)
torch.set_default_dtype(torch.float64)

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "pyrite-distributions", "tests", "golden")


def seeded_draws(seed):
    """`rand(*shape, lo, hi)` and `randn(*shape)` drawing from one generator seeded with `seed`,
    so that a generator's file is reproducible."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(*shape, generator=gen, dtype=torch.float64)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    return rand, randn


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def num(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def nest(x):
    if x.dim() == 0:
        return num(x.item())
    return [nest(s) for s in x]


def enc(x):
    x = torch.as_tensor(x).to(torch.float64)
    return {"shape": list(x.shape), "data": nest(x)}
