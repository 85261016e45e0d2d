"""Shared helpers for tests that use the reference package as an oracle (the same model, init and batches), and the
tiny problem of the hypergradient tests (with a tower trained on it through Tower.step)."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from gdtuo_explore.core.optimizers.base import scaled
from gdtuo_explore.core.tower import Tower


class MLP(nn.Module):
    """The reference README's MNIST MLP, at a size chosen by the test (784-128-10 by default)."""

    def __init__(self, n_in=784, n_hid=128, n_out=10):
        super().__init__()
        self.layer1 = nn.Linear(n_in, n_hid)
        self.layer2 = nn.Linear(n_hid, n_out)

    def forward(self, x):
        return F.log_softmax(torch.tanh(self.layer2(torch.tanh(self.layer1(x)))), dim=1)


def batches(n_steps, n_in=64, n_out=10, batch=32, seed=0):
    """Real data: scikit-learn's handwritten digits (8x8), cycled in a seeded order."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    out, perm, i = [], torch.randperm(len(x), generator=g), 0
    for _ in range(n_steps):
        if i + batch > len(x):
            perm, i = torch.randperm(len(x), generator=g), 0
        idx = perm[i:i + batch]
        out.append((x[idx].to(torch.get_default_dtype()), y[idx]))
        i += batch
    return out


def run_wrapper(gdtuo_module, spec_builder, model, data, create_graph=True):
    """Run the reference README loop with ``gdtuo_module`` (ours or the reference); return the losses."""
    model = copy.deepcopy(model)
    mw = gdtuo_module.ModuleWrapper(model, optimizer=spec_builder(gdtuo_module))
    mw.initialize()
    losses = []
    for x, y in data:
        mw.begin()
        loss = F.nll_loss(mw.forward(x), y)
        mw.zero_grad()
        loss.backward(create_graph=create_graph)
        mw.step()
        losses.append(loss.item())
    return losses, mw


def least_squares(seed=0, n=7):
    """A tiny least-squares problem, loss(w) = mean((X w - y)^2) + 0.1 sum(w^4): ``(w0, loss, grad)``."""
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(20, n, generator=g), torch.randn(20, generator=g)

    def loss(w):
        return ((X @ w - y) ** 2).mean() + 0.1 * (w ** 4).sum()

    def grad(w):
        w = w.detach().requires_grad_()
        return torch.autograd.grad(loss(w), w)[0]

    return torch.randn(n, generator=g) * 0.5, loss, grad


def train_tower(spec, steps, host=True, seed=0):
    """``steps`` steps of ``spec`` on the problem, through Tower.step as HyperOptimizer calls it (two gradient
    buffers in turn, the other one the spare); returns the losses, the history and the tower."""
    w, loss, grad = least_squares(seed)
    tower = Tower(spec, [w.numel()], ["param0"], w)
    tower.host = host
    buffers, losses = [torch.empty_like(w), torch.empty_like(w)], []
    for t in range(steps):
        g = buffers[t % 2]
        g.copy_(grad(w))
        losses.append(loss(w).item())
        w = w - scaled(*tower.step(g, buffers[1 - t % 2], target=w.clone() if tower.takes_target else None))
    return losses, tower.history(), tower
