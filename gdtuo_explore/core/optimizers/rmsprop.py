"""RMSProp, with learned step size and decay.

Update (reference: ``s`` starts at 0, ``eps = 1e-8``; alpha is stored as sqrt(alpha), gamma as atanh(2 gamma - 1))::

    s_t = gamma * s_{t-1} + (1 - gamma) * g^2
    d_t = g / sqrt(s_t + eps)
    u   = alpha * d_t                 P_new = P - u

Hypergradients of the previous update, with ``v = dL/dP_new``::

    dL/dalpha = -v . d_t
    dL/dgamma = alpha / 2 * v . e_t,  e_t = d_t * (s_{t-1} - g^2) / (s_t + eps)

With half-precision weights ``s``, ``e`` and ``d`` are float32 (see :mod:`.base`): a float16 ``g^2`` below 6e-8 is
0 and eps = 1e-8 too.
"""
from __future__ import annotations

import torch

from ..hyperparams import SIGMOID, SQUARE, Hyper
from .base import Level, alpha_hypergrad, along, dot, one_minus, scalar, wide_dtype, widen


class RMSProp(Level):
    """Hyperoptimizable RMSProp. ``RMSProp(alpha=0.01, gamma=0.99, optimizer=None, learn=None)``.

    Args:
        alpha: step size, >= 0 (stored as its square root, so it stays >= 0 while learning).
        gamma: decay of the squared-gradient average, in (0, 1).
        hypergrad: ``"closed"`` (default) or ``"auto"``: autograd through the update (see :mod:`.auto`).
    """

    kind = "rmsprop"
    RUNNING = ("s",)
    ELEMENTWISE = True
    HYPERS = (Hyper("alpha", 0.01, SQUARE, low=0.0),
              Hyper("gamma", 0.99, SIGMOID, low=0.0, high=1.0, open_low=True, open_high=True))
    EPS = 1e-8

    def __init__(self, alpha=0.01, gamma=0.99, optimizer=None, *, learn=None, hypergrad=None):
        super().__init__({"alpha": alpha, "gamma": gamma}, optimizer, learn, hypergrad)

    def init_state(self, n, like, sizes, plain):
        return {"s": torch.zeros(n, dtype=wide_dtype(like.dtype), device=like.device)}

    def update(self, state, g, hp, learn, out=None):
        gamma, s = hp["gamma"], state["s"]
        g = widen(g)
        gg = g * g
        e = torch.sub(s, gg) if "gamma" in learn else None  # s_{t-1} - g^2
        s.lerp_(gg, one_minus(gamma))
        den = torch.add(s, self.EPS).sqrt_()
        d = torch.div(g, den)
        if e is not None:
            state["e"] = e.mul_(d).div_(den).div_(den)
        return along(state, d, hp["alpha"], learn)

    def hypergrad(self, state, v, hp, learn, host):
        out = {}
        if "alpha" in learn:
            out["alpha"] = alpha_hypergrad(state, v, host)
        if "gamma" in learn:
            out["gamma"] = hp["alpha"] * scalar(dot(v, state["e"]), host) * 0.5
        return out


def RMSPropAlpha(alpha=0.01, gamma=0.99, optimizer=None, *, hypergrad=None):
    """RMSProp whose step size learns and whose decay ``gamma`` stays fixed (the paper's RMSProp_alpha).

    Same as ``RMSProp(alpha, gamma, optimizer, learn="alpha")``; its text form is ``rmsprop(..., learn=alpha)``.
    """
    return RMSProp(alpha, gamma, optimizer, learn=("alpha",), hypergrad=hypergrad)
