"""The task registry: what a task is, how tasks are registered, and how one is built.

A task is a dataset (whole, preprocessed, as CPU tensors) plus a model factory and a loss.
Adding a task is one decorated builder function::

    @register_task("xor", description="...", models=("mlp",))
    def build_xor(model: str, data_root: str, seed: int, *, n: int = 100) -> Task: ...

Builders take the model name, the resolved data root, the data seed and keyword-only options;
`make_task` checks the task, model and option names before calling them.
"""

from __future__ import annotations

import inspect
import numbers
import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

DEFAULT_DATA_ROOT = "~/.cache/gdtuo-explore/data"
#: A task's metric (``Task.metric``) -> the evaluations' column that records it, besides ``test_loss``.
METRIC_COLUMNS = {"accuracy": "test_accuracy", "distance": "distance_to_minimum"}


class DatasetNotFound(ValueError):
    """A task's dataset is neither on disk nor obtainable; the message says where we looked and what to do."""


def default_data_root() -> str:
    """The data root used when none is given: ``$GDTUO_DATA`` or ``~/.cache/gdtuo-explore/data``, expanded."""
    return os.path.expanduser(os.environ.get("GDTUO_DATA", DEFAULT_DATA_ROOT))


@dataclass
class Task:
    """A built task: the whole dataset as CPU tensors, a model factory and a loss.

    ``make_model`` draws its initial weights from torch's global RNG, so the caller's
    ``torch.manual_seed`` decides the initialisation. ``metric``: ``"accuracy"``, ``"distance"`` (to the nearest
    minimum, the surface task's) or None; :meth:`evaluate` reports it under that name, a run's evaluations in the
    column :data:`METRIC_COLUMNS` names. ``vocab`` is set by text tasks only (``vocab[i]`` is the character of token
    ``i``).

    A task without data (the surface task) sets ``steps_per_epoch``, the length of an epoch in steps (None: one pass
    over ``train_x`` in batches). ``step_columns`` name values recorded with every step's loss, which
    ``step_values(model)`` gives as one tensor, taken before the optimizer's step (the surface task's ``x`` and
    ``y``: the point at which the loss was computed).
    """

    name: str
    model_name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    make_model: Callable[[], nn.Module]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metric: str | None
    source: str
    classes: int
    vocab: list[str] | None = None
    steps_per_epoch: int | None = None
    step_columns: tuple[str, ...] = ()
    step_values: Callable[[nn.Module], torch.Tensor] | None = None

    def evaluate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> dict:
        """Mean loss (and accuracy, if the task has that metric) of `model` on (x, y), in batches.

        Runs under ``torch.no_grad()`` with the model in eval mode, then restores its previous mode.
        Batches are moved to the device of the model's parameters.
        """
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        loss_sum, correct, n = 0.0, 0, len(x)
        try:
            with torch.no_grad():
                for i in range(0, n, batch_size):
                    xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
                    out = model(xb)
                    loss_sum += float(self.loss_fn(out, yb)) * len(xb)
                    if self.metric == "accuracy":
                        correct += int((out.argmax(dim=-1) == yb).sum())
        finally:
            model.train(was_training)
        result = {"loss": loss_sum / n}
        if self.metric == "accuracy":
            result["accuracy"] = correct / y.numel()
        return result


@dataclass
class TaskSpec:
    """A registry entry, read by the explorer's menus.

    ``needs_download`` is True when the data is not bundled with a dependency or generated,
    so it may have to be fetched from the internet.
    """

    name: str
    description: str
    models: tuple[str, ...]
    default_model: str
    needs_download: bool
    builder: Callable[..., Task]


TASKS: dict[str, TaskSpec] = {}


def register_task(name: str, *, description: str, models, default_model: str | None = None,
                  needs_download: bool = False):
    """Decorator registering ``builder(model, data_root, seed, **options) -> Task`` under `name`.

    `default_model` defaults to the first of `models`. Registering an existing name replaces
    that entry in place (so a notebook cell defining a task can be re-run).
    """
    models = tuple(models)
    if not models:
        raise ValueError(f"task {name!r} needs at least one model")
    default_model = models[0] if default_model is None else default_model
    if default_model not in models:
        raise ValueError(f"default_model {default_model!r} of task {name!r} is not one of its models {models}")

    def decorate(builder):
        TASKS[name] = TaskSpec(name, description, models, default_model, needs_download, builder)
        return builder

    return decorate


def make_task(name: str, model: str | None = None, data_root: str | None = None, seed: int = 0,
              **options) -> Task:
    """Build task `name` with `model` (default: the task's default model).

    `data_root` defaults to `default_data_root()`; `seed` fixes the data split or generation;
    `options` are the builder's keyword-only options. Unknown names raise ValueError.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    spec = TASKS[name]
    model = spec.default_model if model is None else model
    if model not in spec.models:
        raise ValueError(f"unknown model {model!r} for task {name!r}; its models: {', '.join(spec.models)}")
    params = inspect.signature(spec.builder).parameters.values()
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        allowed = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
        for key in options:
            if key not in allowed:
                raise ValueError(f"unknown option {key!r} for task {name!r}; "
                                 f"its options: {', '.join(allowed) or '(none)'}")
    root = default_data_root() if data_root is None else os.path.expanduser(str(data_root))
    return spec.builder(model, root, seed, **options)


def check_int(option: str, value, low: int) -> int:
    """Return `value` if it is an integer >= `low`, else raise ValueError naming it and the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"option {option}={value!r} is out of range: it must be an integer >= {low}")
    return int(value)


def check_float(option: str, value, low: float) -> float:
    """Return `value` as a float if it is a number >= `low`, else raise ValueError naming it and the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= low:
        raise ValueError(f"option {option}={value!r} is out of range: it must be a number >= {low}")
    return float(value)


def describe_root(root: str) -> str:
    """A phrase naming the data root and whether it is the default."""
    default = default_data_root()
    if os.path.abspath(root) == os.path.abspath(default):
        return f"the data root {root} (the default: $GDTUO_DATA or {DEFAULT_DATA_ROOT})"
    return f"the data root {root} (given; the default is {default})"
