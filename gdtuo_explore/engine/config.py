"""``RunConfig``: everything that defines one training run, checked, canonical and saved as JSON.

A config saved with :meth:`RunConfig.to_json` and loaded with :meth:`RunConfig.from_json` reproduces its run: on the
CPU the same seed gives the same numbers.
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from dataclasses import dataclass, field

import torch

from ..core.hyperparams import check_alpha_bounds, check_hypergrad_clip, is_real
from ..core.spec import parse_tower

DEFAULT_EPOCHS = 5              # a run's budget when none is given: a quick, scripted run
#: The explorer's budget when none is given: the paper's budget for its SGD stacks, about 700 steps on digits, a few
#: seconds to watch; learning curves watched live need longer runs than the quick default of a scripted run.
EXPLORER_EPOCHS = 30


def _explorer_threads() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(torch.get_num_threads(), cores - 1))


#: The explorer's PyTorch intra-op threads: one core fewer than this process may use (at least 1, at most PyTorch's
#: default). A watched run shares the machine with the browser drawing its charts and the Jupyter server: on a 2-core
#: machine PyTorch's default 2 threads then fight them for both cores, and the digits run trains at half the speed of
#: 1 thread, headless as well as watched (``python -m gdtuo_explore.bench.live``; numbers in the README).
EXPLORER_THREADS = _explorer_threads()
#: How much lower the explorer's training threads run than the kernel (Unix niceness, Linux): the browser drawing the
#: charts and the Jupyter server carrying them get the CPU first, training takes the rest (README, the live view).
EXPLORER_NICE = 10
DEFAULT_DIVERGENCE_FACTOR = 100.0
DEVICES = "auto, cpu, cuda, cuda:N or mps"


def baseline_spec(spec: str) -> str:
    """The bottom level of a tower alone: the same optimizer with its hyperparameters frozen at their initial values.

    >>> baseline_spec("adam(0.01)/sgd(1e-5)")
    'adam(0.01)'
    """
    return parse_tower(spec).level_spec()


def resolve_device(name: str) -> torch.device:
    """``"auto"``: cuda if available, else mps if available, else cpu; any other name is checked to be usable."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={name!r} is invalid: use {DEVICES}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={name!r} is not available: torch.cuda.is_available() is False on this machine "
                             f"(torch {torch.__version__}); use device='cpu' or 'auto'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device={name!r} is not available: this machine has {torch.cuda.device_count()} "
                             "CUDA device(s), numbered from 0")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={name!r} is not available: torch.backends.mps.is_available() is False; "
                             "use device='cpu' or 'auto'")
    elif device.type != "cpu":
        raise ValueError(f"device={name!r} is not supported: use {DEVICES}")
    return device


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass
class RunConfig:
    """One run: a task, a model, a tower (or a learning-rate-free baseline), a budget and a seed.

    Fields:
        task, model: a task of :data:`gdtuo_explore.tasks.TASKS` and one of its models (None: the task's default).
        tower: a tower spec, bottom level first, e.g. ``"adam/sgd(1e-5)"`` (canonicalised by :meth:`validate`).
        baseline: ``"prodigy"``, ``"schedulefree"`` or ``"dadaptation"`` to train with that optimizer instead of the
            tower (needs ``pip install gdtuo-explore[baselines]``); None: the tower.
        batch_size: examples per step.
        epochs, steps, until_stopped: the budget; give at most one (none: ``epochs=5``). ``until_stopped=True``
            trains until the run is stopped (its ``total_steps`` is then None).
        seed: seeds the model's initial weights, the batch order and the task's data split or generation.
        device: ``"auto"`` (cuda, else mps, else cpu), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        eval_every: steps between test evaluations (None: once per epoch, and at least 10 per run; until stopped:
            once per epoch).
        data_root: where datasets live (None: ``$GDTUO_DATA`` or ``~/.cache/gdtuo-explore/data``).
        task_options: keyword options of the task's builder, e.g. ``{"text_file": "war_and_peace.txt"}``.
        hypergrad_clip, alpha_bounds: the tower's guard rails (see :class:`gdtuo_explore.HyperOptimizer`).
        divergence_factor: a run whose loss explodes stops as ``diverged``, its records kept, like a run whose loss,
            gradient or hyperparameters went non-finite: when the smoothed train loss (the mean of the last 20
            steps' losses, checked at each fetch from the device) exceeds ``divergence_factor`` times its start
            (the first step's loss, at the initial weights). None switches this rule off; otherwise a finite number
            > 1 (default 100). See :mod:`gdtuo_explore.engine.divergence`.
        threads: PyTorch's intra-op threads while the run is set up and trains (``torch.set_num_threads``, which is
            process-wide: it stays set after the run); None: PyTorch's process-wide setting (the last
            ``torch.set_num_threads`` in any thread, or its default; a count that another run's ``threads`` set
            does not count), applied in the run's own threads so that a thread's stale view of it cannot change the
            numbers (see :mod:`.threads`). The explorer uses :data:`EXPLORER_THREADS`.
        nice: how much lower the CPU priority of the run's training thread is than the thread that starts it, an
            integer in [0, 19] added to its Unix niceness (Linux; elsewhere ignored); 0 or None (default) keeps it.
            Only the training thread of :meth:`Run.start` is lowered (:meth:`Run.run`'s calling thread is left alone:
            a thread cannot raise its priority back). The explorer uses :data:`EXPLORER_NICE` where this is None, so
            that the page's drawing comes first. It changes no number, only who waits for a core.
    """

    task: str = "digits"
    model: str | None = None
    tower: str = "adam/sgd(1e-5)"
    baseline: str | None = None
    batch_size: int = 64
    epochs: int | None = None
    steps: int | None = None
    seed: int = 0
    device: str = "auto"
    eval_every: int | None = None
    data_root: str | None = None
    task_options: dict = field(default_factory=dict)
    hypergrad_clip: float | None = None
    alpha_bounds: tuple[float, float] | None = None
    until_stopped: bool = False
    divergence_factor: float | None = DEFAULT_DIVERGENCE_FACTOR
    threads: int | None = None
    nice: int | None = None

    # -- checking ----------------------------------------------------------------------------------------------
    def validate(self) -> "RunConfig":
        """Check every field (ValueError naming the field, its value and what is allowed) and canonicalise in place:
        the tower spec to its canonical text, ``model`` to the task's default model when None, ``epochs=5`` when no
        budget is given, ``divergence_factor`` to a float. Returns ``self``."""
        from .baselines import check_baseline
        from .tasks import TASKS

        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; known tasks: {', '.join(TASKS)}")
        models = TASKS[self.task].models
        if self.model is None:
            self.model = TASKS[self.task].default_model
        if self.model not in models:
            raise ValueError(f"unknown model {self.model!r} for task {self.task!r}; its models: {', '.join(models)}")
        try:
            self.tower = str(parse_tower(self.tower))
        except (ValueError, TypeError) as err:
            raise ValueError(f"tower={self.tower!r} is invalid: {err}") from None
        if self.baseline is not None:
            check_baseline(self.baseline)
        self._check_int("batch_size", 1)
        if self.epochs is not None and self.steps is not None:
            raise ValueError(f"epochs={self.epochs!r} and steps={self.steps!r} are both given: give one of them")
        self._check_int("epochs", 1, optional=True)
        self._check_int("steps", 1, optional=True)
        if not isinstance(self.until_stopped, bool):
            raise ValueError(f"until_stopped={self.until_stopped!r} is invalid: it must be True or False")
        if self.until_stopped and (self.epochs is not None or self.steps is not None):
            given = "epochs" if self.epochs is not None else "steps"
            raise ValueError(f"until_stopped=True and {given}={getattr(self, given)!r} are both given: give one of "
                             "them")
        if self.epochs is None and self.steps is None and not self.until_stopped:
            self.epochs = DEFAULT_EPOCHS
        self._check_int("seed", 0)
        if self.seed >= 2 ** 63:
            raise ValueError(f"seed={self.seed!r} is out of range: it must be an integer in [0, 2**63)")
        if not isinstance(self.device, str):
            raise ValueError(f"device={self.device!r} is invalid: use {DEVICES}")
        resolve_device(self.device)
        self._check_int("eval_every", 1, optional=True)
        if self.data_root is not None and not isinstance(self.data_root, str):
            raise ValueError(f"data_root={self.data_root!r} is invalid: it must be a path (a string) or None")
        if not isinstance(self.task_options, dict) or not all(isinstance(k, str) for k in self.task_options):
            raise ValueError(f"task_options={self.task_options!r} is invalid: it must be a dict with string keys")
        self.hypergrad_clip = check_hypergrad_clip(self.hypergrad_clip)
        self.alpha_bounds = check_alpha_bounds(self.alpha_bounds)
        factor = self.divergence_factor
        if factor is not None:
            if not (is_real(factor) and math.isfinite(factor) and factor > 1):
                raise ValueError(f"divergence_factor={factor!r} is out of range: it must be None (off) or a finite "
                                 "number > 1")
            self.divergence_factor = float(factor)
        self._check_int("threads", 1, optional=True)
        self._check_int("nice", 0, optional=True, high=19)
        return self

    def _check_int(self, name: str, low: int, optional: bool = False, high: int | None = None) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if not _is_int(value) or value < low or (high is not None and value > high):
            allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise ValueError(f"{name}={value!r} is out of range: it must be an integer {allowed}"
                             + (" or None" if optional else ""))

    # -- derived -----------------------------------------------------------------------------------------------
    def steps_per_epoch(self, n_train: int) -> int:
        """Batches in one pass over ``n_train`` examples (the last one may be smaller)."""
        return max(1, math.ceil(n_train / self.batch_size))

    def total_steps(self, n_train: int) -> int | None:
        """The run's length in steps: ``steps``, or ``epochs`` passes over ``n_train`` examples; None until
        stopped."""
        if self.until_stopped:
            return None
        if self.steps is not None:
            return self.steps
        return (self.epochs or DEFAULT_EPOCHS) * self.steps_per_epoch(n_train)

    def evaluation_interval(self, n_train: int) -> int:
        """``eval_every``, or by default once per epoch but at least 10 evaluations per run (until stopped: once
        per epoch)."""
        if self.eval_every is not None:
            return self.eval_every
        if self.until_stopped:
            return self.steps_per_epoch(n_train)
        return max(1, min(self.steps_per_epoch(n_train), math.ceil(self.total_steps(n_train) / 10)))

    def optimizer_name(self) -> str:
        """The tower spec, or the baseline's name."""
        return self.baseline or self.tower

    def summary(self) -> str:
        """One line, e.g. ``digits/mlp · adam/sgd(1e-05) · batch 64 · 5 epochs · seed 0``."""
        model = self.model or "default model"
        budget = ("until stopped" if self.until_stopped else f"{self.steps} steps" if self.steps is not None
                  else f"{self.epochs or DEFAULT_EPOCHS} epochs")
        return f"{self.task}/{model} · {self.optimizer_name()} · batch {self.batch_size} · {budget} · seed {self.seed}"

    # -- JSON --------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A plain, JSON-ready dict of every field."""
        out = dataclasses.asdict(self)
        if out["alpha_bounds"] is not None:
            out["alpha_bounds"] = list(out["alpha_bounds"])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """The config with these fields (missing ones take their defaults; unknown ones raise ValueError).

        Not validated: call :meth:`validate` (a :class:`~gdtuo_explore.run.Run` does) after any overrides.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a run config must be a JSON object (a dict), not {type(data).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in data if k not in known]
        if unknown:
            raise ValueError(f"unknown config key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(known)}")
        data = dict(data)
        if isinstance(data.get("alpha_bounds"), list):
            data["alpha_bounds"] = tuple(data["alpha_bounds"])
        if "task_options" in data and isinstance(data["task_options"], dict):
            data["task_options"] = dict(data["task_options"])
        return cls(**data)

    def to_json(self, path) -> None:
        """Write the config to ``path`` as JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    @classmethod
    def from_json(cls, path) -> "RunConfig":
        """Read a config written by :meth:`to_json` (ValueError if it is not valid JSON or has unknown keys)."""
        return cls.from_dict(read_json(path))


def read_json(path):
    """The JSON value in the file ``path``; ValueError saying why if it cannot be read or is not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from None
