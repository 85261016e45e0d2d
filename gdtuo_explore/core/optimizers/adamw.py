"""AdamW: Adam with decoupled weight decay, written only as its update (hypergradients by autograd, see :mod:`.auto`).

Update (``torch.optim.AdamW``'s; ``P`` the target before the step)::

    m_t = beta1 m_{t-1} + (1 - beta1) g        c1 = 1 - beta1^t
    v_t = beta2 v_{t-1} + (1 - beta2) g^2      c2 = 1 - beta2^t
    u   = alpha * ( (m_t / c1) / (sqrt(v_t / c2) + eps) + weight_decay * P )      P_new = P - u

Frozen (nothing learning, the weights' optimizer) it is ``torch.optim.AdamW`` step for step: ``v`` starts at 0. Where
hyperparameters learn, ``v`` starts at eps, as the reference's Adam (sqrt has no derivative at 0, so a gradient entry
that is exactly 0 would make the hypergradient nan). The Adam part is :class:`~.adam.Adam`'s update (computed as
torch.optim's, ``alpha q / c1 * m / (sqrt(v) + eps q)`` with ``q = sqrt(c2)``).
"""
from __future__ import annotations

import torch

from ..hyperparams import Hyper
from .adam import _BETA, Adam
from .auto import AutoLevel


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

    Its Adam part is :class:`~.adam.Adam`'s update (in the caller's spare buffer), and its hypergradients all come
    from autograd through it (nothing hand-derived).

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
    ELEMENTWISE = True
    TAKES_TARGET = True
    HYPERS = (Hyper("alpha", 0.001, low=0.0), Hyper("beta1", 0.9, **_BETA), Hyper("beta2", 0.999, **_BETA),
              Hyper("weight_decay", 0.01, low=0.0), Hyper("log_eps", -8.0, learnable=False))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.adam = Adam(*(self.values[k] for k in ("alpha", "beta1", "beta2", "log_eps")))

    def init_state(self, n, like, sizes, plain):
        return self.adam.init_state(n, like, sizes, plain)  # v starts at 0 when plain, else at eps

    def update(self, state, g, hp, learn, out=None, *, target=None, names=()):
        # Adam's u = a d, a = alpha q / c1, with the graph that learned betas need; + alpha wd P = a (d + c1/q wd P)
        d, a = self.adam.update(state, g, hp, tuple(n for n in learn if n in ("beta1", "beta2")), out)
        decay = state["c1"] / state["q"] * hp["weight_decay"]
        if out is None:  # differentiable: a fresh tensor (one pass where decay is a tensor)
            return (d + decay * target if isinstance(decay, float) else torch.addcmul(d, target, decay)), a
        return (d.add_(target, alpha=decay) if isinstance(decay, float) else d.addcmul_(target, decay)), a
