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
"""
from __future__ import annotations

import math
import weakref

import torch

from .hyperparams import check_alpha_bounds, check_hypergrad_clip
from .optimizers.base import float_scale, scaled
from .nonfinite import NonFinite
from .spec import parse_tower
from .tower import Tower


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
    """

    def __init__(self, params, tower, *, hypergrad_clip=None, alpha_bounds=None, history=True, lr=1.0,
                 record_hypergrads=False):
        hypergrad_clip, alpha_bounds = check_hypergrad_clip(hypergrad_clip), check_alpha_bounds(alpha_bounds)
        if not isinstance(record_hypergrads, bool):
            raise ValueError(f"record_hypergrads={record_hypergrads!r} is invalid: it must be True or False")
        self._towers: list[Tower] = []
        self._flat: list[_FlatBuffers] = []  # per group
        self._record_history = history
        self._record_hypergrads = record_hypergrads
        super().__init__(params, dict(tower=parse_tower(tower), hypergrad_clip=hypergrad_clip,
                                      alpha_bounds=alpha_bounds, lr=_check_lr(lr)))

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group["tower"] = parse_tower(group["tower"])
        group["lr"] = _check_lr(group["lr"])
        params = group["params"]
        if not params:
            raise ValueError("a parameter group has no parameters")
        first = params[0]
        for p in params:
            if p.device != first.device or p.dtype != first.dtype:
                raise ValueError(f"all parameters of a group must share one device and dtype; found {first.device}/"
                                 f"{first.dtype} and {p.device}/{p.dtype}: put them in separate param groups")
            if not p.dtype.is_floating_point:
                raise ValueError(f"can only optimize floating-point parameters, not {p.dtype}")
        names = group.get("param_names") or [f"param{i}" for i in range(len(params))]
        self._towers.append(Tower(group["tower"], [p.numel() for p in params], names, first,
                                  hypergrad_clip=group["hypergrad_clip"], alpha_bounds=group["alpha_bounds"],
                                  history=self._record_history, record_hypergrads=self._record_hypergrads))
        self._flat.append(_FlatBuffers([p.numel() for p in params]))

    @torch.no_grad()
    def step(self, closure=None):
        """One step of every group's tower: hyperparameters first, then the weights. Returns ``closure()``'s loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, tower, flat in zip(self.param_groups, self._towers, self._flat):
            params = group["params"]
            # the flat gradient, in one of two buffers in turn: a level may keep it until the next step, and may
            # write its direction into the other one (what it held was last needed by this step's hypergradient)
            k = tower.t % 2
            g, shaped = flat.buffer(k, params)
            spare = flat.buffer(1 - k, params)[0]
            grads = [p.grad for p in params]
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
            else:
                torch._foreach_copy_(shaped, grads)
            target = torch.cat([p.reshape(-1) for p in params]) if tower.takes_target else None
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

    def hyperparameters(self, group: int = 0) -> list[dict[str, float]]:
        """Every level's current hyperparameters in natural units, bottom level first (reads from the device)."""
        return self._towers[group].values()

    def history(self, group: int = 0, since: int = 0) -> dict:
        """Per-step hyperparameters of a group after step ``since``: ``{"step", "level1.alpha", ..., "ok"}`` (with
        ``record_hypergrads``, also ``level1.alpha.hypergrad``, ...: see :meth:`Tower.history`)."""
        return self._towers[group].history(since)

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
            >>> opt.set_hyperparameter(1, "alpha", 0.3)
            0.01
            >>> opt.hyperparameters()[0]["alpha"]
            0.3
        """
        return self._tower(group).set_hyperparameter(level, name, value)

    def step_details(self, group: int = 0) -> list[dict]:
        """What the last step did to every learning level of a group's tower: each learned hyperparameter's value
        before, its hypergradient and its value after, and for a level that keeps its last direction the two vectors
        whose dot product makes its step size's hypergradient (needs ``record_hypergrads=True``; see
        :meth:`Tower.step_details`)."""
        return self._tower(group).step_details()

    def _tower(self, group) -> Tower:
        if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group < len(self._towers):
            raise ValueError(f"group={group!r} is out of range: this optimizer has parameter groups 0 to "
                             f"{len(self._towers) - 1}")
        return self._towers[group]

    def nonfinite(self) -> NonFinite | None:
        """None if every step was finite, else the first group's :class:`NonFinite` report (step, kind, values)."""
        for tower in self._towers:
            report = tower.nonfinite()
            if report is not None:
                return report
        return None

    # -- checkpoints -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``torch.optim``'s shape: ``{"state": {index: ...}, "param_groups": [{..., "params": [indices]}]}``, with
        every group option (``tower`` as spec text, ``lr``, the guard rails, a schedule's own keys) and the sizes
        of its parameters. A tower's state spans its group: it is kept under the index of the group's first
        parameter. Holds only tensors, numbers and strings (``torch.load(..., weights_only=True)`` reads it)."""
        groups, state, start = [], {}, 0
        for group, tower in zip(self.param_groups, self._towers):
            packed = {k: v for k, v in group.items() if k not in ("params", "tower")}
            packed["tower"] = group["tower"].tower_name()
            packed["params"] = list(range(start, start + len(group["params"])))
            packed["sizes"] = [p.numel() for p in group["params"]]
            state[start] = tower.state_dict()
            start += len(group["params"])
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from :meth:`state_dict`: the towers' state and every group option. A checkpoint of other
        parameters or another tower is refused, naming what differs; nothing is changed then."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"the checkpoint has {len(groups)} parameter groups, this optimizer "
                             f"{len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(groups, self.param_groups)):
            sizes = [p.numel() for p in group["params"]]
            if len(saved["sizes"]) != len(sizes):
                raise ValueError(f"parameter group {i}: the checkpoint has {len(saved['sizes'])} parameters, this "
                                 f"optimizer {len(sizes)}")
            for j, (a, b) in enumerate(zip(saved["sizes"], sizes)):
                if a != b:
                    raise ValueError(f"parameter group {i}, parameter {j}: {a} numbers in the checkpoint, {b} here")
            ours = group["tower"].tower_name()
            if saved["tower"] != ours:
                raise ValueError(f"parameter group {i}: this checkpoint is of the tower {saved['tower']!r}, not "
                                 f"{ours!r}")
        if "towers" in state_dict:  # checkpoints made before the towers moved into "state"
            towers = state_dict["towers"]
        else:
            towers = [state_dict["state"][saved["params"][0]] for saved in groups]
        for saved, group, tower, tower_state in zip(groups, self.param_groups, self._towers, towers):
            tower.load_state_dict(tower_state)
            group.update({k: v for k, v in saved.items() if k not in ("params", "sizes", "tower")})
            group["lr"] = _check_lr(group.get("lr", 1.0))
            tower.set_guard_rails(group["hypergrad_clip"], group["alpha_bounds"])

    def __repr__(self) -> str:
        return "HyperOptimizer(" + ", ".join(repr(str(g["tower"])) for g in self.param_groups) + ")"


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"lr={lr!r} is invalid: it must be a finite number >= 0 (a multiplier on the weights' "
                         "update, 1.0 by default)")
    return float(lr)


class _FlatBuffers:
    """A parameter group's two flat gradient buffers (used in turn), with views of them shaped like the
    parameters, and those of the last direction applied when a level keeps one buffer for its directions."""

    def __init__(self, sizes: list[int]):
        self.sizes = sizes
        self.offsets = [0]
        for n in sizes:
            self.offsets.append(self.offsets[-1] + n)
        self.buffers: list[torch.Tensor | None] = [None, None]
        self.shaped: list[list[torch.Tensor] | None] = [None, None]
        self.last: tuple[torch.Tensor | None, list[torch.Tensor] | None] = (None, None)
        self.seen = None  # a weak reference to the last direction

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
            self.shaped[k] = self._views(buf, params)
        return buf, self.shaped[k]

    def views_of(self, d: torch.Tensor, params) -> list[torch.Tensor]:
        """Views of the flat ``d`` shaped like ``params``. Kept for the buffers, and for a direction seen twice
        in a row (views keep their tensor alive: a fresh direction's memory must be freed after the step)."""
        for buf, shaped in zip(self.buffers, self.shaped):
            if d is buf:
                return shaped
        if self.last[0] is d:
            return self.last[1]
        views = self._views(d, params)
        again = self.seen is not None and self.seen() is d
        self.last = (d, views) if again else (None, None)
        self.seen = weakref.ref(d)
        return views
