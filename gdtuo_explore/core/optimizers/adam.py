"""Adam, with learned step size and both decay rates.

Update (reference: ``m`` starts at 0, ``v`` at eps = 10**log_eps since sqrt is not differentiable at 0 -- except for a
plain Adam, with fixed hyperparameters on the weights, which starts ``v`` at 0 exactly as ``torch.optim.Adam``; the
betas are stored as atanh(2 beta - 1))::

    m_t = beta1 m_{t-1} + (1 - beta1) g        c1 = 1 - beta1^t,  m_hat = m_t / c1
    v_t = beta2 v_{t-1} + (1 - beta2) g^2      c2 = 1 - beta2^t,  v_hat = v_t / c2
    u   = alpha * m_hat / (sqrt(v_hat) + eps)  P_new = P - u

The update is computed as ``u = (alpha q / c1) * m_t / (sqrt(v_t) + eps q)`` with ``q = sqrt(c2)`` (the same
number, one pass fewer; torch.optim.Adam does the same). Hypergradients of the previous update (``v`` below is
``dL/dP_new``; ``s = sqrt(v_hat)``, ``den = s + eps``, ``w = v/den``). The previous moments are recovered from the
current ones, ``m_{t-1} - g = (m_t - g)/beta1`` and ``v_{t-1} - g^2 = (v_t - g^2)/beta2``, so only the last
gradient ``g`` is kept::

    dL/dalpha = -(w . m_t) / c1
    dL/dbeta1 = -alpha [ (w . m_t - w . g) / (beta1 c1) + t beta1^(t-1) (w . m_t) / c1^2 ]
    dL/dbeta2 =  alpha / (2 c1) [ (z . v_t - z . g^2) / beta2 + t beta2^(t-1) (z . v_t) / c2 ],
                 z = w m_t / (v_t + c2 eps s)          (= w m_t / (c2 den s))

computed from ``r = sqrt(v_t)`` (``den = (r + eps q) / q``). Besides the moments, the update writes ``g^2``, the
denominator, then ``d`` into one parameter-sized buffer (the caller's spare ``out``, or a fresh one where the
direction is kept; without ``out``, fresh tensors, so that autograd can differentiate it); learning the betas keeps
one more, ``g``. The hypergradient computes ``r`` again and works through the target in slices of :data:`SLICE`
entries, so its scratch memory is a few small tensors (the same few at every slice and step, which the allocator
reuses): a large model keeps two parameter-sized buffers besides the moments and the caller's gradient, the last
gradient and this one's. A level above the weights, whose target is a few hyperparameters (at most :data:`FEW`),
sums in Python on the host instead: there each torch operation costs more than its arithmetic.

Precision: with half-precision weights the moments, the denominator and ``d`` are float32 (the gradient is widened
once per step; the spare ``out`` is then unused), so eps = 1e-8 and the squares of small gradients are kept: in
float16 both are 0, and ``m / (sqrt(v) + eps)`` would be 0/0 (``torch.optim.Adam`` with float16 parameters and
its default eps divides by zero there the same way).
"""
from __future__ import annotations

import math

import torch

from ..hyperparams import SIGMOID, Hyper
from .base import (Level, alpha_hypergrad, along, axpy, dot, one_minus, reciprocal, scalar, scratch_rows,
                   wide_dtype, widen)

_BETA = dict(transform=SIGMOID, low=0.0, high=1.0, open_low=True, open_high=True)
FEW = 16  # a hypergradient over at most this many entries sums in Python on the host (see Adam._sums_few)
SLICE = 2 ** 20  # the betas' hypergradient works through a larger target in slices (see the module docstring)


def slices(n: int):
    """The slices of :data:`SLICE` entries (the last one shorter) that a hypergradient works through."""
    return [slice(start, min(n, start + SLICE)) for start in range(0, n, SLICE)]


class Adam(Level):
    """Hyperoptimizable Adam. ``Adam(alpha=0.001, beta1=0.9, beta2=0.999, log_eps=-8.0, optimizer=None, learn=None)``.

    Args:
        alpha: step size, >= 0 at the start.
        beta1, beta2: decay rates of the moment estimates, in (0, 1).
        log_eps: log10 of the denominator's epsilon (a constant, never learned).
        optimizer: the level above (None: the hyperparameters stay fixed, and this is exactly Adam).
        learn: which of alpha, beta1, beta2 learn (default all three; ``"alpha"`` is the paper's Adam_alpha).
        hypergrad: ``"closed"`` (default) or ``"auto"``: autograd through the update (see :mod:`.auto`).

    Example::

        >>> from gdtuo_explore import Adam, SGD
        >>> str(Adam(optimizer=SGD(1e-5)))
        'adam/sgd(1e-05)'

    Reference: Chandra et al., "Gradient Descent: The Ultimate Optimizer", NeurIPS 2022, section 3.2.
    """

    kind = "adam"
    RUNNING = ("m", "v")
    ELEMENTWISE = True
    HYPERS = (Hyper("alpha", 0.001, low=0.0), Hyper("beta1", 0.9, **_BETA), Hyper("beta2", 0.999, **_BETA),
              Hyper("log_eps", -8.0, learnable=False))

    def __init__(self, alpha=0.001, beta1=0.9, beta2=0.999, log_eps=-8.0, optimizer=None, *, learn=None,
                 hypergrad=None):
        super().__init__({"alpha": alpha, "beta1": beta1, "beta2": beta2, "log_eps": log_eps}, optimizer, learn,
                         hypergrad)
        self.eps = 10.0 ** self.values["log_eps"]

    def init_state(self, n, like, sizes, plain):
        # v starts at eps, as in the reference, wherever hypergradients flow; a plain Adam starts it at 0 and is
        # then exactly torch.optim.Adam
        dtype = wide_dtype(like.dtype)  # float32 for half-precision weights (see the module docstring)
        return {"t": 0, "m": torch.zeros(n, dtype=dtype, device=like.device),
                "v": torch.full((n,), 0.0 if plain else self.eps, dtype=dtype, device=like.device)}

    def update(self, state, g, hp, learn, out=None):
        alpha, b1, b2 = hp["alpha"], hp["beta1"], hp["beta2"]
        t = state["t"] = state["t"] + 1
        betas = "beta1" in learn or "beta2" in learn
        if g.dtype != state["m"].dtype:  # half-precision weights: work in float32 (see the module docstring)
            g, out = widen(g), None
        keep = bool(learn) and not betas  # alpha only: the direction is kept, so it cannot go into the spare out
        # g^2, then the denominator, then d, in one buffer: the spare out, else a fresh one; out=None asks for a
        # differentiable update (out= is not), with fresh results
        x = torch.mul(g, g, out=None if keep else out)
        out = None if out is None else x
        if out is None:  # differentiable: new moments (autograd would copy the old ones for an in-place lerp_)
            m = state["m"] = torch.lerp(state["m"], g, one_minus(b1))
            v = state["v"] = torch.lerp(state["v"], x, one_minus(b2))
        else:
            m, v = state["m"].lerp_(g, one_minus(b1)), state["v"].lerp_(x, one_minus(b2))
        c1 = state["c1"] = one_minus(b1 ** t)
        c2 = state["c2"] = one_minus(b2 ** t)
        q = state["q"] = c2 ** 0.5                  # u = alpha q / c1 * m / (sqrt(v) + eps q), as torch.optim
        if betas:
            state["g"] = g
        if out is None:  # differentiable
            den = torch.sqrt(v) + self.eps * q
        else:
            den = torch.sqrt(v, out=out).add_(self.eps * q)
        d = torch.div(m, den, out=out)  # m / (den q)
        if keep:  # alpha only: keep the direction m_hat / den for a one-pass hypergradient
            return along(state, d.mul_(q / c1), alpha, learn)
        return d, alpha * q / c1

    def hypergrad(self, state, v, hp, learn, host):
        alpha, b1, b2, t = hp["alpha"], hp["beta1"], hp["beta2"], state["t"]
        if "d" in state:
            return {"alpha": alpha_hypergrad(state, v, host)}
        m, vv, g, c1, c2, q = (state[k] for k in ("m", "v", "g", "c1", "c2", "q"))
        b1_learns, b2_learns = "beta1" in learn, "beta2" in learn
        n = m.numel()
        if host and n <= FEW:  # a level above the weights: a few numbers, summed in Python
            sums = self._sums_few(vv.tolist(), v.tolist(), m.tolist(), g.tolist(), q, b1_learns, b2_learns)
        elif n <= SLICE:  # one slice: the whole tensors (no views to make)
            sums = self._sums(vv, v, m, g, *scratch_rows(2, n, vv)[:, :n], q, b1_learns, b2_learns)
        else:
            sums = {}  # summed over the slices
            scratch = scratch_rows(2, SLICE, vv)  # for every slice
            for part in slices(n):
                found = self._sums(vv[part], v[part], m[part], g[part], *scratch[:, : part.stop - part.start], q,
                                   b1_learns, b2_learns)
                sums = found if not sums else {k: sums[k] + x for k, x in found.items()}
        wm = q * scalar(sums["wm"], host)
        i1 = reciprocal(c1)                         # a beta at exactly 1 (or 0) gives inf here, then nan
        out = {}
        if "alpha" in learn:
            out["alpha"] = -wm * i1
        if b1_learns:
            wg = q * scalar(sums["wg"], host)
            out["beta1"] = -alpha * i1 * ((wm - wg) * reciprocal(b1) + b1 ** (t - 1) * t * wm * i1)
        if b2_learns:
            zv, zg2 = q * scalar(sums["zv"], host), q * scalar(sums["zg2"], host)
            out["beta2"] = alpha * 0.5 * i1 * ((zv - zg2) * reciprocal(b2) + b2 ** (t - 1) * t * zv * reciprocal(c2))
        return out

    def _sums(self, vv, v, m, g, r, w, q, b1_learns, b2_learns) -> dict:
        """w . m, w . g, z . v_t and z . g^2, each divided by q, over one slice (``r``, ``w``: scratch like it)."""
        torch.sqrt(vv, out=r)
        torch.add(r, self.eps * q, out=w)           # den q
        torch.div(v, w, out=w)                      # w / q
        found = {"wm": dot(w, m)}
        if b1_learns:
            found["wg"] = dot(w, g)
        if b2_learns:
            z = w.mul_(m).div_(axpy(vv, r, self.eps * q, out=r))  # z / q, in r's memory
            found["zv"] = dot(z, vv)
            found["zg2"] = dot(torch.mul(z, g, out=r), g)
        return found

    def _sums_few(self, vv, v, m, g, q, b1_learns, b2_learns) -> dict:
        """:meth:`_sums` of a few numbers, as Python floats (lists in, floats out): a level above the weights
        holds a few hyperparameters, where each torch operation would cost more than the arithmetic."""
        eq = self.eps * q
        r = [math.sqrt(x) for x in vv]
        w = [vi / (ri + eq) for vi, ri in zip(v, r)]
        found = {"wm": math.fsum(wi * mi for wi, mi in zip(w, m))}
        if b1_learns:
            found["wg"] = math.fsum(wi * gi for wi, gi in zip(w, g))
        if b2_learns:
            z = [wi * mi / (x + eq * ri) for wi, mi, x, ri in zip(w, m, vv, r)]
            found["zv"] = math.fsum(zi * x for zi, x in zip(z, vv))
            found["zg2"] = math.fsum(zi * gi * gi for zi, gi in zip(z, g))
        return found


def AdamBaydin(alpha=0.001, beta1=0.9, beta2=0.999, log_eps=-8.0, optimizer=None, *, hypergrad=None):
    """Adam whose step size learns and whose betas stay fixed (the paper's Adam_alpha, Baydin et al.'s Adam-HD).

    Same as ``Adam(alpha, beta1, beta2, log_eps, optimizer, learn="alpha")``; text form ``adam(..., learn=alpha)``.
    """
    return Adam(alpha, beta1, beta2, log_eps, optimizer, learn=("alpha",), hypergrad=hypergrad)
