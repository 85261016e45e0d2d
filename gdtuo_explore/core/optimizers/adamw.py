"""AdamW: Adam with decoupled weight decay, written only as its update (hypergradients by autograd, see :mod:`.auto`).

Update (``torch.optim.AdamW``'s; ``P`` the target before the step)::

    m_t = beta1 m_{t-1} + (1 - beta1) g        c1 = 1 - beta1^t
    v_t = beta2 v_{t-1} + (1 - beta2) g^2      c2 = 1 - beta2^t
    u   = alpha * ( (m_t / c1) / (sqrt(v_t / c2) + eps) + weight_decay * P )      P_new = P - u

Frozen (nothing learning, the weights' optimizer) it is ``torch.optim.AdamW`` step for step: ``v`` starts at 0. Where
hyperparameters learn, ``v`` starts at eps, as the reference's Adam (sqrt has no derivative at 0, so a gradient entry
that is exactly 0 would make the hypergradient nan).
"""
from __future__ import annotations

import torch

from ..hyperparams import SIGMOID, Hyper
from .auto import AutoLevel

_BETA = dict(transform=SIGMOID, low=0.0, high=1.0, open_low=True, open_high=True)


class AdamW(AutoLevel):
    """Hyperoptimizable AdamW. ``AdamW(alpha=0.001, beta1=0.9, beta2=0.999, weight_decay=0.01, log_eps=-8.0,
    optimizer=None, learn=None)``.

    Args:
        alpha: step size, >= 0 at the start (torch's ``lr``).
        beta1, beta2: decay rates of the moment estimates, in (0, 1).
        weight_decay: decoupled weight decay, >= 0 at the start (a learned one may go negative).
        log_eps: log10 of the denominator's epsilon (a constant, never learned).
        optimizer: the level above (None: the hyperparameters stay fixed, and this is exactly torch's AdamW).
        learn: which of alpha, beta1, beta2, weight_decay learn (default all four).

    Example::

        >>> from gdtuo_explore import SGD
        >>> from gdtuo_explore.core.optimizers import AdamW
        >>> str(AdamW(1e-3, weight_decay=0.1, optimizer=SGD(1e-5), learn="alpha+weight_decay"))
        'adamw(weight_decay=0.1, learn=alpha+weight_decay)/sgd(1e-05)'

    Reference: Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """

    kind = "adamw"
    label = "AdamW"
    RUNNING = ("m", "v")
    READS_TARGET = True
    HYPERS = (Hyper("alpha", 0.001, low=0.0), Hyper("beta1", 0.9, **_BETA), Hyper("beta2", 0.999, **_BETA),
              Hyper("weight_decay", 0.01, low=0.0), Hyper("log_eps", -8.0, learnable=False))

    def init_state(self, n, like, sizes, plain):
        v0 = 0.0 if plain else 10.0 ** self.values["log_eps"]
        return {"t": 0, "m": torch.zeros(n, dtype=like.dtype, device=like.device),
                "v": torch.full((n,), v0, dtype=like.dtype, device=like.device)}

    def update(self, state, g, hp, learn, out=None, target=None):
        b1, b2, eps = hp["beta1"], hp["beta2"], 10.0 ** hp["log_eps"]
        t = state["t"] = state["t"] + 1
        m = state["m"] = torch.lerp(state["m"], g, 1 - b1)
        v = state["v"] = state["v"] * b2 + g * g * (1 - b2)
        d = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)
        return d + hp["weight_decay"] * target, hp["alpha"]
