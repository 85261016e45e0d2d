"""AdaGrad, with a learned step size.

Update (reference: accumulator starts at ``G0 = 0.1``, ``eps = 1e-10``)::

    G_t = G_{t-1} + g^2
    d_t = g / sqrt(G_t + eps)
    u   = alpha * d_t                 P_new = P - u

Hypergradient of the previous update: ``dL/dalpha = -v . d_t``. With half-precision weights ``G`` and ``d`` are
float32 (see :mod:`.base`).
"""
from __future__ import annotations

import torch

from ..hyperparams import Hyper
from .base import Level, alpha_hypergrad, along, wide_dtype, widen


class AdaGrad(Level):
    """Hyperoptimizable AdaGrad. ``AdaGrad(alpha=0.01, optimizer=None, learn=None, hypergrad=None)``; alpha >= 0;
    ``hypergrad="auto"`` runs the automatic path (see :mod:`.auto`)."""

    kind = "adagrad"
    RUNNING = ("G",)
    ELEMENTWISE = True
    HYPERS = (Hyper("alpha", 0.01, low=0.0),)
    G0, EPS = 0.1, 1e-10

    def __init__(self, alpha=0.01, optimizer=None, *, learn=None, hypergrad=None):
        super().__init__({"alpha": alpha}, optimizer, learn, hypergrad)

    def init_state(self, n, like, sizes, plain):
        return {"G": torch.full((n,), self.G0, dtype=wide_dtype(like.dtype), device=like.device)}

    def update(self, state, g, hp, learn, out=None):
        g = widen(g)
        G = state["G"].addcmul_(g, g)
        d = torch.add(G, self.EPS).sqrt_()
        torch.div(g, d, out=d)
        return along(state, d, hp["alpha"], learn)

    def hypergrad(self, state, v, hp, learn, host):
        return {"alpha": alpha_hypergrad(state, v, host)}
