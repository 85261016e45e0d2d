"""Lion (Chen et al. 2023), written only as its update (hypergradients by autograd, see :mod:`.auto`).

Update (the paper's Algorithm 2, as ``lion_pytorch.Lion``; ``P`` the target before the step)::

    c   = beta1 m + (1 - beta1) g
    u   = alpha * ( sign(c) + weight_decay * P )        P_new = P - u
    m   = beta2 m + (1 - beta2) g                       (m starts at 0)

``alpha`` and ``weight_decay`` learn. The betas act on the update only through ``sign``, whose derivative is 0
wherever it exists: their hypergradient is 0, so they are constants here (not learnable).
"""
from __future__ import annotations

import torch

from ..hyperparams import Hyper
from .auto import AutoLevel
from .base import wide_dtype

_BETA = dict(low=0.0, high=1.0, learnable=False)


class Lion(AutoLevel):
    """Hyperoptimizable Lion. ``Lion(alpha=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0, optimizer=None,
    learn=None)``.

    Args:
        alpha: step size, >= 0 at the start (Lion's update has norm 1 per entry: alpha is typically 3-10x smaller
            than AdamW's).
        beta1: the interpolation that gives the update's sign; beta2: the momentum's decay; both in [0, 1], fixed
            (through ``sign`` their hypergradient is 0).
        weight_decay: decoupled weight decay, >= 0 at the start.
        optimizer: the level above (None: nothing learns, and this is exactly ``lion_pytorch.Lion``).
        learn: which of alpha, weight_decay learn (default both).

    Example::

        >>> from gdtuo_explore import SGD
        >>> from gdtuo_explore.core.optimizers import Lion
        >>> str(Lion(3e-4, weight_decay=0.1, optimizer=SGD(1e-6)))
        'lion(0.0003, weight_decay=0.1)/sgd(1e-06)'

    Reference: Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023.
    """

    kind = "lion"
    label = "Lion"
    RUNNING = ("m",)
    ELEMENTWISE = True
    TAKES_TARGET = True
    HYPERS = (Hyper("alpha", 1e-4, low=0.0), Hyper("beta1", 0.9, **_BETA), Hyper("beta2", 0.99, **_BETA),
              Hyper("weight_decay", 0.0, low=0.0))

    def init_state(self, n, like, sizes, plain):  # float32 for half-precision weights, as every level's state
        return {"m": torch.zeros(n, dtype=wide_dtype(like.dtype), device=like.device)}

    def update(self, state, g, hp, learn, out=None, *, target=None, names=()):
        b1, b2, m = hp["beta1"], hp["beta2"], state["m"]
        d = torch.sign(m * b1 + g * (1 - b1))
        state["m"] = m * b2 + g * (1 - b2)
        wd = hp["weight_decay"]
        if isinstance(wd, float) and wd == 0.0:  # fixed at 0 (a learned one is a tensor in the automatic path)
            return d, hp["alpha"]
        return d + wd * target, hp["alpha"]
