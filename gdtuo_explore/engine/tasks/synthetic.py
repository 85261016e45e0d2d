"""Generated data: the two-spiral problem of the TensorFlow Playground."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .models import tanh_mlp
from .registry import Task, check_float, check_int, register_task


def two_spirals(n: int, noise: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The Playground's spirals: class k's i-th of m points at radius 5i/m, angle 3.5*pi*i/m + k*pi,
    plus uniform(-noise, noise) jitter on each coordinate. n // 2 points of class 0, the rest class 1."""
    xs, ys = [], []
    for label, m in enumerate((n // 2, n - n // 2)):
        i = torch.arange(m, dtype=torch.float32)
        r = i / m * 5
        t = 1.75 * i / m * 2 * math.pi + label * math.pi
        points = torch.stack([r * torch.sin(t), r * torch.cos(t)], dim=1)
        xs.append(points + (torch.rand(m, 2, generator=generator) * 2 - 1) * noise)
        ys.append(torch.full((m,), label, dtype=torch.int64))
    return torch.cat(xs), torch.cat(ys)


@register_task("spirals", description="two interleaved 2-D spirals (TensorFlow Playground), generated; "
               "tanh MLP 2-16-16-2", models=("mlp",))
def build_spirals(model: str, data_root: str, seed: int, *, n: int = 1000, noise: float = 0.1,
                  hidden: int = 16) -> Task:
    """`n` points generated and shuffled from `seed`, split 80/20; an MLP with two tanh layers of width `hidden`."""
    n, hidden = check_int("n", n, 10), check_int("hidden", hidden, 1)
    noise = check_float("noise", noise, 0.0)
    generator = torch.Generator().manual_seed(seed)
    x, y = two_spirals(n, noise, generator)
    perm = torch.randperm(n, generator=generator)
    train, test = perm[:int(n * 0.8)], perm[int(n * 0.8):]
    return Task("spirals", model, x[train], y[train], x[test], y[test], lambda: tanh_mlp([2, hidden, hidden, 2]),
                F.cross_entropy, "accuracy", f"two spirals generated from seed {seed} (n={n}, noise={noise})", 2)
