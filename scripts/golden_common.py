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


class Draws:
    """Parameters drawn from one generator seeded with `seed`, so that a generator's file is
    reproducible."""

    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)

    def rand(self, *shape, lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(*shape, generator=self.gen, dtype=torch.float64)

    def randn(self, *shape):
        return torch.randn(*shape, generator=self.gen, dtype=torch.float64)

    def spd(self, *batch, n=3):
        """Symmetric positive-definite matrices."""
        a = self.randn(*batch, n, n)
        return a @ a.transpose(-1, -2) + n * torch.eye(n)

    def tril(self, *batch, n=3):
        """Lower-triangular matrices with a positive diagonal."""
        a = self.randn(*batch, n, n).tril(-1)
        return a + torch.diag_embed(self.rand(*batch, n, lo=0.5, hi=2.0))


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
