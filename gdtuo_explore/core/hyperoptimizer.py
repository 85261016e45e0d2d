"""``HyperOptimizer``: a hyperoptimizer tower behind the ``torch.optim`` interface.

    opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    for x, y in data:
        opt.zero_grad()
        loss_fn(model(x), y).backward()       # a plain backward: no create_graph needed
        opt.step()

Each parameter group gets its own tower (its own learned hyperparameters); a group may name its own ``tower``.
Parameters stay ordinary leaf ``nn.Parameter``s, updated in place.

Every group has an ``lr``, 1.0 by default: a multiplier on the weights' update, which ``torch.optim.lr_scheduler``
schedules set (``LambdaLR(opt, warmup)``, ``CosineAnnealingLR``, ...). The weights move by ``lr`` times the bottom
level's update (learned step size included), and the hypergradients are those of the update as applied.

It behaves as a ``torch.optim`` optimizer does with the tools around it:

* ``opt.state[p]`` holds parameter ``p``'s share of its tower's bottom-level state (Adam's ``m`` and ``v``, the last
  gradient or direction that the next hypergradient needs), tensors shaped like ``p`` that are views of the tower's
  flat buffers: reading them, or changing them in place, reads or changes the optimizer itself;
* ``state_dict()`` has torch.optim's shape: ``"state"`` holds those per-parameter tensors, ``"param_groups"`` every
  group option plus ``"tower"`` (spec text), ``"sizes"`` and ``"tower_state"``: the rest of the tower (step count,
  learned hyperparameters, the state of the levels above) as JSON text (:meth:`Tower.state_dict`). Every entry is
  there from the start, so ``torch.distributed.checkpoint`` (``get_optimizer_state_dict``,
  ``set_optimizer_state_dict``, ``dcp.save``/``dcp.load`` into a fresh optimizer) round-trips it;
* ``state_dict``/``load_state_dict`` run through ``torch.optim.Optimizer``'s own, so their four kinds of hooks fire
  as torch's do, and loaded floating state is cast to the dtype the optimizer keeps it in (the parameter's; float32
  for float16/bfloat16 parameters, whose levels keep float32 statistics) on the parameter's device;
* ``copy.deepcopy`` and ``pickle`` keep the towers, and a copy trains exactly as the original (hooks are not
  copied, as in torch);
* every public method checks its arguments before it changes anything;
* parameters sharded by FSDP2's ``fully_shard`` (DTensors) are stepped shard by shard, with each hypergradient
  summed over the shards (:mod:`.sharding`).
"""
from __future__ import annotations

import json
import math
import weakref
from collections.abc import Mapping, MutableMapping

import torch

from .hyperparams import check_alpha_bounds, check_hypergrad_clip
from .nonfinite import NonFinite
from .optimizers.base import float_scale, scaled
from .sharding import is_sharded, local, placed_like, placement, shard_sum
from .spec import parse_tower
from .tower import Tower

#: the group entries that ``state_dict()`` writes into each group's options (a live group holds the tower itself,
#: the sizes, and None for the tower state: ``torch.distributed.checkpoint``'s flattened form keeps only the keys that
#: a live group has)
PACKED = ("tower", "sizes", "tower_state")


class HyperOptimizer(torch.optim.Optimizer):
    """Optimize ``params`` with a hyperoptimizer tower.

    Args:
        params: an iterable of parameters, of ``(name, parameter)`` pairs, or of param-group dicts.
        tower: a spec such as ``"adam/sgd(1e-5)"`` (bottom level first) or a level such as
            ``Adam(optimizer=SGD(1e-5))``. A one-level tower (``"adam"``) is plain Adam.
        hypergrad_clip: clip every hypergradient component to ``[-clip, clip]`` (default: off, as in the paper).
        alpha_bounds: ``(low, high)`` bounds for every learned step size (default: off, as in the paper).
        history: record every step's hyperparameters on the device, read with :meth:`history` (default on).
        record_hypergrads: also record every step's hypergradients, the history's columns
            ``levelK.NAME.hypergrad``, and the details of the last step, :meth:`step_details` (default off: see
            ``docs/benchmarks.md`` for what it costs).
        lr: the multiplier on the weights' update (default 1.0: the tower's own); a schedule changes it per group.

    Between two steps, :meth:`set_hyperparameter` sets any hyperparameter of any level, in natural units.

    A step whose new hyperparameters or weight update are not finite is refused (nothing changes) and the
    optimizer stops moving; :meth:`nonfinite` reports the step and the value that went bad.

    Parameters may be float16 or bfloat16: the learned hyperparameters, the levels' running statistics (moments,
    accumulators, momentum) and the hypergradients' arithmetic are then float32 (see :mod:`.tower`). Under
    ``torch.amp.GradScaler``, ``scaler.step(opt)`` unscales the gradients before :meth:`step` and skips it when
    they are not finite, so the hyperparameters learn from unscaled gradients and a skipped step changes nothing.

    Example (checkpoints as with any ``torch.optim`` optimizer)::

        >>> import torch
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
        >>> model(torch.ones(2, 3)).sum().backward()
        >>> opt.step()
        >>> sorted(opt.state[model.weight])            # the weight's share of Adam's state
        ['g', 'm', 'v']
        >>> fresh = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
        >>> fresh.load_state_dict(opt.state_dict())
        >>> fresh.hyperparameters() == opt.hyperparameters()
        True
    """

    def __init__(self, params, tower, *, hypergrad_clip=None, alpha_bounds=None, history=True, lr=1.0,
                 record_hypergrads=False):
        hypergrad_clip, alpha_bounds = check_hypergrad_clip(hypergrad_clip), check_alpha_bounds(alpha_bounds)
        if not isinstance(history, bool):
            raise ValueError(f"history={history!r} is invalid: it must be True or False")
        if not isinstance(record_hypergrads, bool):
            raise ValueError(f"record_hypergrads={record_hypergrads!r} is invalid: it must be True or False")
        self._towers: list[Tower] = []
        self._flat: list[_FlatBuffers] = []  # per group
        self._record_history = history
        self._record_hypergrads = record_hypergrads
        self._state_view = _State(self)
        self._index: dict[int, tuple[int, int]] = {}  # id(parameter) -> (group, position in it)
        self._extra: dict = {}  # per parameter: state entries that are not its tower's (see _ParamState)
        super().__init__(params, dict(tower=parse_tower(tower), hypergrad_clip=hypergrad_clip,
                                      alpha_bounds=alpha_bounds, lr=_check_lr(lr)))

    # -- the state, where torch.optim keeps it ---------------------------------------------------------------
    @property
    def state(self) -> "_State":
        """Per parameter, its share of its tower's per-element state (views: see the module docstring)."""
        return self._state_view

    @state.setter
    def state(self, value) -> None:
        if "param_groups" in self.__dict__:
            raise ValueError("a HyperOptimizer's state is its towers' (opt.state views it): it cannot be replaced; "
                             "load another one with load_state_dict(), or change entries of opt.state[p] in place")
        # torch.optim.Optimizer.__init__ sets an empty dict before the groups: the towers hold the state

    # -- parameter groups ------------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a parameter group (torch.optim's ``add_param_group``), with its own tower; every option is checked
        first, and a refused group changes nothing."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, not {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, torch.Tensor):
            params = [params]
        elif isinstance(params, set) or params is None:
            raise TypeError("a parameter group's params must be an ordered collection of tensors (a set's order "
                            "changes between runs); got " + (type(params).__name__ if params is not None else "none"))
        group["params"] = params = list(params)
        if params and all(isinstance(p, tuple) and len(p) == 2 for p in params):
            group["param_names"] = [name for name, _ in params]
            group["params"] = params = [p for _, p in params]
        if not params:
            raise ValueError("a parameter group has no parameters")
        options = {**self.defaults, **{k: v for k, v in group.items() if k not in ("params", "param_names")}}
        config = parse_tower(options["tower"])
        lr = _check_lr(options["lr"])
        clip, bounds = check_hypergrad_clip(options["hypergrad_clip"]), check_alpha_bounds(options["alpha_bounds"])
        for p in params:
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"a HyperOptimizer optimizes tensors; a parameter group holds a {type(p).__name__}")
            if not p.dtype.is_floating_point:
                raise ValueError(f"can only optimize floating-point parameters, not {p.dtype}")
        first, shards = local(params[0]), placement(params[0])
        for p in params:
            x = local(p)
            if x.device != first.device or x.dtype != first.dtype:
                raise ValueError(f"all parameters of a group must share one device and dtype; found {first.device}/"
                                 f"{first.dtype} and {x.device}/{x.dtype}: put them in separate param groups")
            if placement(p) != shards:
                raise ValueError("all parameters of a group must be sharded alike (one device mesh, one placement, "
                                 "or none): put them in separate param groups")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("some parameters appear more than once: each parameter may be in one group, once")
        sizes = [local(p).numel() for p in params]
        names = group.get("param_names") or [f"param{i}" for i in range(len(params))]
        tower = Tower(config, sizes, names, first, hypergrad_clip=clip, alpha_bounds=bounds,
                      history=self._record_history, record_hypergrads=self._record_hypergrads,
                      reduce=shard_sum(params[0]))
        super().add_param_group(group)  # torch's own checks (leaf tensors, required options) come last
        added = self.param_groups[-1]
        added["tower"], added["lr"], added["hypergrad_clip"], added["alpha_bounds"] = config, lr, clip, bounds
        added["sizes"], added["tower_state"] = [p.numel() for p in params], None  # state_dict() writes the state
        self._towers.append(tower)
        self._flat.append(_FlatBuffers(sizes, sharded=shards is not None))
        self._reindex()

    def _reindex(self) -> None:
        self._index = {id(p): (i, j) for i, g in enumerate(self.param_groups) for j, p in enumerate(g["params"])}

    # -- the step ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):
        """One step of every group's tower: hyperparameters first, then the weights. Returns ``closure()``'s loss."""
        if closure is not None and not callable(closure):
            raise TypeError(f"closure must be callable or None, not {type(closure).__name__}")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, tower, flat in zip(self.param_groups, self._towers, self._flat):
            params = group["params"]
            grads = [p.grad for p in params]
            if flat.sharded:
                params = [local(p) for p in params]
                grads = [None if x is None else local(x) for x in grads]
            # the flat gradient, in one of two buffers in turn: a level may keep it until the next step, and may
            # write its direction into the other one (what it held was last needed by this step's hypergradient)
            k = tower.t % 2
            g, shaped = flat.buffer(k, params)
            spare = flat.buffer(1 - k, params)[0]
            missing = [i for i, x in enumerate(grads) if x is None]  # skipped, as torch.optim does
            if len(missing) == len(params):
                continue
            if missing or any(x.is_sparse for x in grads):
                for x, view in zip(grads, shaped):
                    if x is None:
                        view.zero_()
                    elif x.is_sparse:
                        raise ValueError("HyperOptimizer does not support sparse gradients")
                    else:
                        view.copy_(x)
            else:   # torch.optim's own list ops, private names (checked in tests/test_torch_semantics.py)
                torch._foreach_copy_(shaped, grads)
            target = params if tower.takes_target else None  # flattened by the tower when it needs them
            d, a = tower.step(g, spare, group["lr"], [flat.slice(i) for i in missing], target)  # the update is a * d
            if not float_scale(d, a):
                d, a = scaled(d, a), 1.0
            views = flat.views_of(d, params)
            if missing:
                present = [i for i in range(len(params)) if grads[i] is not None]
                params, views = [params[i] for i in present], [views[i] for i in present]
            torch._foreach_add_(params, views, alpha=-a)
        return loss

    # -- reading the hyperparameters -------------------------------------------------------------------------
    @property
    def towers(self) -> list[Tower]:
        """The running tower of each parameter group."""
        return list(self._towers)

    def _group(self, group) -> int:
        if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group < len(self._towers):
            raise ValueError(f"group={group!r} is invalid: this optimizer has {len(self._towers)} parameter "
                             f"group(s), numbered 0 to {len(self._towers) - 1}")
        return group

    def hyperparameters(self, group: int = 0) -> list[dict[str, float]]:
        """Every level's current hyperparameters in natural units, bottom level first (reads from the device)."""
        return self._towers[self._group(group)].values()

    def history(self, group: int = 0, since: int = 0) -> dict:
        """Per-step hyperparameters of a group after step ``since``: ``{"step", "level1.alpha", ..., "ok"}`` (with
        ``record_hypergrads``, also ``level1.alpha.hypergrad``, ...: see :meth:`Tower.history`)."""
        tower = self._towers[self._group(group)]
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise ValueError(f"since={since!r} is invalid: it must be a step number, an int >= 0")
        return tower.history(since)

    def set_hyperparameter(self, level: int, name: str, value, group: int = 0) -> float:
        """Set hyperparameter ``name`` of level ``level`` (1: the level that moves the weights) of a group's tower to
        ``value``, in natural units, before the next :meth:`step`; returns its value before. A learned one goes on
        learning from there (the level above moves it at the next step); a fixed one keeps it.

        ValueError naming it, changing nothing, for an unknown group, level or name, or a value outside the
        hyperparameter's range. See :meth:`Tower.set_hyperparameter`.

        Example (the paper's "kick": multiply the weights' step size by 30 and let the level above pull it back)::

            >>> import torch
            >>> from gdtuo_explore import HyperOptimizer
            >>> w = torch.nn.Parameter(torch.ones(3))
            >>> opt = HyperOptimizer([w], "sgd(0.01)/sgd(0.001)")
            >>> round(opt.set_hyperparameter(1, "alpha", 0.3), 6)   # the value before (float32 weights: float32)
            0.01
            >>> round(opt.hyperparameters()[0]["alpha"], 6)
            0.3
        """
        return self._towers[self._group(group)].set_hyperparameter(level, name, value)

    def step_details(self, group: int = 0) -> list[dict]:
        """What the last step did to every learning level of a group's tower: each learned hyperparameter's value
        before, its hypergradient and its value after, and for a level that keeps its last direction the two vectors
        whose dot product makes its step size's hypergradient (needs ``record_hypergrads=True``; see
        :meth:`Tower.step_details`)."""
        return self._towers[self._group(group)].step_details()

    def nonfinite(self) -> NonFinite | None:
        """None if every step was finite, else the first group's :class:`NonFinite` report (step, kind, values)."""
        for tower in self._towers:
            report = tower.nonfinite()
            if report is not None:
                return report
        return None

    # -- checkpoints: torch.optim's own state_dict/load_state_dict, with the towers' part added and taken back -----
    def state_dict(self) -> dict:
        """``torch.optim``'s shape (see the module docstring): ``{"state": {index: {"m": ..., ...}}, "param_groups":
        [{..., "tower": spec text, "sizes": [numbers per parameter], "tower_state": JSON text, "params": [...]}]}``.
        Holds only tensors, numbers and strings (``torch.load(..., weights_only=True)`` reads it); its tensors are
        the optimizer's own (as torch.optim's are): copy them to keep a snapshot while training goes on."""
        handle = self.register_state_dict_post_hook(_pack_towers, prepend=True)  # before the user's post hooks
        try:
            return super().state_dict()
        finally:
            handle.remove()

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from :meth:`state_dict` (also one that ``torch.distributed.checkpoint`` keyed by parameter names):
        every group option and each tower's state. A checkpoint of other parameters or another tower is refused,
        naming what differs; nothing is changed then."""
        check = self.register_load_state_dict_pre_hook(_check_checkpoint)  # after the user's pre hooks
        load = self.register_load_state_dict_post_hook(_load_towers, prepend=True)  # before the user's post hooks
        try:
            super().load_state_dict(state_dict)
        finally:
            check.remove()
            load.remove()
            for key in ("_pending", "state"):
                self.__dict__.pop(key, None)

    # -- copies and pickles ----------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        state = super().__getstate__()  # defaults, state, param_groups (torch leaves the hooks out)
        del state["state"]  # the towers hold it
        state.update(_towers=self._towers, _flat=self._flat, _record_history=self._record_history,
                     _extra=self._extra)
        return state

    def __setstate__(self, state: dict) -> None:
        if "_towers" not in state:  # torch's load_state_dict: the new groups and the loaded state (see _load_towers)
            super().__setstate__(state)
            return
        super().__setstate__(state)  # a copy or an unpickled optimizer
        self._state_view = _State(self)
        self._reindex()
        for group, tower in zip(self.param_groups, self._towers):
            tower.reduce = shard_sum(group["params"][0])

    def __repr__(self) -> str:
        return "HyperOptimizer(" + ", ".join(repr(str(g["tower"])) for g in self.param_groups) + ")"


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"lr={lr!r} is invalid: it must be a finite number >= 0 (a multiplier on the weights' "
                         "update, 1.0 by default)")
    return float(lr)


# -- state_dict and load_state_dict: the parts run inside torch.optim.Optimizer's -------------------------------
def _pack_towers(opt: HyperOptimizer, state_dict: dict) -> dict:
    """State-dict post hook, before the user's: each parameter's state as a plain dict, and each packed group's
    tower as spec text, its parameters' sizes and its tower state."""
    state_dict["state"] = {k: dict(v) if isinstance(v, _ParamState) else v for k, v in state_dict["state"].items()}
    for packed, group, tower in zip(state_dict["param_groups"], opt.param_groups, opt._towers):
        packed["tower"] = group["tower"].tower_name()
        packed["sizes"] = [p.numel() for p in group["params"]]
        packed["tower_state"] = json.dumps(tower.state_dict())
    return state_dict


def _check_checkpoint(opt: HyperOptimizer, state_dict) -> None:
    """Load-state-dict pre hook, after the user's: check the checkpoint against every group and tower, and prepare
    what ``_load_towers`` loads; a ValueError names what differs, before anything has changed."""
    if not isinstance(state_dict, Mapping) or "param_groups" not in state_dict or "state" not in state_dict:
        raise ValueError("a HyperOptimizer checkpoint is a dict with 'state' and 'param_groups' (from state_dict())")
    groups, states = state_dict["param_groups"], state_dict["state"]
    if len(groups) != len(opt.param_groups):
        raise ValueError(f"the checkpoint has {len(groups)} parameter groups, this optimizer {len(opt.param_groups)}")
    pending = []
    for i, (saved, group, tower) in enumerate(zip(groups, opt.param_groups, opt._towers)):
        params = group["params"]
        if not isinstance(saved, Mapping):
            raise ValueError(f"parameter group {i} of the checkpoint is a {type(saved).__name__}, not a dict")
        missing = [k for k in ("params", *PACKED) if saved.get(k) is None]
        if missing:
            raise ValueError(f"parameter group {i} of the checkpoint lacks {', '.join(map(repr, missing))}: it is "
                             "not a HyperOptimizer checkpoint of this version")
        sizes = [p.numel() for p in params]
        if len(saved["params"]) != len(params) or len(saved["sizes"]) != len(params):
            raise ValueError(f"parameter group {i}: the checkpoint has {len(saved['params'])} parameters, this "
                             f"optimizer {len(params)}")
        for j, (a, b) in enumerate(zip(saved["sizes"], sizes)):
            if a != b:
                raise ValueError(f"parameter group {i}, parameter {j}: {a} numbers in the checkpoint, {b} here")
        ours = group["tower"].tower_name()
        if saved["tower"] != ours:
            raise ValueError(f"parameter group {i}: this checkpoint is of the tower {saved['tower']!r}, not {ours!r}")
        _check_lr(saved.get("lr", 1.0))
        check_hypergrad_clip(saved.get("hypergrad_clip"))
        check_alpha_bounds(saved.get("alpha_bounds"))
        try:
            rest = json.loads(saved["tower_state"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"parameter group {i}: the checkpoint's tower_state is not JSON text ({err})") from None
        per_param = [_param_state(states, key, i, j) for j, key in enumerate(saved["params"])]
        own = [{k for k, v in entry.items() if _shaped_like(v, p)} for entry, p in zip(per_param, params)]
        for j, keys in enumerate(own):
            if keys != own[0]:
                raise ValueError(f"parameter group {i}, parameter {j}: its state holds {sorted(keys)}, parameter 0's "
                                 f"{sorted(own[0])}")
        extra = [{k: v for k, v in entry.items() if k not in own[0]} for entry in per_param]
        per_element = {k: _flat_state(k, [entry[k] for entry in per_param], params, i) for k in sorted(own[0])}
        try:
            checked = tower.check_state_dict(rest, per_element, copy=False)  # the flat tensors are new
        except ValueError as err:
            raise ValueError(f"parameter group {i}: {err}") from None
        pending.append((checked, extra))
    opt.__dict__["_pending"] = pending


def _param_state(states, key, i, j) -> dict:
    try:
        entry = states[key]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"parameter group {i}, parameter {j}: the checkpoint has no state for it ({key!r})") from None
    if not isinstance(entry, Mapping):
        raise ValueError(f"parameter group {i}, parameter {j}: its state is a {type(entry).__name__}, not a dict")
    return dict(entry)


def _shaped_like(x, p) -> bool:
    """Whether a parameter's state entry ``x`` is a tensor shaped like the parameter (its tower's share)."""
    return isinstance(x, torch.Tensor) and tuple(x.shape) == tuple(p.shape)


def _flat_state(key, values, params, i) -> torch.Tensor:
    """A per-parameter state entry of group ``i`` as one flat tensor over the group's local shards."""
    flat = []
    for j, (x, p) in enumerate(zip(values, params)):
        if is_sharded(p) != is_sharded(x):
            raise ValueError(f"parameter group {i}, parameter {j}: its state {key!r} is "
                             f"{'sharded' if is_sharded(x) else 'whole'} and the parameter is not: load a sharded "
                             "checkpoint with torch.distributed.checkpoint.state_dict.set_optimizer_state_dict")
        flat.append(local(x).reshape(-1))
    devices = {x.device for x in flat}
    dtypes = {x.dtype for x in flat}
    if len(devices) > 1 or len(dtypes) > 1:  # one dtype and device for the cat (the tower casts it once more)
        first = local(params[0])
        flat = [x.to(first.device, torch.promote_types(x.dtype, first.dtype)) for x in flat]
    return torch.cat(flat)


def _load_towers(opt: HyperOptimizer) -> None:
    """Load-state-dict post hook, before the user's: load the checked towers, give each group back its tower
    (torch's part set the groups' options from the checkpoint) and drop torch's copy of the state."""
    pending = opt.__dict__.pop("_pending")
    opt.__dict__.pop("state", None)  # torch's cast copy of the state: the towers hold it
    for group, tower, (checked, extra) in zip(opt.param_groups, opt._towers, pending):
        group["sizes"], group["tower_state"] = [p.numel() for p in group["params"]], None
        group["tower"] = tower.config
        group["lr"] = _check_lr(group.get("lr", 1.0))
        tower.load_checked(checked)
        tower.set_guard_rails(group.get("hypergrad_clip"), group.get("alpha_bounds"))
        group["hypergrad_clip"], group["alpha_bounds"] = tower.hypergrad_clip, tower.alpha_bounds
        for p, entries in zip(group["params"], extra):
            if entries:
                opt._extra[p] = entries
            else:
                opt._extra.pop(p, None)
    opt._reindex()


# -- opt.state: views of the towers' state ---------------------------------------------------------------------
class _State(MutableMapping):
    """``opt.state``: for each parameter, a :class:`_ParamState` of views of its tower's per-element state. Any other
    key holds a plain dict, as torch.optim's ``defaultdict(dict)`` does."""

    def __init__(self, opt: HyperOptimizer):
        self._opt = weakref.proxy(opt)
        self._other: dict = {}

    def _where(self, key):
        return self._opt._index.get(id(key)) if isinstance(key, torch.Tensor) else None

    def __getitem__(self, key):
        where = self._where(key)
        if where is None:
            return self._other.setdefault(key, {})
        return _ParamState(self._opt, *where)

    def __setitem__(self, key, value) -> None:
        where = self._where(key)
        if where is None:
            self._other[key] = value
            return
        entry = _ParamState(self._opt, *where)
        for k, v in dict(value).items():
            entry[k] = v

    def __delitem__(self, key) -> None:
        if self._where(key) is not None:
            raise ValueError("a parameter's state is its share of the tower's state: it cannot be deleted "
                             "(load_state_dict replaces it)")
        del self._other[key]

    def __contains__(self, key) -> bool:
        return self._where(key) is not None or key in self._other

    def __iter__(self):
        for group in self._opt.param_groups:
            yield from group["params"]
        yield from self._other

    def __len__(self) -> int:
        return len(self._opt._index) + len(self._other)

    def __repr__(self) -> str:
        return f"<HyperOptimizer state of {len(self._opt._index)} parameters>"


class _ParamState(MutableMapping):
    """One parameter's state: views, shaped like it, of its tower's per-element state (changing one in place, or
    setting it, writes into the tower), and any other entries a tool stores there."""

    def __init__(self, opt, group: int, index: int):
        self._opt, self._group, self._index = opt, group, index
        self._param = opt.param_groups[group]["params"][index]

    def _own(self) -> dict:
        tower, flat = self._opt._towers[self._group], self._opt._flat[self._group]
        start, stop = flat.slice(self._index)
        shape = local(self._param).shape
        return {k: placed_like(v[start:stop].view(shape), self._param) for k, v in tower.per_element_state().items()}

    def _extra(self) -> dict:
        return self._opt._extra.get(self._param, {})

    def __getitem__(self, key):
        own = self._own()
        if key in own:
            return own[key]
        return self._extra()[key]

    def __setitem__(self, key, value) -> None:
        own = self._own()
        if key in own:
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(own[key].shape):
                raise ValueError(f"state {key!r} of a parameter of shape {tuple(self._param.shape)} takes a tensor of "
                                 f"that shape, not {value!r}")
            target, source = local(own[key]), local(value)
            if target.data_ptr() != source.data_ptr() or target.device != source.device:
                target.copy_(source)
            return
        self._opt._extra.setdefault(self._param, {})[key] = value

    def __delitem__(self, key) -> None:
        if key in self._own():
            raise ValueError(f"state {key!r} is the tower's: it cannot be deleted")
        del self._opt._extra[self._param][key]

    def __iter__(self):
        yield from self._own()
        yield from self._extra()

    def __len__(self) -> int:
        return len(self._own()) + len(self._extra())

    def __repr__(self) -> str:
        return repr(dict(self))


class _FlatBuffers:
    """A parameter group's two flat gradient buffers (used in turn), with views of them shaped like the
    parameters, and those of the last direction applied when a level keeps one buffer for its directions."""

    def __init__(self, sizes: list[int], sharded: bool = False):
        self.sizes = sizes
        self.sharded = sharded  # DTensor parameters: the buffers hold this process's shards
        self.offsets = [0]
        for n in sizes:
            self.offsets.append(self.offsets[-1] + n)
        self.buffers: list[torch.Tensor | None] = [None, None]
        self._forget_views()

    def _forget_views(self) -> None:
        self.shaped: list[list[torch.Tensor] | None] = [None, None]
        self.last: tuple[torch.Tensor | None, list[torch.Tensor] | None] = (None, None)
        self.seen = None  # a weak reference to the last direction

    def __getstate__(self) -> dict:  # views and weak references are made again
        return {"sizes": self.sizes, "sharded": self.sharded, "offsets": self.offsets, "buffers": self.buffers}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._forget_views()

    def slice(self, i: int) -> tuple[int, int]:
        """Where parameter ``i`` lies in the flat buffers: ``(start, stop)``."""
        return self.offsets[i], self.offsets[i + 1]

    def _views(self, flat: torch.Tensor, params) -> list[torch.Tensor]:
        return [x.view_as(p) for x, p in zip(flat.split(self.sizes), params)]

    def buffer(self, k: int, params) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Buffer ``k`` (0 or 1) and its views shaped like ``params``, (re)made on the parameters' device/dtype."""
        first, buf = params[0], self.buffers[k]
        if buf is None or buf.device != first.device or buf.dtype != first.dtype:
            self.buffers[k] = buf = torch.empty(sum(self.sizes), dtype=first.dtype, device=first.device)
            self.shaped[k] = None
        if self.shaped[k] is None:
            self.shaped[k] = self._views(buf, params)
        return buf, self.shaped[k]

    def views_of(self, d: torch.Tensor, params) -> list[torch.Tensor]:
        """Views of the flat ``d`` shaped like ``params``. Kept for the buffers, and for a direction seen twice
        in a row (views keep their tensor alive: a fresh direction's memory must be freed after the step)."""
        for buf, shaped in zip(self.buffers, self.shaped):
            if d is buf and shaped is not None:
                return shaped
        if self.last[0] is d:
            return self.last[1]
        views = self._views(d, params)
        again = self.seen is not None and self.seen() is d
        self.last = (d, views) if again else (None, None)
        self.seen = weakref.ref(d)
        return views
