"""The hypergradient step: a tower of optimizer levels training one flat vector of weights.

Step ``t`` of a tower of levels ``L1`` (the weights' optimizer) ... ``LH`` (fixed hyperparameters), given the
weights' gradient ``g``:

1. Bottom-up, the one-step hypergradient of every level's learned hyperparameters: ``c1 = L1.hypergrad(g)``,
   ``c2 = L2.hypergrad(c1)``, ... Each is a vector-Jacobian product of that level's previous update, so no autograd
   graph is kept and the model's backward need not build one (``create_graph`` is unnecessary).
2. Top-down, every level moves the hyperparameters below it with its own, just updated, values:
   ``h_{H-1} -= u_H(c_{H-1})``, ..., ``h1 -= u_2(c1)``, and finally the weights' update ``u_1(g)`` is returned
   (as a direction and a scale, ``u = a * d``, which the caller applies in one pass).

This is the paper's order (first the hyperparameter moves, then the weights move with the new value) and the
reference package's arithmetic. All learned hyperparameters live in one small tensor (``store``) on the weights'
device, in raw units (see :mod:`gdtuo_explore.hyperparams`), in float32 or wider: float32 for float16 and bfloat16
weights, whose levels also keep their running statistics in float32 (see :mod:`.optimizers.base`); fixed ones are
Python floats. On an accelerator
nothing here reads a value back to the host, so a step never synchronises with a GPU: the levels get their learned
hyperparameters as one-element tensors. On the CPU, where reading a value is free, they get Python floats (the
upper levels' arithmetic on a few numbers then costs nanoseconds, not PyTorch's microseconds per op) and the guard
branches on the values. :attr:`Tower.default_host` set to False makes new towers take the accelerator path on the
CPU too (the tests run both paths).

Guard rail: if a new hyperparameter or the weights' update is not finite, the step is refused on the device (the
weights and hyperparameters keep their last finite values) and the tower stays stopped; ``nonfinite()`` says when
and what. Its sums are taken in the store's dtype, so a float16 update whose sum passes 65504 is not refused.

Between two steps any hyperparameter of any level can be set in natural units (:meth:`Tower.set_hyperparameter`,
through the level's stored form). With ``record_hypergrads`` the tower also records every step's hypergradients
(history columns ``levelK.NAME.hypergrad``: ``c_K`` above, what level ``K+1`` moved level ``K``'s hyperparameters
with) and the details of the last step (:meth:`Tower.step_details`).

State: the bottom level's entries with one number per weight (moments, the last gradient or direction) are
:meth:`Tower.per_element_state`, what ``torch.optim`` keeps per parameter; the rest (the step count, the learned
hyperparameters, the small state of the levels above) is :meth:`Tower.state_dict`, plain values only. Both have the
same entries from the tower's start as after any step (the entries that the first step makes are there from the
start, zero), so a checkpoint of a fresh tower has the layout of any other: ``torch.distributed.checkpoint`` loads
into a fresh optimizer's state in place and needs that.

Sharded weights (FSDP2): where each process holds a shard of the target, ``reduce`` sums a tensor over the shards in
place (an all-reduce): the bottom level's hypergradient is a sum over every weight, and the guard's verdict must be
the same everywhere, so each is summed before use; the levels above work on the same numbers in every process.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .checkpoint import from_plain, to_plain
from .columns import column, hypergrad_column
from .history import History
from .hyperparams import Transform, check_alpha_bounds, check_hypergrad_clip
from .nonfinite import NonFinite
from .optimizers import Level
from .optimizers.auto import Automatic
from .optimizers.base import dot, sub_scaled_, wide_dtype
from .spec import parse_tower


@dataclass
class _Floor:
    """One level of a running tower: its configuration, its hyperparameters and its training state."""

    level: Level
    names: list[str]                    # all hyperparameter names of this level
    learn: tuple[str, ...]              # the ones that learn (empty for the top level)
    const: dict[str, float]             # the fixed ones, in natural units
    transforms: dict[str, Transform]
    start: int = 0                      # position of the learned ones in the store
    views: dict[str, torch.Tensor] = field(default_factory=dict)
    target: torch.Tensor | None = None  # the store slice the level above moves (this level's learned raws)
    state: dict = field(default_factory=dict)  # the level's training state only (see Level.init_state)
    hp: dict | None = None              # natural values used by the last update
    raw: dict | None = None             # and their raw values (floats on the CPU, store views elsewhere)
    target_names: list = field(default_factory=list)  # the names of what it moves (for Level.TAKES_TARGET)
    rule: object = None                 # what computes update and hypergrad: the level, or its automatic path


class Tower:
    """The running state of a tower over a flat target of ``sum(sizes)`` numbers.

    Args:
        tower: a spec string or the bottom :class:`Level` of a tower.
        sizes, names: the sizes and names of the weight tensors (names matter only for ``sgd_per_param``).
        like: a tensor giving the device and dtype of the weights.
        hypergrad_clip: if set, every hypergradient component is clipped to ``[-clip, clip]``.
        alpha_bounds: if set, ``(low, high)``: every learned ``alpha`` is kept within these bounds.
        history: record every step's hyperparameters on the device (see :meth:`history`).
        record_hypergrads: also record every step's hypergradients (history columns ``levelK.NAME.hypergrad``) and
            the details of the last step (:meth:`step_details`, which reads them back to the host when called).
        reduce: for a target sharded across processes, a function that sums a tensor over the shards in place
            (see the module docstring); None for a whole target.
    """

    #: the path of new towers (see the module docstring): None for the host path on the CPU and the tensor path
    #: elsewhere, False for the tensor path everywhere (tests set it to run the accelerator path on the CPU)
    default_host: bool | None = None

    def __init__(self, tower, sizes, names, like, *, hypergrad_clip=None, alpha_bounds=None, history=True,
                 record_hypergrads=False, reduce=None, _layout=None):
        self.config = parse_tower(tower)
        self.record_hypergrads = bool(record_hypergrads)
        self.sizes = list(sizes)
        self.names = list(names)
        self.n = sum(self.sizes)
        self.reduce = reduce
        levels = self.config.levels()
        self.floors: list[_Floor] = []
        target_names, raws = list(names), []
        for k, level in enumerate(levels):
            names_k = level.hyper_names(target_names)
            top = k == len(levels) - 1
            learn = () if top else tuple(n for n in names_k if level.hyper(n).name in level.learn)
            floor = _Floor(level, names_k, learn,
                           const={n: level.initial(n) for n in names_k if n not in learn},
                           transforms={n: level.hyper(n).transform for n in names_k}, start=len(raws),
                           target_names=list(target_names), rule=Automatic(level) if level.automatic else level)
            raws += [floor.transforms[n].to_raw(level.initial(n)) for n in learn]
            self.floors.append(floor)
            target_names = list(learn)
        # the highest level that has something to move: above a level that learns nothing, levels are inert
        self.top = next((k for k, f in enumerate(self.floors) if not f.learn), len(self.floors) - 1)
        # one row per step: the store (learned raw hyperparameters), the gradient's sum, and a refused flag; the
        # history records the whole row in one copy
        self._row = torch.tensor(raws + [0.0, 0.0], dtype=wide_dtype(like.dtype), device=like.device)
        self._bind_row()
        self.set_guard_rails(hypergrad_clip, alpha_bounds)
        self.t = 0
        self.lr = 1.0  # the multiplier of the last weights' update (see step)
        self.skipped: list[tuple[int, int]] = []  # the slices that the last weights' update left alone (see step)
        # the one switch between the two paths (see the module docstring): Python floats on the CPU, tensors that are
        # never read back elsewhere; the levels follow it (their hyperparameters' types, ``hypergrad(..., host)``),
        # and a test may set it (or default_host) False to run the accelerator path on the CPU
        self.host = self._host_path()
        self._np_dtype = {torch.float32: np.float32, torch.float64: np.float64}.get(self._row.dtype)
        self.ok = torch.ones((), dtype=torch.bool, device=like.device)
        self._details: tuple | None = None   # what step_details reads, kept by the last step (record_hypergrads)
        self._hypergrad_history: History | None = None
        self._const_changes: list[tuple[int, str, float]] = []   # (step, column, value before), see history()
        self._history = self._new_history() if history else None
        self._reset_state(sum(sizes), like, list(sizes))
        #: whether :meth:`step` needs ``target=``, the weights' values (the bottom level takes them)
        self.takes_target = levels[0].TAKES_TARGET
        self._target = None  # the buffer that step() flattens the weights into (a target given as a list)
        #: the bottom level's per-element state entries after a step, and their dtypes (see the module docstring)
        self.layout = self._probe_layout(like) if _layout is None else dict(_layout)
        bottom = self.floors[0]
        #: the entries of the layout that the first step makes: zero until then (dropped as it starts, so that it runs
        #: as on a tower without them, and their memory is free before the step needs its own)
        self.made_by_first_step = tuple(k for k in self.layout if k not in bottom.state)
        for key in self.made_by_first_step:
            bottom.state[key] = torch.zeros(self.n, dtype=self.layout[key], device=like.device)

    def _probe_layout(self, like) -> dict[str, torch.dtype]:
        """The bottom level's state entries with one number per element after two steps, and their dtypes, seen on
        a small tower of the same levels on the CPU (two elements per target: an entry per target, such as
        ``sgd_per_param``'s lengths, is not taken for one). A level whose state cannot be checkpointed, or whose
        update fails on the probe's made-up numbers, gets none here (its first real step says what is wrong)."""
        if not all(level.CHECKPOINTS for level in self.config.levels()):
            return {}
        sizes = [2] * len(self.sizes)
        n = sum(sizes)
        probe = Tower(self.config, sizes, self.names, torch.zeros((), dtype=like.dtype), history=False, _layout={})
        bottom = self.floors[0]
        if isinstance(bottom.rule, Automatic) and bottom.rule.defers(self.n, bottom.learn):
            probe.floors[0].rule.chunk = 0  # the path this tower's target takes (see optimizers.auto)
        g = torch.linspace(-1.0, 1.0, n, dtype=like.dtype)
        buffers = [torch.empty_like(g), torch.empty_like(g)]
        target = torch.linspace(0.5, -0.5, n, dtype=like.dtype) if probe.takes_target else None
        try:
            for t in range(2):
                buffers[t].copy_(g * (t + 1))
                probe.step(buffers[t], buffers[1 - t], target=target)
        except (ArithmeticError, ValueError, RuntimeError, TypeError, KeyError):
            return {}
        skip = set(probe.floors[0].level.UNSAVED)
        return {k: v.dtype for k, v in probe.floors[0].state.items()
                if k not in skip and isinstance(v, torch.Tensor) and v.dim() == 1 and v.numel() == n}

    def _host_path(self) -> bool:
        """Whether this tower takes the host path (see :attr:`default_host`)."""
        return self._row.device.type == "cpu" and self.default_host is not False

    def _new_history(self) -> History:
        """An empty history of rows like ``_row``, starting at the current step (and, with ``record_hypergrads``, an
        empty one of the hypergradients)."""
        self._refused_row = None
        self._const_changes = []
        width = self.floors[self.top].start   # the learned hyperparameters that a level above moves
        if self.record_hypergrads and width:
            self._hypergrad_history = History(width, self._row.dtype, self._row.device, start=self.t)
        return History(self._row.numel(), self._row.dtype, self._row.device, start=self.t)

    def _bind_row(self):
        n = self._row.numel() - 2
        self.store, self._store_and_gradient = self._row[:n], self._row[: n + 1]
        self._gradient_sum, self._refused = self._row[n], self._row[n + 1]

    def _reset_state(self, n, like, sizes):
        for k, f in enumerate(self.floors):
            size_k = n if k == 0 else len(self.floors[k - 1].learn)
            f.state = f.level.init_state(size_k, like, sizes if k == 0 else [1] * size_k, plain=k == 0 and not f.learn)
            f.hp = None
        self._rebind()

    def set_guard_rails(self, hypergrad_clip=None, alpha_bounds=None) -> None:
        """Set (or turn off, with None) the hypergradient clip and the step-size bounds (see the class)."""
        hypergrad_clip, alpha_bounds = check_hypergrad_clip(hypergrad_clip), check_alpha_bounds(alpha_bounds)
        self.hypergrad_clip, self.alpha_bounds = hypergrad_clip, alpha_bounds
        self._bounds = self._make_bounds() if self.alpha_bounds is not None else None

    def _make_bounds(self):
        lo, hi = self.alpha_bounds
        low = torch.full_like(self.store, -float("inf"))
        high = torch.full_like(self.store, float("inf"))
        for f in self.floors:
            for i, name in enumerate(f.learn):
                if f.level.hyper(name).name == "alpha":
                    tr = f.transforms[name]
                    low[f.start + i] = tr.to_raw(max(lo, 0.0)) if tr.name == "square" else lo
                    high[f.start + i] = tr.to_raw(hi) if tr.name == "square" else hi
        return low, high

    # -- the step ------------------------------------------------------------------------------------------
    def _natural(self, f: _Floor) -> dict:
        """The natural values of floor f's hyperparameters in the level's order, as its next update uses them (and
        ``f.raw``: the learned ones' raws)."""
        if self.host:  # Python floats: reading a CPU tensor is free, and float arithmetic is ~30x cheaper
            f.raw = dict(zip(f.learn, f.target.tolist()))
            learned = {name: f.transforms[name].natural_float(raw) for name, raw in f.raw.items()}
        else:  # one-element tensors: reading them would synchronise with the accelerator
            f.raw = f.views
            learned = {name: f.transforms[name].natural(raw) for name, raw in f.views.items()}
        if not f.const:  # every one learns: learned is in the level's order (as f.learn)
            return learned
        if not learned:
            return dict(f.const)
        return {name: learned[name] if name in learned else f.const[name] for name in f.names}

    def _hypergrad(self, f: _Floor, v: torch.Tensor, lr: float = 1.0) -> tuple[torch.Tensor, bool]:
        """dL/d(raw learned hyperparameters of floor f), a vector in the store's order, and whether it was computed
        on the host and came out finite (which proves ``v`` finite: see ``Level.hypergrad``). ``lr``: the multiplier
        that the previous update of floor f's target had (the bottom level's, see :meth:`step`)."""
        if f.hp is None:  # first step: nothing has moved the hyperparameters yet
            return torch.zeros_like(f.target), False
        dh = f.rule.hypergrad(f.state, v, f.hp, f.learn, self.host)
        parts = []
        for name in f.learn:
            d_raw = f.transforms[name].grad(f.raw[name], f.hp[name])
            parts.append(dh[name] if d_raw is None else dh[name] * d_raw)
        finite = self.host and all(map(math.isfinite, parts))  # before the lr below, which may be 0
        if lr != 1.0:  # the update applied was lr * u(h): dL/dh = lr * (-v . du/dh)
            parts = [p * lr for p in parts]
        if self.host:  # Python floats (see optimizers.base.scalar); from numpy is 2x faster than torch.tensor
            c = torch.tensor(parts, dtype=f.target.dtype) if self._np_dtype is None else \
                torch.from_numpy(np.array(parts, dtype=self._np_dtype))
        else:  # 0-d or one-element tensors on an accelerator (floats where a test runs this path on the CPU)
            c = torch.cat([torch.as_tensor(p, dtype=f.target.dtype, device=f.target.device).reshape(1)
                           for p in parts])
        if self.hypergrad_clip is not None:
            c = c.clamp(-self.hypergrad_clip, self.hypergrad_clip)
        return c, finite

    def step(self, g: torch.Tensor, out: torch.Tensor | None = None, lr: float = 1.0, skip=(), target=None):
        """One step from the flat gradient ``g``; returns the weights' update as ``(d, a)``: apply ``w -= a * d``
        (``a`` a float, a one-element tensor or a tensor like ``d``; see :func:`optimizers.base.sub_scaled_`).
        ``out``: a spare buffer like ``g`` whose contents may be overwritten (``d`` may be returned in it).
        ``lr``: a multiplier on the weights' update (a learning-rate schedule's value): the update is ``lr`` times
        the bottom level's, and the next hypergradient is that of the update as applied.
        ``skip``: ``(start, stop)`` slices of the target that this step leaves alone (parameters without a gradient,
        as ``torch.optim`` skips them): ``g`` must hold zeros there, the caller does not apply the update there, and
        the bottom level's running state (:attr:`Level.RUNNING`) there is kept as it was.
        ``target``: the weights' current values, for a bottom level that takes them (:attr:`Level.TAKES_TARGET`;
        :attr:`takes_target`): flat like ``g``, or the list of weight tensors, which the tower flattens into a buffer
        of its own once the last step's inputs are no longer needed (one copy of the weights, not two)."""
        floors, store = self.floors, self.store
        if store.device != g.device:
            self.to(g.device)
            floors, store = self.floors, self.store
        if self.t == 0:
            for key in self.made_by_first_step:
                floors[0].state.pop(key, None)
        old = store.tolist() if self.host else store.clone()
        writing = None  # the store slice that the computation under way will change
        g_finite = False  # proved by a finite hypergradient of the bottom level
        if self.skipped:  # the last update left these entries alone: they take no part in its hypergradient
            v = g.clone()
            for start, stop in self.skipped:
                v[start:stop] = 0.0
        else:
            v = g
        bottom = floors[0]
        defers = isinstance(bottom.rule, Automatic) and bottom.rule.defers(self.n, bottom.learn)
        if isinstance(bottom.rule, Automatic):
            bottom.rule.skipped = self.skipped  # what the update it may run again left alone
        kept = [] if defers else [  # (a deferred update leaves the state as it was)
            (key, start, stop, bottom.state[key][start:stop].clone()) for key in bottom.level.RUNNING
            if isinstance(bottom.state.get(key), torch.Tensor) for start, stop in skip]
        grads = []
        details = [] if self.record_hypergrads else None
        try:
            for k in range(self.top):  # 1. bottom-up hypergradients
                writing = floors[k].target
                if details is not None:
                    details.append(self._product(floors[k], v))
                v, finite = self._hypergrad(floors[k], v, self.lr if k == 0 else 1.0)
                if k == 0:
                    if self.reduce is not None:  # a sum over every weight: over the shards too
                        self.reduce(v)
                        finite = self.host and all(map(math.isfinite, v.tolist()))
                    g_finite = finite
                grads.append(v)
            for k in range(self.top, 0, -1):  # 2. top-down: each level moves the one below
                f, below = floors[k], floors[k - 1]
                writing = below.target
                f.hp = self._natural(f)
                if f.level.TAKES_TARGET:  # a copy: the update's graph may hold it while the store moves
                    u = f.rule.update(f.state, grads[k - 1], f.hp, f.learn, target=below.target.clone(),
                                       names=f.target_names)
                else:
                    u = f.rule.update(f.state, grads[k - 1], f.hp, f.learn)
                sub_scaled_(below.target, *u)
                if self._bounds is not None:
                    torch.clamp(below.target, self._bounds[0][below.start: below.start + len(below.learn)],
                                self._bounds[1][below.start: below.start + len(below.learn)], out=below.target)
            writing = None
            f = floors[0]
            f.hp = self._natural(f)
            if target is not None and not isinstance(target, torch.Tensor):
                target = self._flatten(target)
            if f.level.TAKES_TARGET:
                d, a = f.rule.update(f.state, g, f.hp, f.learn, out, target=target, names=f.target_names)
            else:
                d, a = f.rule.update(f.state, g, f.hp, f.learn, out)
            if lr != 1.0:
                a = a * lr
            for key in {key for key, *_ in kept}:  # a new tensor: the last update's graph may hold the old one
                bottom.state[key] = bottom.state[key].clone()     # (the automatic path keeps it until the next step)
            for key, start, stop, values in kept:
                bottom.state[key][start:stop] = values
        except ArithmeticError:  # Python floats (on the CPU) raise where tensors give inf or nan (a division by
            # zero): write nan where the tensors would have, so the guard refuses the step and names the culprit
            if writing is not None:
                writing.fill_(math.nan)
            d, a = torch.full_like(g, math.nan), 1.0
        d, a = self._guard(g, d, a, old, d_finite=d is g and g_finite)
        if details is not None:
            self._record_hypergrads(grads, old, details)
        self.t += 1
        self.lr, self.skipped = lr, list(skip)
        return d, a

    def _flatten(self, tensors) -> torch.Tensor:
        """The weight tensors ``tensors`` in one flat buffer, the same one at every step."""
        first, buf = tensors[0], self._target
        if buf is None or buf.dtype != first.dtype or buf.device != first.device:
            buf = self._target = torch.empty(self.n, dtype=first.dtype, device=first.device)
        return torch.cat([x.reshape(-1) for x in tensors], out=buf)

    def _agree(self, bad):
        """``bad`` (a bool, or a bool tensor on the device) true in any shard (see ``reduce``)."""
        if self.reduce is None:
            return bad
        flag = torch.as_tensor(bad, dtype=self.store.dtype, device=self.store.device).reshape(1).clone()
        self.reduce(flag)
        return bool(flag.item() > 0) if isinstance(bad, bool) else flag[0] > 0

    def _guard(self, g, d, a, old, d_finite=False):
        """3. Refuse the step if anything new is not finite (a sum is finite only if every term is): the
        hyperparameters go back to ``old`` and the update becomes zero. Returns the update ``(d, a)``.
        ``d_finite``: ``d`` is already known to be finite (it is the gradient, and the gradient is proved finite)."""
        store = self.store
        a_float = isinstance(a, float)
        if self.host:  # on the CPU, branch on the values (a non-finite g makes d non-finite)
            wide = store.dtype  # sums in float32 or wider: a float16 sum overflows beyond 65504
            bad = self._agree(not ((d_finite or math.isfinite(d.sum(dtype=wide).item()))
                                   and math.isfinite(a if a_float else a.sum(dtype=wide).item())
                                   and all(map(math.isfinite, store.tolist())) and bool(self.ok)))
            if bad:
                torch.sum(g, 0, dtype=wide, out=self._gradient_sum)
                self._refused.fill_(1.0)
                self.ok = torch.zeros((), dtype=torch.bool)
            if self._history is not None:
                self._history.record(self._row)
            if bad:
                store.copy_(torch.tensor(old, dtype=store.dtype))
                return torch.zeros_like(d), 0.0
            return d, a
        # on an accelerator, reading a flag would be a host sync: refuse the step on the device
        if a_float and not math.isfinite(a):  # a float is free to check
            d, a = torch.full_like(d, math.nan), 1.0
        torch.sum(g, 0, dtype=store.dtype, out=self._gradient_sum)
        total = self._store_and_gradient.sum() + d.sum(dtype=store.dtype)
        if not a_float:
            total = total + a.sum(dtype=store.dtype)
        bad = self._agree(torch.ne(total - total, 0.0) | ~self.ok)
        if self._history is not None:
            self._refused.copy_(bad)
            self._history.record(self._row)
        d = d.masked_fill(bad, 0.0)  # not in place: d may be the caller's gradient
        if not a_float:
            a = a.masked_fill(bad, 0.0)  # not in place: a may be a view of the store
        torch.where(bad, old, store, out=store)
        self.ok = ~bad
        return d, a

    # -- recording hypergradients (record_hypergrads) ------------------------------------------------------------
    def _product(self, f: _Floor, v: torch.Tensor) -> dict | None:
        """For a level that keeps the direction of its previous update (``state["d"]``, like ``v``): the two vectors
        whose dot product makes its step size's hypergradient (``dL/dalpha = -lr * v . d``), summarised."""
        d = f.state.get("d")
        if f.hp is None or not isinstance(d, torch.Tensor) or d.shape != v.shape:
            return None
        short = v.numel() <= HEAD   # both kept whole: the dot product is taken when the details are read
        return {"gradient": _summary(v), "direction": _summary(d), "dot": None if short else dot(v, d)}

    def _record_hypergrads(self, grads: list, old, products: list) -> None:
        """Record this step's hypergradients (one history row) and keep what :meth:`step_details` reads (as tensors:
        nothing is read back to the host here). ``old``: the store before the step."""
        width = self.floors[self.top].start
        if len(grads) == self.top:
            row = torch.cat([c.reshape(-1).to(self.store.dtype) for c in grads]) if width else self.store[:0]
        else:  # the step failed before every hypergradient was computed (the guard refused it)
            row = torch.full((width,), math.nan, dtype=self.store.dtype, device=self.store.device)
        if self._hypergrad_history is not None:
            self._hypergrad_history.record(row)
        self._details = (row, old, self.store.clone(), products, self.t + 1)   # old: a list on the host path

    def _read_details(self) -> list[dict]:
        """:meth:`step_details` from what :meth:`_record_hypergrads` kept."""
        row, old, new, products, step = self._details
        old = torch.tensor(old, dtype=torch.float64) if isinstance(old, list) else old
        before = self._naturals(old.detach().cpu().double().numpy())[0]
        after = self._naturals(new.detach().cpu().double().numpy())[0]
        hypergrads = row.detach().cpu().double().tolist()
        products = [None if p is None else {
            "gradient": _plain(p["gradient"]), "direction": _plain(p["direction"]),
            "dot": float(p["dot"] if p["dot"] is not None else dot(p["gradient"]["whole"], p["direction"]["whole"]))}
            for p in products]
        details, i = [], 0
        for k, f in enumerate(self.floors[: self.top]):
            values = {}
            for j, name in enumerate(f.learn):
                col = i + f.names.index(name)
                values[name] = {"before": float(before[col]), "hypergrad": hypergrads[f.start + j],
                                "after": float(after[col])}
            details.append({"step": step, "level": k + 1, "kind": f.level.kind,
                            "moved_by": self.floors[k + 1].level.kind, "values": values,
                            "product": products[k] if k < len(products) else None})
            i += len(f.names)
        return details

    def step_details(self) -> list[dict]:
        """What the last step did to every level whose hyperparameters learn, bottom level first (needs
        ``record_hypergrads``; an empty list before the first step). Each level is a dict of plain numbers::

            {"step": 12, "level": 1, "kind": "sgd", "moved_by": "sgd",
             "values": {"alpha": {"before": 0.01, "hypergrad": -3.2, "after": 0.0132}},
             "product": {"gradient": {"norm": 1.9, "head": [...]}, "direction": {"norm": 2.1, "head": [...]},
                         "dot": 3.2}}

        ``step``: the step's number (from 1, as in :meth:`history`); ``before``: the natural value at the start of the
        step; ``hypergrad``: the hypergradient the level above moved it with, in the stored form's units (the
        natural ones for every identity-stored hyperparameter such as SGD's and Adam's alpha;
        ``d loss / d atanh(2 beta - 1)`` for a beta); ``after``: the value the step used.
        Under an SGD level above, ``after == before - kappa * hypergrad`` for identity-stored ones. ``product``, for a
        level that keeps its last update's direction (SGD, Adam, ...; None on the first step): ``gradient``, the
        gradient of the loss at the new point with respect to what the level moves (the weights for level 1, the
        learned hyperparameters of the level below higher up), ``direction``, its previous update's direction (for
        SGD without momentum, the previous gradient), each as its norm and first entries (``head``), and ``dot``,
        their dot product: ``dL/dalpha = -lr * dot`` (``lr``: the group's multiplier, 1 by default).
        """
        if not self.record_hypergrads:
            raise ValueError("this tower does not record hypergradients: make it with record_hypergrads=True")
        return [] if self._details is None else self._read_details()

    # -- reading ---------------------------------------------------------------------------------------------
    def columns(self) -> list[str]:
        """History/metrics column names: ``level1.alpha``, ``level1.beta1``, ..., bottom level first."""
        return [column(k + 1, name) for k, f in enumerate(self.floors) for name in f.names]

    def _naturals(self, raw: np.ndarray) -> np.ndarray:
        """Natural values of every hyperparameter (columns as in ``columns()``) from rows of raw store values."""
        raw = np.atleast_2d(raw)
        out = []
        for f in self.floors:
            for name in f.names:
                if name in f.views:
                    out.append(f.transforms[name].natural_np(raw[:, f.start + f.learn.index(name)]))
                else:
                    out.append(np.full(raw.shape[0], f.const[name]))
        return np.stack(out, axis=1) if out else np.zeros((raw.shape[0], 0))

    def values(self) -> list[dict[str, float]]:
        """Every level's current hyperparameters in natural units (alpha, beta1, ...), bottom level first."""
        row = self._naturals(self.store.detach().cpu().double().numpy())[0]
        out, i = [], 0
        for f in self.floors:
            out.append({name: float(row[i + j]) for j, name in enumerate(f.names)})
            i += len(f.names)
        return out

    @property
    def records_history(self) -> bool:
        """Whether this tower records every step's hyperparameters (see :meth:`history`)."""
        return self._history is not None

    def history(self, since: int = 0) -> dict[str, np.ndarray]:
        """Recorded steps after step ``since``: ``{"step", "level1.alpha", ..., "ok", "gradient_ok"}`` (host arrays),
        and with ``record_hypergrads`` the hypergradients, ``level1.alpha.hypergrad``, ... (each learned
        hyperparameter's, as :meth:`step_details` describes them; 0 on the first step, which has no previous update
        to differentiate).

        Steps are numbered from 1 (the values after that many updates). Fetched from the device in one batch; the
        cost is that of the rows returned. If a step was refused (``ok`` False) the history ends with it, holding
        the values that step tried to write. A fixed hyperparameter set by :meth:`set_hyperparameter` shows its
        old value up to the step before it was set.
        """
        if self._history is None:
            raise ValueError("this tower was made with history=False")
        first = max(0, since - self._history.start)
        rows = self._history.fetch(first)  # columns: the store, the gradient's sum, refused
        if self._refused_row is None:
            refused = np.flatnonzero(rows[:, -1] > 0.5)
            if len(refused):
                self._refused_row = first + int(refused[0])
        if self._refused_row is not None:  # every step after the first refused one was refused too
            rows = rows[: max(0, self._refused_row + 1 - first)]
        start = self._history.start + first + 1
        cols = {"step": np.arange(start, start + len(rows))}
        cols.update(zip(self.columns(), self._naturals(rows[:, :-2]).T))
        for step, name, value in reversed(self._const_changes):   # latest first: earlier ones overwrite
            cols[name][cols["step"] <= step] = value
        cols["ok"] = rows[:, -1] < 0.5
        cols["gradient_ok"] = np.isfinite(rows[:, -2])
        if self._hypergrad_history is not None:
            cols.update(zip(self.hypergrad_columns(), self._hypergrad_history.fetch(first)[: len(rows)].T))
        return cols

    def hypergrad_columns(self) -> list[str]:
        """The history's hypergradient columns (with ``record_hypergrads``): ``level1.alpha.hypergrad``, ... for
        every learned hyperparameter that a level above moves, bottom level first."""
        if self._hypergrad_history is None:
            return []
        return [hypergrad_column(k + 1, name) for k, f in enumerate(self.floors[: self.top]) for name in f.learn]

    # -- setting a hyperparameter ----------------------------------------------------------------------------
    def set_hyperparameter(self, level: int, name: str, value) -> float:
        """Set hyperparameter ``name`` of level ``level`` (1: the bottom level) to ``value``, in natural units,
        between two steps; returns its value before. A learned one is written into the store in its stored form
        (``atanh(2 beta - 1)`` for a beta, the square root for RMSProp's alpha), so the level above goes on moving
        it from there; a fixed one (every hyperparameter of the top level) keeps the new value.

        ValueError naming it, and nothing changed, for an unknown level or name, or a value outside the
        hyperparameter's range (:class:`~.hyperparams.Hyper`), outside ``alpha_bounds`` for a learned step size,
        or one that its stored form cannot hold (a beta so close to 1 that its ``atanh`` overflows).
        """
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= len(self.floors):
            raise ValueError(f"level={level!r} is out of range: this tower has levels 1 to {len(self.floors)} "
                             f"(1: the bottom, {self.config.tower_name()})")
        f = self.floors[level - 1]
        if name not in f.names:
            raise ValueError(f"level {level} ({f.level.kind}) has no hyperparameter {name!r}; its hyperparameters: "
                             f"{', '.join(f.names)}")
        hyper = f.level.hyper(name)
        value = hyper.check(value, f"level {level} ({f.level.kind})")
        col = column(level, name)
        if name not in f.learn:
            old = f.const[name]
            f.const[name] = value
            if self._history is not None:
                self._const_changes.append((self.t, col, old))
            return old
        i = f.start + f.learn.index(name)
        if hyper.name == "alpha" and self.alpha_bounds is not None and not (
                self.alpha_bounds[0] <= value <= self.alpha_bounds[1]):
            raise ValueError(f"{col}={value!r} is outside this tower's alpha_bounds {self.alpha_bounds}")
        raw = f.transforms[name].to_raw(value)
        if not math.isfinite(raw) or not math.isfinite(f.transforms[name].natural_float(raw)):
            raise ValueError(f"{col}={value!r} cannot be stored: its stored form ({f.transforms[name].name}) is "
                             f"{raw!r}; choose a value further from the range's ends ({hyper.allowed()})")
        old = f.transforms[name].natural_float(float(self.store[i]))
        self.store[i] = raw
        return old

    def nonfinite(self) -> NonFinite | None:
        """None while every step was finite; else a :class:`NonFinite`: the first refused step, and whether a
        hyperparameter (named), the weights' update or the loss/gradient went non-finite (syncs)."""
        if bool(self.ok):
            return None
        if self._history is None:
            return NonFinite(None, "unknown")
        if self._refused_row is None:
            self.history()  # finds the refused row
        h = {k: v[0] for k, v in self.history(since=self._history.start + self._refused_row).items()}
        step = int(h["step"])
        if not h["gradient_ok"]:
            return NonFinite(step, "gradient")
        bad = tuple(c for c in self.columns() if not np.isfinite(h[c]))
        return NonFinite(step, "hyperparameter", bad) if bad else NonFinite(step, "update")

    # -- device and checkpoints ------------------------------------------------------------------------------
    def to(self, device) -> "Tower":
        self._row = self._row.to(device)
        self.host = self._host_path()
        self._bind_row()
        self.ok = self.ok.to(device)
        for f in self.floors:
            f.state = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in f.state.items()}
        self._rebind()
        if self._bounds is not None:
            self._bounds = tuple(b.to(device) for b in self._bounds)
        for history in (self._history, self._hypergrad_history):
            if history is not None:
                history.fetch()
                history.device = self.store.device
        return self

    def _rebind(self):
        for k, f in enumerate(self.floors):
            f.views = {name: self.store[f.start + i: f.start + i + 1] for i, name in enumerate(f.learn)}
            f.target = self.store[f.start: f.start + len(f.learn)]
            if f.hp is not None:
                f.hp = self._natural(f)

    def per_element_state(self) -> dict[str, torch.Tensor]:
        """The bottom level's state entries with one number per element of the target (moments, the last gradient
        or direction): flat, the tensors themselves. What ``torch.optim`` keeps per parameter; the same entries from
        the tower's start as after any step (see the module docstring)."""
        f, n = self.floors[0], self.n
        return {k: v for k, v in f.state.items() if k not in f.level.UNSAVED and isinstance(v, torch.Tensor)
                and v.dim() == 1 and v.numel() == n}

    def state_dict(self) -> dict:
        """Everything but :meth:`per_element_state`, as plain values (see :mod:`.checkpoint`): ``spec`` (the tower's
        name), its step count ``t``, the ``lr`` of the last update, ``skipped`` (the indices of the targets that
        the last update left alone), ``ok`` (False once a step was refused), ``store`` (the learned hyperparameters
        in raw units, see :meth:`columns`), ``const`` (each level's fixed hyperparameters, as
        :meth:`set_hyperparameter` leaves them) and ``levels`` (each level's other state, bottom first)."""
        self._check_plain()
        per_element = set(self.per_element_state())
        levels = []
        for k, f in enumerate(self.floors):
            skip = set(f.level.UNSAVED) | (per_element if k == 0 else set())
            levels.append(to_plain({key: v for key, v in f.state.items() if key not in skip},
                                   f"level {k + 1} ({f.level.kind})"))
        return {"spec": self.config.tower_name(), "t": self.t, "lr": self.lr, "skipped": self._skipped_targets(),
                "ok": bool(self.ok), "store": self.store.tolist(), "levels": levels,
                "const": [dict(f.const) for f in self.floors]}

    def _check_plain(self) -> None:
        for f in self.floors:
            if not f.level.CHECKPOINTS:
                raise ValueError(f"{f.level.kind} keeps its step's autograd graph and a copy of itself in its state: "
                                 "a tower with such a level cannot be checkpointed, copied or pickled")

    def _offsets(self) -> list[int]:
        out = [0]
        for size in self.sizes:
            out.append(out[-1] + size)
        return out

    def _skipped_targets(self) -> list[int]:
        where = {(a, b): i for i, (a, b) in enumerate(zip(self._offsets(), self._offsets()[1:]))}
        missing = [s for s in self.skipped if tuple(s) not in where]
        if missing:
            raise ValueError(f"the last update left {missing} alone, which are not whole targets: only whole targets "
                             "(parameters without a gradient) can be checkpointed")
        return [where[tuple(s)] for s in self.skipped]

    def check_state_dict(self, sd, per_element: dict, copy: bool = True) -> "_Checked":
        """Check a checkpoint (:meth:`state_dict`, :meth:`per_element_state`) against this tower without changing
        anything; returns what :meth:`load_checked` loads, every tensor cast to the dtype and device this tower
        keeps it in (floating state: the weights' dtype, float32 for half-precision weights). ValueError names what
        differs. ``copy=False``: the per-element tensors are new, and kept where they need no cast."""
        spec = self.config.tower_name()
        if not isinstance(sd, dict):
            raise ValueError(f"a tower's checkpoint is a dict, not {type(sd).__name__}")
        missing = [k for k in ("spec", "t", "lr", "skipped", "ok", "store", "levels", "const") if k not in sd]
        if missing:
            raise ValueError(f"this tower checkpoint lacks {', '.join(missing)}")
        if sd["spec"] != spec:
            raise ValueError(f"this checkpoint is of the tower {sd['spec']!r}, not {spec!r}")
        t, store, levels, skipped = sd["t"], sd["store"], sd["levels"], sd["skipped"]
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise ValueError(f"the checkpoint's step count t={t!r} is invalid: it must be an int >= 0")
        if not isinstance(store, list) or len(store) != self.store.numel():
            raise ValueError(f"the checkpoint holds {len(store) if isinstance(store, list) else store!r} learned "
                             f"hyperparameters, this tower {self.store.numel()}")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in store):
            raise ValueError(f"the checkpoint's learned hyperparameters {store!r} are not all numbers")
        if isinstance(sd["lr"], bool) or not isinstance(sd["lr"], (int, float)) or not isinstance(sd["ok"], bool):
            raise ValueError(f"the checkpoint's lr={sd['lr']!r} and ok={sd['ok']!r} must be a number and a bool")
        if not isinstance(levels, list) or len(levels) != len(self.floors):
            raise ValueError(f"the checkpoint has {len(levels) if isinstance(levels, list) else levels!r} levels, "
                             f"this tower {len(self.floors)}")
        if not isinstance(skipped, list) or not all(isinstance(i, int) and 0 <= i < len(self.sizes) for i in skipped):
            raise ValueError(f"the checkpoint's skipped={skipped!r} is invalid: indices of this tower's "
                             f"{len(self.sizes)} targets")
        device = self.store.device
        decoded = []
        for k, (f, saved) in enumerate(zip(self.floors, levels)):
            if not isinstance(saved, dict):
                raise ValueError(f"level {k + 1} of the checkpoint is {type(saved).__name__}, not a dict")
            decoded.append({key: self._cast(f, key, from_plain(v, device)) for key, v in saved.items()})
        bottom = {}
        for key, v in per_element.items():
            if not isinstance(v, torch.Tensor) or v.numel() != self.n:
                got = f"{v.numel()} numbers" if isinstance(v, torch.Tensor) else type(v).__name__
                raise ValueError(f"the checkpoint's per-element state {key!r} holds {got}, this tower {self.n}")
            bottom[key] = self._cast(self.floors[0], key, v.reshape(-1), copy)
        const = sd["const"]
        if not isinstance(const, list) or len(const) != len(self.floors) or any(
                not isinstance(c, dict) or set(c) != set(f.const)
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in c.values())
                for c, f in zip(const, self.floors)):
            raise ValueError(f"the checkpoint's fixed hyperparameters const={const!r} are not this tower's: "
                             f"{[sorted(f.const) for f in self.floors]}, numbers, level by level")
        offsets = self._offsets()
        return _Checked(t=t, lr=float(sd["lr"]), ok=sd["ok"], store=torch.tensor(store, dtype=self.store.dtype),
                        levels=decoded, per_element=bottom, skipped=[(offsets[i], offsets[i + 1]) for i in skipped],
                        const=[{name: float(x) for name, x in c.items()} for c in const])

    def _cast(self, f: _Floor, key, v, copy: bool = True):
        """``v`` in the dtype and on the device this tower keeps entry ``key`` of floor ``f`` in: a floating tensor
        in the dtype of the entry it replaces, else in the store's (the weights' dtype, float32 or wider)."""
        if not isinstance(v, torch.Tensor):
            return v
        dtype = v.dtype
        if v.is_floating_point():
            like = f.state.get(key)
            if key in self.layout and f is self.floors[0]:
                dtype = self.layout[key]
            elif isinstance(like, torch.Tensor) and like.is_floating_point():
                dtype = like.dtype
            else:
                dtype = self.store.dtype
        return v.to(self.store.device, dtype, copy=copy)

    def load_checked(self, loaded: "_Checked") -> None:
        """Resume from what :meth:`check_state_dict` returned (nothing can fail here)."""
        self.t, self.lr, self.skipped = loaded.t, loaded.lr, list(loaded.skipped)
        self.store.copy_(loaded.store)
        self.ok = torch.tensor(loaded.ok, device=self.store.device)
        for f, const in zip(self.floors, loaded.const):  # fixed values as set_hyperparameter left them
            f.const.update(const)
        for k, (f, saved) in enumerate(zip(self.floors, loaded.levels)):
            kept = {key: v for key, v in f.state.items() if key in f.level.UNSAVED}
            f.state = {**kept, **saved, **(loaded.per_element if k == 0 else {})}
            if isinstance(f.rule, Automatic):
                f.rule.forget_graph()  # the graph of the update before the checkpoint: not this state's
        self._rebind()
        for k, f in enumerate(self.floors):
            f.hp = self._natural(f) if (self.t > 0 and k <= self.top) else None
        if self._history is not None:
            self._history = self._new_history()

    def load_state_dict(self, sd: dict, per_element: dict) -> None:
        """Resume from :meth:`state_dict` and :meth:`per_element_state`; a checkpoint of another tower is refused,
        naming what differs, and nothing is changed then."""
        self.load_checked(self.check_state_dict(sd, per_element))

    # -- copies and pickles: views are made again, the automatic path's graph is not kept -------------------------
    def __getstate__(self) -> dict:
        self._check_plain()
        state = self.__dict__.copy()
        for key in ("store", "_store_and_gradient", "_gradient_sum", "_refused"):  # views of _row
            state.pop(key, None)
        state["reduce"] = None  # a process group is no part of a copy: its owner sets it again
        state["floors"] = [replace(f, views={}, target=None, raw=None, hp=None if f.hp is None else {})
                           for f in self.floors]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind_row()
        self._rebind()  # the views of the store, and the hyperparameters of the last update (hp)


@dataclass
class _Checked:
    """A checkpoint checked against a tower (:meth:`Tower.check_state_dict`), ready to load."""

    t: int
    lr: float
    ok: bool
    store: torch.Tensor
    levels: list
    per_element: dict
    skipped: list
    const: list

#: entries of a vector that :meth:`Tower.step_details` shows
HEAD = 5


def _summary(x: torch.Tensor) -> dict:
    """A vector's Euclidean norm and its first :data:`HEAD` entries, as tensors (not read back to the host); a vector
    of at most :data:`HEAD` entries is kept whole (one copy per step; its norm is taken when it is read)."""
    if x.numel() <= HEAD:
        return {"whole": x.detach().clone()}
    return {"norm": torch.linalg.vector_norm(x, dtype=wide_dtype(x.dtype)), "head": x[:HEAD].detach().clone()}


def _plain(summary: dict) -> dict:
    """A :func:`_summary` as plain numbers."""
    if "whole" in summary:
        whole = summary["whole"]
        return {"norm": float(torch.linalg.vector_norm(whole, dtype=wide_dtype(whole.dtype))),
                "head": whole.cpu().double().tolist()}
    return {"norm": float(summary["norm"]), "head": summary["head"].cpu().double().tolist()}
