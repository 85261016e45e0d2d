"""An optimizer *level*: the configuration of one floor of a hyperoptimizer tower.

A level is a plain description (kind, initial hyperparameters, which of them learn, the level above). It holds no
tensors and no training state, so one level object can be reused in many towers without sharing anything. The
training state lives in :class:`gdtuo_explore.tower.Tower`.

Each concrete level (``SGD``, ``Adam``, ...) provides two plain functions of the math, side by side:

* ``update(state, g, hp, learn, out=None) -> (d, a)``: the step it applies to its target, ``P_new = P - u`` with
  ``u = a * d``, from the gradient ``g`` of ``P`` and the natural values ``hp`` of every hyperparameter of the
  level, in the level's order (Python floats, or one-element tensors for learned ones on an accelerator, where
  reading them would synchronise); ``learn`` names those that learn here (their hypergradients will be asked
  for; empty at the top of a tower, whatever the level's configuration says). The direction
  ``d`` (shaped like ``P``) and the scale ``a`` (a float, a one-element tensor or a tensor like ``d``) are returned
  apart, so that the tower applies ``P -= a * d`` in one pass instead of writing ``u`` first (:func:`sub_scaled_`).
  ``out``, when given, is a spare buffer like ``g`` whose contents are dead (the caller's other gradient buffer):
  the update may compute into it, and return it as ``d`` unless it keeps ``d``, instead of allocating. With
  ``out=None`` the update allocates its results and is differentiable by autograd (``out=`` is not), which
  tests use as an oracle; nothing depends on the global autograd mode.
* ``hypergrad(state, v, hp, learn, host) -> {name: dL/dh}`` (Python floats where ``host``, see :func:`scalar`;
  else 0-d tensors, and nothing is read back to the host):
  the one-step hypergradient of the hyperparameters used by the *previous* ``update``, given ``v = dL/dP`` at the
  new point. Because ``P_new = P - u(h)``, it is the vector-Jacobian product ``-v . du/dh``. Everything else is
  detached, as in the paper, so nothing is second order.

A level whose update needs the current value of what it moves (a user's step in the reference package's API,
see :mod:`gdtuo_explore.core.optimizable`) sets ``TAKES_TARGET = True``; ``update`` then also gets two keywords:
``target``, the values of its target before this update (flat like ``g``; a copy that it may keep), and ``names``,
the names of the target's parts, whose sizes ``init_state`` got (the weights' names at the bottom of a tower, the
learned hyperparameters' names of the level below higher up).

Precision: with half-precision weights (float16, bfloat16), a level keeps its running statistics (moments,
accumulators, momentum) in float32 and computes from them in float32 (:func:`wide_dtype`), as mixed-precision
training keeps an optimizer's state: a float16 square of a gradient below 2.4e-4 is 0, Adam's eps 1e-8 is below
float16's range, and a bfloat16 average that moves by 0.1% per step (beta2 = 0.999) does not move at all. Its
direction ``d`` is then float32 too. Every one-number result (a dot product) is computed in float32 or wider
(:func:`dot`), and the hyperparameters are float32 or wider (the tower's store).

A level may also be run through the *automatic* path (``hypergrad="auto"``, see :mod:`.auto`), where its
hypergradient comes from autograd through ``update`` itself; a level without a closed form (``has_closed_form()``
False, e.g. an :class:`.auto.AutoLevel`) always is.

``state`` is the level's training state only (made by ``init_state``, saved in checkpoints); its configuration
(``learn``, the hyperparameters' names) comes in the arguments. A level may keep ``g`` (or ``d``) in its state
until the next step's ``hypergrad``. A level whose direction ``d`` is
``g`` itself must compute each hypergradient as a sum over every entry of ``v`` times finite numbers (a dot product):
then a finite hypergradient proves ``v`` finite (inf * 0 is nan), and the tower need not check ``d`` again.
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch

from ..hyperparams import Hyper


def one_minus(x):
    """1 - x for a Python float or a tensor (``torch.rsub`` skips the Python wrapper of ``1.0 - tensor``)."""
    return 1.0 - x if isinstance(x, float) else torch.rsub(x, 1.0)


def wide_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of hyperparameters, running statistics and sums for weights of ``dtype``: float32 for a
    half-precision dtype (float16, bfloat16), else ``dtype`` itself (float32, float64).

    Example::

        >>> import torch
        >>> from gdtuo_explore.core.optimizers.base import wide_dtype
        >>> wide_dtype(torch.bfloat16), wide_dtype(torch.float64)
        (torch.float32, torch.float64)
    """
    return torch.promote_types(dtype, torch.float32)


def widen(x: torch.Tensor) -> torch.Tensor:
    """``x`` in :func:`wide_dtype` (a float32 copy of a half-precision tensor; else ``x`` itself)."""
    return x if x.dtype.itemsize >= 4 else x.float()


def dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x . y`` in float32 or wider (:func:`wide_dtype`), also where one or both are half precision: their
    products underflow, and a float16 sum overflows beyond 65504."""
    if x.dtype == y.dtype and x.dtype.itemsize >= 4:
        return torch.dot(x, y)
    wide = wide_dtype(torch.promote_types(x.dtype, y.dtype))
    return torch.dot(x.to(wide), y.to(wide))


ALIGN = 64  # bytes: where each row of :func:`scratch_rows` starts (a cache line; torch's allocator aligns to it)


def scratch_rows(k: int, n: int, like: torch.Tensor) -> torch.Tensor:
    """A ``(k, n')`` scratch tensor like ``like`` (its dtype and device), ``n' >= n``, whose rows each start on an
    :data:`ALIGN`-byte boundary; use ``rows[:, :n]``. A row of a plain ``(k, n)`` tensor starts wherever row 0 ends,
    and on the CPU the BLAS dot product that :func:`dot` calls runs several times slower on a vector that does not
    start on a 32-byte boundary (7x for 100,000 float32 entries: 111 against 15 microseconds)."""
    per_line = max(1, ALIGN // like.element_size())
    return torch.empty(k, -(-n // per_line) * per_line, dtype=like.dtype, device=like.device)


def axpy(x, y, a, out=None):
    """x + a * y for a Python float ``a`` or a one-element tensor ``a`` (one pass, no host sync either way)."""
    return torch.add(x, y, alpha=a, out=out) if isinstance(a, float) else torch.addcmul(x, y, a, out=out)


def along(state: dict, d, alpha, learn):
    """The update ``u = alpha * d`` along a direction ``d``, as ``(d, alpha)``; keeps ``d`` when hyperparameters
    learn (``learn`` not empty), for :func:`alpha_hypergrad`."""
    if learn:
        state["d"] = d
    return d, alpha


def scaled(d, a):
    """The update ``u = a * d`` of ``update``'s ``(d, a)`` as one tensor."""
    return d * a


def float_scale(d, a) -> bool:
    """Whether ``a`` is a float that PyTorch accepts as a scale for ``d`` (it refuses finite values beyond the
    range of ``d``'s dtype)."""
    return isinstance(a, float) and abs(a) <= torch.finfo(d.dtype).max


def sub_scaled_(target, d, a):
    """``target -= a * d`` in place, in one pass (``a``: a float, a one-element tensor or a tensor like ``d``)."""
    if float_scale(d, a):
        return target.add_(d, alpha=-a)
    return target.sub_(scaled(d, a)) if isinstance(a, float) else target.addcmul_(d, a, value=-1.0)


def alpha_hypergrad(state: dict, v, host: bool):
    """dL/dalpha of the previous ``u = alpha * d``: ``-v . d``."""
    return -scalar(dot(v, state["d"]), host)


def reciprocal(x):
    """1 / x; for a Python float 0.0 it is inf, as for tensors (Python itself would raise ZeroDivisionError)."""
    if isinstance(x, float) and x == 0.0:
        return math.copysign(math.inf, x)
    return 1.0 / x if isinstance(x, float) else torch.reciprocal(x)


def scalar(x: torch.Tensor, host: bool):
    """A one-number result (a dot product) as a Python float where ``host`` (the tower's choice, on the CPU: reading
    it is free and the arithmetic that follows is then ~30x cheaper); else left a tensor (on an accelerator, reading
    it would synchronise). A Python float (a sum made on the host) stays as it is."""
    return x if isinstance(x, float) else x.item() if host else x


class NoOpOptimizer:
    """The (absent) level above the top of a tower: it changes nothing. ``optimizer=None`` means the same."""

    def __repr__(self) -> str:
        return "NoOpOptimizer()"


class Level:
    """Base class of optimizer levels. Subclasses set ``kind``, ``HYPERS`` and implement ``update``/``hypergrad``."""

    kind: ClassVar[str] = "level"
    #: the label of the explorer's level menu (None: the kind)
    label: ClassVar[str | None] = None
    HYPERS: ClassVar[tuple[Hyper, ...]] = ()
    #: the state entries shaped like the target that carry over from step to step (moments, accumulators): where a
    #: step leaves part of the target alone (no gradient there), the tower keeps them as they were
    RUNNING: ClassVar[tuple[str, ...]] = ()
    #: state entries that ``init_state`` makes from the sizes, and caches: checkpoints leave them out (a tower rebuilds
    #: them), so that a checkpoint holds only what training changed, the same in every process of a sharded run
    UNSAVED: ClassVar[tuple[str, ...]] = ()
    #: whether a tower can checkpoint, copy and pickle this level's state (tensors and numbers only)
    CHECKPOINTS: ClassVar[bool] = True
    #: whether ``update`` needs the target's current values (``target=`` and ``names=``; see the module docstring)
    TAKES_TARGET: ClassVar[bool] = False
    #: names of the level's on/off options (spec text ``name=true``), kept as attributes of that name
    OPTIONS: ClassVar[tuple[str, ...]] = ()
    #: whether ``update`` treats every entry on its own: entry i of ``d`` (and of ``a`` where it is a tensor like
    #: ``d``) depends only on entry i of ``g``, of the target and of the state tensors shaped like them, and the
    #: state's other tensors are not changed in place. The automatic path then takes hypergradients in slices.
    ELEMENTWISE: ClassVar[bool] = False

    def __init__(self, values: dict, optimizer=None, learn=None, hypergrad=None):
        self.values = {h.name: h.check(values.get(h.name, h.default), self.kind) for h in self.HYPERS}
        self.automatic = self._check_hypergrad(hypergrad)
        if isinstance(optimizer, NoOpOptimizer):
            optimizer = None
        if optimizer is not None and not isinstance(optimizer, Level):
            raise TypeError(f"optimizer must be an optimizer level such as SGD(1e-5) or None, not {optimizer!r}")
        self.optimizer = optimizer
        self.learn = self._check_learn(self.default_learn() if learn is None else learn)

    # -- configuration ---------------------------------------------------------------------------------------
    def default_learn(self) -> tuple[str, ...]:
        """The hyperparameters that learn when ``learn`` is not given: every learnable one."""
        return tuple(h.name for h in self.HYPERS if h.learnable)

    def _check_learn(self, learn) -> tuple[str, ...]:
        if isinstance(learn, str):
            learn = [s for s in learn.replace("+", ",").split(",") if s.strip()]
        learn = tuple(str(s).strip() for s in learn)
        names = [h.name for h in self.HYPERS if h.learnable]
        for name in learn:
            if name not in names:
                raise ValueError(f"learn names {name!r}, which {self.kind} cannot learn; "
                                 f"{self.kind}'s learnable hyperparameters are {', '.join(names)}")
        return tuple(n for n in names if n in learn)  # canonical order

    def has_closed_form(self) -> bool:
        """Whether this level has a hand-derived hypergradient (else it always runs the automatic path)."""
        return True

    def _check_hypergrad(self, hypergrad) -> bool:
        """``hypergrad`` ("closed", "auto" or None: closed where there is one) as "runs the automatic path"."""
        if hypergrad is None:
            return not self.has_closed_form()
        if hypergrad not in ("closed", "auto"):
            raise ValueError(f"hypergrad={hypergrad!r} is invalid for {self.kind}: it must be 'closed' (the "
                             "hand-derived hypergradient) or 'auto' (autograd through the update)")
        if hypergrad == "closed" and not self.has_closed_form():
            raise ValueError(f"{self.kind} has no closed-form hypergradient here: hypergrad must be 'auto'")
        return hypergrad == "auto"

    @staticmethod
    def check_option(name: str, value, kind: str) -> bool:
        """An on/off option's value as a bool, or ValueError naming it (a bool, or 0/1)."""
        if isinstance(value, bool) or (isinstance(value, (int, float)) and value in (0, 1)):
            return bool(value)
        raise ValueError(f"{name}={value!r} is invalid for {kind}: it must be True or False")

    def options(self) -> dict:
        """The on/off options and the hypergradient path that differ from the defaults (for spec text)."""
        out = {name: True for name in self.OPTIONS if getattr(self, name)}
        if self.automatic and self.has_closed_form():
            out["hypergrad"] = "auto"
        return out

    @classmethod
    def from_spec(cls, values: dict, optimizer=None, learn=None, **options) -> "Level":
        """The level that the spec text ``kind(name=value, ...)`` describes (see :mod:`..spec`); ``options``: the
        on/off options (``nesterov=True``) and ``hypergrad``."""
        return cls(**values, optimizer=optimizer, learn=learn, **options)

    def hyper(self, name: str) -> Hyper:
        return next(h for h in self.HYPERS if h.name == name)

    def hyper_names(self, target_names: list[str]) -> list[str]:
        """Names of this level's hyperparameters, given the names of what it optimizes (see SGDPerParam)."""
        return [h.name for h in self.HYPERS]

    def initial(self, name: str) -> float:
        return self.values[name]

    def levels(self) -> list["Level"]:
        """This level and every level above it, bottom (the weights' optimizer) first."""
        out, level = [], self
        while level is not None:
            if any(level is seen for seen in out):
                raise ValueError("the tower is a cycle: a level is its own (hyper)optimizer")
            out.append(level)
            level = level.optimizer
        return out

    def height(self) -> int:
        return len(self.levels())

    # -- text form -------------------------------------------------------------------------------------------
    def level_spec(self) -> str:
        """This level alone as spec text, e.g. ``adam(0.01, beta1=0.8)``: only values that differ from defaults."""
        args = []
        for i, h in enumerate(self.HYPERS):
            v = self.values[h.name]
            if v != h.default or (math.copysign(1, v) != math.copysign(1, h.default)):
                args.append(repr(v) if i == 0 and not args else f"{h.name}={v!r}")
        if self.learn != self.default_learn():
            args.append("learn=" + ("+".join(self.learn) if self.learn else "none"))
        args += [f"{name}={str(value).lower()}" for name, value in self.options().items()]
        return self.kind + (f"({', '.join(args)})" if args else "")

    def has_text_form(self) -> bool:
        """Whether :meth:`level_spec` can write this level as spec text (see SGDPerParam)."""
        return True

    def __str__(self) -> str:
        return "/".join(level.level_spec() for level in self.levels())

    def tower_name(self) -> str:
        """The tower from this level up as spec text, or as its kinds (``sgd_per_param/sgd``) when a level has no
        text form: the name that checkpoints carry and check."""
        levels = self.levels()
        if all(level.has_text_form() for level in levels):
            return str(self)
        return "/".join(level.kind for level in levels)

    def __repr__(self) -> str:
        return f"parse_tower({str(self)!r})"

    def __eq__(self, other) -> bool:
        return (type(self) is type(other) and self.values == other.values and self.learn == other.learn
                and self.options() == other.options() and self.optimizer == other.optimizer)

    def __hash__(self):
        return hash(str(self))

    # -- math (implemented by subclasses) --------------------------------------------------------------------
    def init_state(self, n: int, like, sizes: list[int], plain: bool) -> dict:
        """Fresh per-level training state for a target of ``n`` numbers (``like`` gives device/dtype).

        ``plain``: the level is an ordinary optimizer here (it moves the weights and none of its hyperparameters
        learn), so it should behave exactly like its ``torch.optim`` counterpart.
        """
        return {}

    def update(self, state: dict, g, hp: dict, learn: tuple[str, ...], out=None):
        raise NotImplementedError

    def hypergrad(self, state: dict, v, hp: dict, learn: tuple[str, ...], host: bool) -> dict:
        raise NotImplementedError
