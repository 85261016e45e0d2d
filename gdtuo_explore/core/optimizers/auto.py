"""Automatic hypergradients: a level's hypergradient from autograd through its own ``update``.

The paper's point: the hypergradient of any hyperparameter of any optimizer falls out of automatic differentiation,
by detaching everything but the hyperparameters in the previous step's update. Here that is :class:`Automatic`,
which runs any level's ``update`` (the Level API of :mod:`.base`) and gives it a ``hypergrad``:

1. At each update it keeps the update's inputs: the level's state tensors before the update, the gradient ``g`` (a
   reference: the tower's caller keeps it until the next step), and the target where the level takes it
   (``TAKES_TARGET``). The state tensors are copied (the update may change them in place), except where the update
   keeps its graph (below) and every such update so far made new state tensors and left the old ones as they were
   (their version counters tell): then the old ones themselves are kept, which costs nothing (the graph holds them
   anyway). Should such an update change one in place after all, its inputs are lost: its hypergradient still comes
   from its graph, or, where that graph is gone too (a checkpoint or a move came between), is nan (the tower refuses
   that step); from then on the state is copied.
2. For a target of at most ``CHUNK`` entries, the update itself runs with the learned hyperparameters as leaf
   tensors that require grad (the entries of one tensor; every other tensor detached), and its graph is kept on the
   :class:`Automatic` object, not in the level's state, until the next step. Scratch tensors that the pass leaves
   in the state for a closed form (shaped like the target, new, not ``RUNNING``: Adam's ``g``) are dropped. A larger
   target's update runs with nothing asked of it for a closed form (``learn=()``), into the caller's spare buffer.
3. At the next step, :meth:`Automatic.hypergrad` takes the vector-Jacobian product ``dL/dh = -v . du/dh`` with
   ``torch.autograd.grad`` (``u = a * d``, ``v = dL/dP_new``) through the kept graph, or, for a large target and
   wherever the graph is not the last update's (after a checkpoint is loaded or ``Tower.to``), through the update
   run again from the kept inputs. Nothing is second order, the model's backward stays a plain one, and the graph
   is freed at once. Both ways give the same numbers (the same operations on the same inputs).
4. A large target of a level whose update treats every entry on its own (``ELEMENTWISE``: the built-in ones but
   ``sgd_per_param``; AdamW, Lion) *defers* its updates: its state keeps the inputs of the last update (the state
   before it, with its gradient and target), not a copy of them beside the state after it. The update runs in
   slices of ``SLICE`` entries on copies of the slices, writing its direction into the caller's spare buffer and
   leaving the state as it was; the next hypergradient runs it again, slice by slice, with the learned
   hyperparameters as leaves, and writes each slice's new state into the state once its vector-Jacobian product is
   taken (except where that update left the target alone, see ``skipped``). Two target-sized buffers fewer (AdamW's
   ``m`` and ``v`` after the update) for the same arithmetic. Its state then reads, between steps, as the state
   before the last update.

Why two ways: on a small model the cost of a step is the number of PyTorch operations, not their size (the seed
MLP's 100k weights: ~50 us for any elementwise operation, ~5-10 us for one on a 0-d tensor, on a slow core), and
running the update once instead of twice saves one pass of it (its scalar arithmetic included); a graph of at most
``CHUNK`` entries (Adam's holds about ten tensors like the target: ~20 MB in float32 at ``CHUNK``) costs nothing
much across the model's forward and backward, and a model of that size (the run engine's CNN: 420k weights)
steps faster this way than by running its update again. On a large target, running the update again keeps memory low: then
between steps there is only the copy of the state tensors (Adam: ``m`` and ``v``), and while a hypergradient is
taken, the graph of the update, in slices for a level whose update treats every entry on its own (``ELEMENTWISE``:
the built-in ones but ``sgd_per_param``, AdamW, Lion) of ``SLICE`` entries, one at a time, so that graph stays a
small part of one target-sized buffer (and the allocator reuses the same few blocks). Either way the level's state holds only tensors and numbers, so a
checkpoint resumes the same trajectory. What is left of the cost on a small model is autograd's: the update's
scalar arithmetic on 0-d tensors (Adam: ``1 - beta^t`` and the like, about ten operations) and the backward of each
operation (~20 nodes for Adam, each a few operations).

A learned hyperparameter that the update does not use through torch operations (read with ``.item()`` or
``float()``, detached, or not used at all) would get a silent zero hypergradient: it is refused with a ValueError
naming the level and the hyperparameter at the first update. A non-finite hypergradient is left to the tower's guard,
which refuses that step as for every level.

:class:`AutoLevel` is the base class of levels written only as their update (AdamW, Lion, your own); a built-in
level with a closed form runs this path on request (``Adam(hypergrad="auto")``, spec text ``adam(hypergrad=auto)``).
"""
from __future__ import annotations

import math

import torch

from .base import Level, NoOpOptimizer, dot, wide_dtype

KEPT = "input."         # state entries holding a copy of the state before the last update: "input." + key
GRAD = "input:g"        # the gradient of the last update
TARGET = "input:target"  # and its target, for a level that reads it
CHECKED = "input:checked"  # 1 once the first update showed every learned hyperparameter in use
DEFERRED = "input:deferred"  # 1 while the state holds the inputs of the last update, which is not taken yet (see 4.)
LOST = "lost"  # in place of the kept inputs: an update changed in place the state tensors it was given (see update)
CHUNK = 2 ** 19         # up to this many entries the graph of an update is kept (see 2.)
SLICE = 2 ** 17         # entries per slice of an elementwise level's update run again or deferred (see 3., 4.)


class Automatic:
    """The automatic path of ``level``: ``update`` and ``hypergrad`` with the Level API (see :mod:`.base`), the
    hypergradient from autograd through ``level.update``. The tower uses it for every level that runs automatically.

    Example (SGD, whose hypergradient of ``alpha`` is ``-v . g``)::

        >>> import torch
        >>> from gdtuo_explore import SGD
        >>> from gdtuo_explore.core.optimizers.auto import Automatic
        >>> rule, state = Automatic(SGD(0.1)), {}
        >>> d, a = rule.update(state, torch.tensor([1.0, 2.0]), {"alpha": 0.1, "mu": 0.0}, ("alpha",))
        >>> rule.hypergrad(state, torch.tensor([3.0, 4.0]), {"alpha": 0.1, "mu": 0.0}, ("alpha",), host=True)
        {'alpha': -11.0}
    """

    def __init__(self, level: Level):
        self.level = level
        self.names = ()  # the names of the target's parts, for a level that takes the target
        self._graph = None  # (g, d, a, leaves): the last update's graph, for a target of at most CHUNK entries
        # whether an update with a graph changed a tensor of its state in place: None before the first, False while
        # none did (the state's tensors are then kept without a copy), True once one did (then always copied)
        self._mutates: bool | None = None
        self._spare = {}  # the last update's kept copies, after its hypergradient: memory for the next copies
        self.chunk = None  # CHUNK where None (a tower's probe sets it to take the path of a larger target)
        #: the ``(start, stop)`` slices of the target that the last update left alone (set by the tower): a
        #: deferred update takes no new state there
        self.skipped = []

    @property
    def RUNNING(self):
        return self.level.RUNNING

    def forget_graph(self) -> None:
        """Drop the last update's graph (the state was replaced: the next hypergradient runs the update again)."""
        self._graph = None

    def __getstate__(self) -> dict:  # a copy or a pickle runs the update again from the kept inputs
        return {**self.__dict__, "_graph": None, "_spare": {}}

    def init_state(self, n, like, sizes, plain):
        return self.level.init_state(n, like, sizes, plain)

    def _limit(self) -> int:
        return CHUNK if self.chunk is None else self.chunk

    def defers(self, n: int, learn) -> bool:
        """Whether an update of a target of ``n`` entries is deferred (see the module docstring, 4.)."""
        return bool(learn) and self.level.ELEMENTWISE and n > self._limit()

    def update(self, state, g, hp, learn, out=None, *, target=None, names=()):
        """The level's update ``(d, a)``, keeping its inputs for the next :meth:`hypergrad` when ``learn``."""
        extra = {}
        if self.level.TAKES_TARGET:
            if target is None:
                raise ValueError(f"{self.level.kind} needs the values of what it moves: Tower.step(..., "
                                 "target=weights)")
            self.names, extra = tuple(names), {"target": target, "names": tuple(names)}
        self._graph = None
        if not learn:
            return self.level.update(state, g, hp, learn, out, **extra)
        for key in [k for k in state if _kept(k)]:  # an unused copy (after a refused step): let it go
            del state[key]
        if self.defers(g.numel(), learn):
            return self._deferred_update(state, g, hp, learn, out, target)
        small = g.numel() <= self._limit()
        # the state's tensors, copied unless this update is known to leave them as they are (a differentiable
        # update usually makes new ones: then they are kept as they are, checked below by their version counters)
        shared = small and self._mutates is False
        own = _own(state)
        inputs = own if shared else _copy(own, self._spare)
        self._spare = {}
        if small:  # their version counters, to tell whether the update changes them in place
            versions = {k: x._version for k, x in own.items() if isinstance(x, torch.Tensor)}
        if not state.get(CHECKED):  # the first update: is every learned hyperparameter in use?
            self._vjp(inputs, g, target, torch.zeros_like(g), hp, learn, keep=True)
            state[CHECKED] = 1
        if small:  # a small target: this pass keeps its graph for the next hypergradient
            leaves, before = _leaves(hp, learn, g), set(state)
            d, a = self._run(state, g, target, hp, leaves, learn)
            changed = any(own[k]._version != version for k, version in versions.items())
            if shared and changed:  # this update changed its state in place after all: its inputs are lost
                inputs = {LOST: 1}
            self._mutates = bool(self._mutates) or changed
            for key, x in list(state.items()):  # the state holds tensors only, never the graph
                if not isinstance(x, torch.Tensor):
                    continue
                if key not in before and key not in self.level.RUNNING and x.shape == g.shape:
                    del state[key]  # kept by the pass for a closed form (Adam's g and sqrt(v)): not needed here
                elif x.requires_grad:
                    state[key] = x.detach()
            self._graph = (g, d, a, leaves)
            d, a = d.detach(), _plain(a, hp, learn)
        else:
            d, a = self.level.update(state, g, hp, (), out, **extra)
        state.update({KEPT + k: v for k, v in inputs.items()})
        state[GRAD] = g
        if target is not None:
            state[TARGET] = target
        return d, a

    def _deferred_update(self, state, g, hp, learn, out, target):
        """The update, slice by slice on copies of the state's slices, its direction into ``out``; the state is
        left as it was, and keeps this update's gradient and target (see the module docstring, 4.)."""
        if not state.get(CHECKED):  # the first update: is every learned hyperparameter in use?
            self._vjp(_own(state), g, target, torch.zeros_like(g), hp, learn, keep=True)
            state[CHECKED] = 1
        own, n = _own(state), g.numel()
        d_all = a_all = None
        for part in _parts(n, SLICE):
            sliced = {k: _slice(x, part, g.shape, keep=True) for k, x in own.items()}
            into = None if out is None else out[part]
            extra = {} if target is None else {"target": target[part], "names": self.names}
            d, a = self.level.update(sliced, g[part], hp, (), into, **extra)
            if d_all is None:
                d_all = out if out is not None and out.dtype == d.dtype else torch.empty(n, dtype=d.dtype,
                                                                                          device=d.device)
            if d.data_ptr() != d_all[part].data_ptr():
                d_all[part].copy_(d)
            if isinstance(a, torch.Tensor) and a.shape == d.shape:  # a scale per entry
                if a_all is None:
                    a_all = torch.empty(n, dtype=a.dtype, device=a.device)
                a_all[part].copy_(a)
            else:
                a_all = a
        state[DEFERRED] = 1
        state[GRAD] = g
        if target is not None:
            state[TARGET] = target
        return d_all, a_all

    def _deferred_hypergrad(self, state, g, target, v, hp, learn):
        """The last update run again, slice by slice, from the state (its inputs): its vector-Jacobian products,
        and its new state, written into the state slice by slice (not where it left the target alone)."""
        own, n = _own(state), g.numel()
        leaves = _leaves(hp, learn, v)
        keep = _mask(n, self.skipped, g.device)
        total, scalars, made = None, None, set()
        for part in _parts(n, SLICE):
            sliced = {k: _slice(x, part, g.shape, keep=True) for k, x in own.items()}
            d, a = self._run(sliced, g[part], None if target is None else target[part], hp, leaves, learn)
            found = self._grads(d, a, v[part], leaves, learn)
            total = found if total is None else [x + y for x, y in zip(total, found)]
            for k, x in sliced.items():
                ours = state.get(k)
                if k in made or (keep is None and isinstance(ours, torch.Tensor) and ours.shape == g.shape):
                    ours[part].copy_(x.detach())
                elif isinstance(ours, torch.Tensor) and ours.shape == g.shape:
                    # where the last update left the target alone, its state stays
                    torch.where(keep[part], ours[part], x.detach(), out=ours[part])
                elif k in self.level.RUNNING and isinstance(x, torch.Tensor) and x.dim() == 1:  # made by the update
                    state[k] = torch.empty(n, dtype=x.dtype, device=x.device)
                    state[k][part].copy_(x.detach())
                    made.add(k)
            scalars = {k: (x.detach() if isinstance(x, torch.Tensor) else x) for k, x in sliced.items()
                       if not (isinstance(x, torch.Tensor) and x.dim() == 1 and x.numel() == part.stop - part.start)}
        state.update(scalars or {})  # the step count and the like, the same in every slice
        return total

    def hypergrad(self, state, v, hp, learn, host):
        """``{name: dL/dh}`` of the last update (Python floats where ``host``, else 0-d tensors)."""
        g, target = state.pop(GRAD, None), state.pop(TARGET, None)
        if state.pop(DEFERRED, None):
            grads = self._deferred_hypergrad(state, g, target, v, hp, learn)
            if host:
                return dict(zip(learn, torch.stack(grads).tolist()))
            return dict(zip(learn, grads))
        inputs = {k[len(KEPT):]: state.pop(k) for k in [k for k in state if k.startswith(KEPT)]}
        graph, self._graph = self._graph, None
        kept = graph is not None and graph[0] is g  # kept from the update (else: a checkpoint or a move came between)
        if g is None or (LOST in inputs and not kept):  # the last update did not finish (the tower refused that
            # step), or its inputs are lost and its graph too: nothing to differentiate
            nan = math.nan if host else torch.full((), math.nan, dtype=wide_dtype(v.dtype), device=v.device)
            return dict.fromkeys(learn, nan)
        if kept:
            _, d, a, leaves = graph
            grads = self._grads(d, a, v, leaves, learn)
        else:
            grads = self._vjp(inputs, g, target, v, hp, learn)
        if self._mutates is not False:  # they were copies: their memory takes the next update's copies
            self._spare = {k: x for k, x in inputs.items() if isinstance(x, torch.Tensor)}
        if host:
            return dict(zip(learn, torch.stack(grads).tolist()))
        return dict(zip(learn, grads))

    def _vjp(self, inputs, g, target, v, hp, learn, keep=False) -> list[torch.Tensor]:
        """``-v . du/dh`` for each learned ``h``, by running the update again from ``inputs`` (which it changes,
        unless ``keep``), in slices where the level is elementwise."""
        leaves = _leaves(hp, learn, v)
        n = g.numel()
        total = None
        for part in _parts(n, SLICE if self.level.ELEMENTWISE else n):
            sliced = {k: _slice(x, part, g.shape, keep) for k, x in inputs.items()}
            found = self._vjp_slice(sliced, g[part], None if target is None else target[part], v[part], hp, leaves,
                                    learn)
            total = found if total is None else [a + b for a, b in zip(total, found)]
        return total

    def _vjp_slice(self, inputs, g, target, v, hp, leaves, learn) -> list[torch.Tensor]:
        d, a = self._run(inputs, g, target, hp, leaves, learn)
        return self._grads(d, a, v, leaves, learn)

    def _run(self, state, g, target, hp, leaves, learn):
        """The level's update from ``state`` (which it changes), differentiable in the ``leaves``."""
        extra = {} if target is None else {"target": target, "names": self.names}
        with torch.enable_grad():
            return self.level.update(state, g, {**hp, **leaves}, learn, **extra)

    def _grads(self, d, a, v, leaves, learn) -> list[torch.Tensor]:
        """``-v . du/dh`` for each leaf ``h``, ``u = a * d`` from :meth:`_run` (its graph is freed)."""
        outputs, weights = [], []
        a_value = a.detach() if isinstance(a, torch.Tensor) else a
        if isinstance(d, torch.Tensor) and d.requires_grad:  # u = a * d: dL/dd = -v a
            outputs.append(d)
            weights.append(v * -a_value)
        if isinstance(a, torch.Tensor) and a.requires_grad:  # dL/da = -v d, summed where a is broadcast
            outputs.append(a)
            weights.append(torch.mul(v, d.detach()).neg_() if a.shape == d.shape else
                           dot(v, d.detach()).neg_().reshape(a.shape))
        found = (torch.autograd.grad(outputs, list(leaves.values()), weights, allow_unused=True) if outputs
                 else [None] * len(leaves))
        del d, a, outputs, weights  # the graph goes now
        for name, grad in zip(learn, found):
            if grad is None:
                raise ValueError(
                    f"{self.level.kind}: its update does not depend on the learned hyperparameter {name!r} through "
                    f"torch operations (read with .item() or float(), detached, or not used), so its hypergradient "
                    f"would be a silent 0; compute the update from hp[{name!r}] with torch operations, or do not "
                    f"learn it (learn=...)")
        return list(found)


def _parts(n: int, size: int) -> list[slice]:
    """``n`` entries in slices of ``size`` (at least 1), the last one shorter."""
    size = max(1, size)
    return [slice(start, min(n, start + size)) for start in range(0, n, size)]


def _mask(n: int, skipped, device):
    """True where a slice of ``skipped`` lies (the entries an update left alone), or None where there is none."""
    if not skipped:
        return None
    mask = torch.zeros(n, dtype=torch.bool, device=device)
    for start, stop in skipped:
        mask[start:stop] = True
    return mask


def _plain(a, hp, learn):
    """The scale ``a`` of an update run with leaves, detached: a Python float where the learned hyperparameters
    came as floats (the tower's CPU path) and ``a`` is one number, as the update would have given."""
    if not isinstance(a, torch.Tensor):
        return a
    if a.dim() == 0 and all(isinstance(hp[name], float) for name in learn):
        return a.item()
    return a.detach()


def _kept(key: str) -> bool:
    """Whether a state entry holds a kept input of the last update (or says it was deferred)."""
    return key.startswith(KEPT) or key in (GRAD, TARGET, DEFERRED)


def _own(state: dict) -> dict:
    """The level's own state entries (not the kept inputs)."""
    return {k: v for k, v in state.items() if not _kept(k) and k != CHECKED}


def _copy(own: dict, spare: dict) -> dict:
    """The level's own state entries (from :func:`_own`), tensors copied (an update may change them in place),
    into the tensors of ``spare`` where one of the same key, shape, dtype and device is there."""
    out = {}
    for k, v in own.items():
        if isinstance(v, torch.Tensor):
            into = spare.get(k)
            fits = (isinstance(into, torch.Tensor) and into.shape == v.shape and into.dtype == v.dtype
                    and into.device == v.device and into.data_ptr() != v.data_ptr())
            v = into.copy_(v) if fits else v.clone()
        out[k] = v
    return out


def _slice(x, part: slice, shape, keep: bool):
    """An input of the update for one slice of the target: its entries there if it is shaped like the target (a
    detached view, so that slices do not share a graph; a copy where ``keep``), else itself (a copy where ``keep``)."""
    if not isinstance(x, torch.Tensor):
        return x
    x = x[part] if x.shape == shape else x
    return x.clone() if keep else x.detach()


def _leaves(hp: dict, learn, like: torch.Tensor) -> dict:
    """The learned hyperparameters' natural values as 0-d tensors that autograd differentiates: the entries of one
    new leaf tensor (on the device of ``like``, in float32 or wider, as the tower stores them)."""
    values = [hp[name] for name in learn]
    dtype = wide_dtype(like.dtype)
    if all(isinstance(x, float) for x in values):
        raw = torch.tensor(values, dtype=dtype, device=like.device)
    else:
        raw = torch.cat([torch.as_tensor(x, dtype=dtype, device=like.device).detach().reshape(1) for x in values])
    with torch.enable_grad():  # the tower steps under no_grad: the entries are views that autograd follows
        return dict(zip(learn, raw.requires_grad_().unbind()))


class AutoLevel(Level):
    """Base class of a level written only as its update: its hypergradient comes from autograd (:class:`Automatic`).

    Set ``kind`` (a lower-case name for spec text), ``HYPERS`` (each a :class:`~gdtuo_explore.core.hyperparams.Hyper`:
    name, default, allowed range, stored form, learnable or not), ``RUNNING`` (the state tensors carried from step
    to step) and write ``update(state, g, hp, learn, out=None)`` in torch operations: ``hp[name]`` holds each
    hyperparameter (a tensor for a learned one), ``g`` the gradient of the target; return ``(d, a)``, the update
    ``u = a * d`` (``P_new = P - u``). ``learn`` and ``out`` may be ignored. ``init_state(n, like, sizes, plain)``
    makes the state (default: empty); ``TAKES_TARGET = True`` passes the target as ``update(..., target=P,
    names=...)`` (see :mod:`.base`).
    :func:`gdtuo_explore.core.optimizers.register` makes the kind usable in spec text, the command line and the
    explorer's level menu. Constructor: hyperparameters by position (in ``HYPERS`` order) or by name, then
    ``optimizer=`` (the level above), ``learn=`` and the on/off ``OPTIONS`` by name.

    Example: sign-SGD, ``P_new = P - alpha * sign(g)``, its step size learned by SGD::

        >>> import torch
        >>> from gdtuo_explore import HyperOptimizer
        >>> from gdtuo_explore.core.hyperparams import Hyper
        >>> from gdtuo_explore.core.optimizers import AutoLevel, register
        >>> @register
        ... class SignSGD(AutoLevel):
        ...     kind = "sign_sgd"
        ...     HYPERS = (Hyper("alpha", 0.01, low=0.0),)
        ...
        ...     def update(self, state, g, hp, learn, out=None):
        ...         return torch.sign(g), hp["alpha"]
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = HyperOptimizer([w], "sign_sgd(0.1)/sgd(0.01)")
        >>> for _ in range(3):
        ...     opt.zero_grad()
        ...     (w ** 2).sum().backward()
        ...     opt.step()
        >>> round(opt.hyperparameters()[0]["alpha"], 4)  # dL/dalpha = -g_{t+1} . sign(g_t) = -2 |w|_1: it grows
        0.2058
    """

    kind = "auto"

    def __init__(self, *args, optimizer=None, learn=None, hypergrad=None, **kwargs):
        names = [h.name for h in self.HYPERS]
        if args and (args[-1] is None or isinstance(args[-1], (Level, NoOpOptimizer))) and len(args) > len(names):
            *args, optimizer = args
        if len(args) > len(names):
            raise ValueError(f"{self.kind} takes at most {len(names)} hyperparameters by position "
                             f"({', '.join(names)}), not {len(args)}")
        values = dict(zip(names, args))
        for name in self.OPTIONS:
            setattr(self, name, self.check_option(name, kwargs.pop(name, False), self.kind))
        for name, value in kwargs.items():
            if name not in names:
                raise ValueError(f"{self.kind} has no hyperparameter {name!r}; its hyperparameters are "
                                 f"{', '.join(names)}")
            if name in values:
                raise ValueError(f"{name!r} is given twice to {self.kind}")
            values[name] = value
        super().__init__(values, optimizer, learn, hypergrad)

    def has_closed_form(self) -> bool:
        return False
