"""SGD (with optional momentum, classical or Nesterov) and SGD with one step size per parameter tensor.

Update (reference semantics: the first momentum buffer is ``g`` itself, computed as ``mu * 0 + g`` so that ``mu``
takes part in every update, as autograd sees it)::

    buf_t = mu * buf_{t-1} + g        (only with momentum; otherwise buf_t = g)
    u     = alpha * buf_t             P_new = P - u
    u     = alpha * (g + mu * buf_t)  with nesterov=True (torch.optim.SGD's form; its hypergradients come from
                                      the automatic path only, see :mod:`.auto`)

Hypergradients of the previous update, with ``v = dL/dP_new``::

    dL/dalpha = -v . buf_t            (plain SGD: -g_{t+1} . g_t, Baydin et al.'s rule)
    dL/dmu    = -alpha * v . buf_{t-1}

With half-precision weights the momentum buffer is float32 (see :mod:`.base`); without momentum ``d`` is the
gradient itself, in the weights' dtype.
"""
from __future__ import annotations

import torch

from ..hyperparams import Hyper
from .base import Level, alpha_hypergrad, along, axpy, dot, scalar, wide_dtype, widen


class SGD(Level):
    """Hyperoptimizable SGD. ``SGD(alpha=0.01, mu=0.0, optimizer=None, learn=None, nesterov=False, hypergrad=None)``.

    Args:
        alpha: step size (>= 0 at the start; a learned one may go negative, as in the paper).
        mu: momentum in [0, 1). As in the reference, ``mu`` learns by default only when it is not 0; pass
            ``learn="alpha+mu"`` to learn momentum starting from 0.
        optimizer: the level above, which learns this level's hyperparameters (None: they stay fixed).
        learn: names of the hyperparameters that learn (default: see ``mu``).
        nesterov: Nesterov momentum, ``u = alpha (g + mu buf)``, exactly ``torch.optim.SGD(nesterov=True)``
            (dampening 0; the first buffer is ``g``, as torch's). It needs momentum (``mu > 0``, or ``mu``
            learning), and has no closed-form hypergradient: it always runs the automatic path.
        hypergrad: ``"closed"`` (the default where there is one) or ``"auto"``: autograd through the update
            (see :mod:`.auto`).

    Example::

        >>> from gdtuo_explore import SGD
        >>> str(SGD(0.1, optimizer=SGD(1e-3)))
        'sgd(0.1)/sgd(0.001)'
        >>> str(SGD(0.1, mu=0.9, nesterov=True, optimizer=SGD(1e-3)))
        'sgd(0.1, mu=0.9, nesterov=true)/sgd(0.001)'
    """

    kind = "sgd"
    RUNNING = ("buf",)
    ELEMENTWISE = True
    OPTIONS = ("nesterov",)
    HYPERS = (Hyper("alpha", 0.01, low=0.0), Hyper("mu", 0.0, low=0.0, high=1.0, open_high=True))

    def __init__(self, alpha=0.01, mu=0.0, optimizer=None, *, learn=None, nesterov=False, hypergrad=None):
        self.nesterov = self.check_option("nesterov", nesterov, self.kind)
        super().__init__({"alpha": alpha, "mu": mu}, optimizer, learn, hypergrad)
        if self.nesterov and not self.momentum():
            raise ValueError("nesterov=True needs momentum: give mu > 0 (e.g. sgd(0.01, mu=0.9, nesterov=true)) "
                             "or learn mu (learn=alpha+mu)")

    def has_closed_form(self):
        return not self.nesterov

    def default_learn(self):
        return ("alpha", "mu") if self.values["mu"] != 0.0 else ("alpha",)

    def momentum(self) -> bool:
        return self.values["mu"] != 0.0 or "mu" in self.learn

    def update(self, state, g, hp, learn, out=None):
        if self.momentum():
            buf = state.get("buf")
            if buf is None:  # the first buffer is mu * 0 + g = g, as in torch.optim.SGD; float32 for half precision
                buf = torch.zeros_like(g, dtype=wide_dtype(g.dtype))
            new = axpy(g, buf, hp["mu"])  # a new tensor: kept longer than g may be
            if "mu" in learn:
                state["buf_prev"] = buf
            state["buf"] = d = new
            if self.nesterov:
                d = axpy(g, new, hp["mu"])
        else:
            d = g
        return along(state, d, hp["alpha"], learn)

    def hypergrad(self, state, v, hp, learn, host):
        out = {}
        if "alpha" in learn:
            out["alpha"] = alpha_hypergrad(state, v, host)
        if "mu" in learn:
            prev = state.get("buf_prev")
            out["mu"] = (scalar(v.new_zeros((), dtype=wide_dtype(v.dtype)), host) if prev is None
                         else -(hp["alpha"] * scalar(dot(v, prev), host)))
        return out


class SGDPerParam(Level):
    """SGD with its own learned step size for each parameter tensor (or, higher up, each hyperparameter).

    ``SGDPerParam(params, optimizer=None)`` where ``params`` is an iterable of ``(name, alpha)`` pairs, as in the
    reference, or one float used for every target. Unlike the reference, a target without a step size is an error
    (the reference silently froze it).
    """

    kind = "sgd_per_param"
    HYPERS = (Hyper("alpha", 0.01, low=0.0),)
    UNSAVED = ("lengths", "n", "const", "const_key")  # from the sizes, and a cache of the step sizes

    def __init__(self, params=0.01, optimizer=None, *, learn=None, hypergrad=None):
        template = self.HYPERS[0]
        if isinstance(params, (int, float)) and not isinstance(params, bool):
            self.default, self.alphas = template.check(params, self.kind), {}
        else:
            self.default = None
            self.alphas = {str(k): template.check(v, f"{self.kind} ({k})") for k, v in params}
        super().__init__({"alpha": template.default if self.default is None else self.default}, optimizer, learn,
                         hypergrad)

    @classmethod
    def from_spec(cls, values, optimizer=None, learn=None, **options):
        """Spec text gives one starting step size for every target: ``sgd_per_param(0.05)``."""
        return cls(values.get("alpha", cls.HYPERS[0].default), optimizer, learn=learn, **options)

    def default_learn(self):
        return ("alpha",)

    def hyper_names(self, target_names):
        missing = [n for n in target_names if n not in self.alphas] if self.default is None else []
        if missing:
            raise ValueError(f"sgd_per_param has no step size for {', '.join(missing)}; "
                             f"give one for every target (it has: {', '.join(self.alphas) or 'none'})")
        return [f"{n}_alpha" for n in target_names]

    def hyper(self, name):
        return self.HYPERS[0]

    def initial(self, name):
        return self.default if self.default is not None else self.alphas[name[: -len("_alpha")]]

    def has_text_form(self):
        return self.default is not None  # named step sizes have none

    def level_spec(self):
        if self.default is None:
            raise ValueError("an sgd_per_param level with named step sizes has no text form; "
                             "use sgd_per_param(ALPHA) for one starting value")
        args = [repr(self.default)] if self.default != 0.01 else []
        if self.learn != self.default_learn():
            args.append("learn=" + ("+".join(self.learn) if self.learn else "none"))
        args += [f"{name}={str(value).lower()}" for name, value in self.options().items()]
        return self.kind + (f"({', '.join(args)})" if args else "")

    def __eq__(self, other):
        return (type(other) is SGDPerParam and self.default == other.default and self.alphas == other.alphas
                and self.learn == other.learn and self.options() == other.options()
                and self.optimizer == other.optimizer)

    __hash__ = Level.__hash__

    def init_state(self, n, like, sizes, plain):
        return {"lengths": torch.tensor(sizes, device=like.device), "n": n}

    def _alpha_vector(self, state, g, hp, learn):
        alphas = list(hp.values())  # one step size per target, in the targets' order
        dtype = wide_dtype(g.dtype)  # float32 for half-precision weights, as the learned ones are stored
        if all(isinstance(a, float) for a in alphas):  # fixed, or learned and read as floats (CPU): built again
            key = hash(tuple(alphas))                   # only when they change (no copy to an accelerator per step)
            if state.get("const_key") != key:
                state["const"] = torch.tensor(alphas, dtype=dtype, device=g.device)
                state["const_key"] = key
            vec = state["const"]
        else:
            vec = torch.cat([a.reshape(1) for a in alphas])
        return vec.repeat_interleave(state["lengths"], output_size=state["n"])

    def update(self, state, g, hp, learn, out=None):
        return along(state, g, self._alpha_vector(state, g, hp, learn), learn)

    def hypergrad(self, state, v, hp, learn, host):
        sums = torch.segment_reduce(widen(v) * widen(state["d"]), "sum", lengths=state["lengths"]).neg_()
        return dict(zip(hp, sums.tolist() if host else sums.unbind()))
