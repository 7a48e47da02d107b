"""Pyro reference for the BNN epoch benchmark (issue: BNN epoch beside Pyro's, same network and batch).

The seed's Bayesian neural network: 784-1024-10, ReLU, Normal(0, 1) priors on every weight, a
mean-field Normal guide with softplus scales, Trace_ELBO, Adam(0.01), batch 128, on the MNIST
5,000-image subset (per digit: 400 train / 100 test). Prints seconds per epoch and the test
accuracy of predictions averaged over 10 sampled networks.

Usage: python bench/pyro_bnn.py [--data DIR] [--epochs 5] [--threads 1] [--device cpu|cuda]
Runs in the environment that ../shared/anchors/setup.sh creates (or any with pyro-ppl and torch).
"""
import argparse, os, time
import numpy as np, torch, torch.nn.functional as F, pyro
import pyro.distributions as dist
from pyro.infer import SVI, Trace_ELBO

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("--data", default=os.path.join(here, "..", "crates", "pyrite-data", "data"))
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--device", default="cpu")
args = ap.parse_args()
torch.set_num_threads(args.threads)
dev = torch.device(args.device)
pyro.set_rng_seed(0)
raw = np.loadtxt(os.path.join(args.data, "mnist_5k.csv.gz"), delimiter=",", dtype=np.float32)
x, y = torch.tensor(raw[:, :784] / 255.0, device=dev), torch.tensor(raw[:, 784], dtype=torch.long, device=dev)
# rows are sorted by label (500 per digit): the first 400 of each digit train, the last 100 test
rank = torch.arange(5000, device=dev) % 500
xtr, ytr, xte, yte = x[rank < 400], y[rank < 400], x[rank >= 400], y[rank >= 400]
zero, one = torch.tensor(0.0, device=dev), torch.tensor(1.0, device=dev)


def model(xb, yb=None):
    w1 = pyro.sample("w1", dist.Normal(zero, one).expand([784, 1024]).to_event(2))
    b1 = pyro.sample("b1", dist.Normal(zero, one).expand([1024]).to_event(1))
    w2 = pyro.sample("w2", dist.Normal(zero, one).expand([1024, 10]).to_event(2))
    b2 = pyro.sample("b2", dist.Normal(zero, one).expand([10]).to_event(1))
    logits = F.relu(xb @ w1 + b1) @ w2 + b2
    with pyro.plate("data", 4000, subsample_size=xb.shape[0], device=dev):
        pyro.sample("obs", dist.Categorical(logits=logits), obs=yb)
    return logits


def guide(xb, yb=None):
    out = {}
    for name, shape in [("w1", [784, 1024]), ("b1", [1024]), ("w2", [1024, 10]), ("b2", [10])]:
        loc = pyro.param(name + "_loc", lambda: 0.1 * torch.randn(shape, device=dev))
        scale = F.softplus(pyro.param(name + "_scale", lambda: -5 * torch.ones(shape, device=dev)))
        out[name] = pyro.sample(name, dist.Normal(loc, scale).to_event(len(shape)))
    return out


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
times = []
for epoch in range(args.epochs):
    perm = torch.randperm(4000, device=dev)
    sync()
    t = time.perf_counter()
    for i in range(0, 4000, 128):
        idx = perm[i:i + 128]
        svi.step(xtr[idx], ytr[idx])
    sync()
    times.append(time.perf_counter() - t)
with torch.no_grad():
    probs = torch.stack([F.softmax(pyro.poutine.replay(model, pyro.poutine.trace(guide).get_trace(xte))(xte), -1) for _ in range(10)]).mean(0)
acc = (probs.argmax(-1) == yte).float().mean().item()
print(f"pyro bnn ({args.device}, {args.threads} thread(s)): {np.median(times):.3f} s/epoch (median of {args.epochs}, first {times[0]:.3f}), test accuracy {acc:.3f}")
