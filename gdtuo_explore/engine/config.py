"""``RunConfig``: everything that defines one training run, checked once when it is made, frozen, saved as JSON.

    config = RunConfig(task="digits", tower="adam/sgd(1e-5)", steps=500)
    longer = config.replace(epochs=20)            # a changed copy, checked again
    RunConfig.from_json("runs/demo/config.json")  # what Run.export wrote

Every default of a run lives here, once: the field defaults of :class:`RunConfig` (:func:`default` reads them for
help texts). Importing this module loads no PyTorch (the command line reads the defaults before it loads PyTorch):
PyTorch and the core load when a config is made. A config saved with :meth:`RunConfig.to_json` and loaded with :meth:`RunConfig.from_json` reproduces
its run: on the CPU the same seed gives the same numbers.
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field

DEVICES = "auto, cpu, cuda, cuda:N or mps"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def parse_numbers(text: str, what: str, kind=float) -> list:
    """The numbers in ``text``, separated by commas (or semicolons), as ``kind`` (``float`` or ``int``); ValueError
    naming ``what`` if one is not a number of that kind or there is none.

    >>> parse_numbers("1e-4, 1e-2,1", "alphas")
    [0.0001, 0.01, 1.0]
    """
    parts = [t.strip() for t in str(text).replace(";", ",").split(",") if t.strip()]
    noun = "whole numbers" if kind is int else "numbers"
    try:
        values = [kind(t) for t in parts]
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a comma-separated list of {noun}") from None
    if not values:
        raise ValueError(f"{what}: give at least one value (a comma-separated list of {noun})")
    return values


@dataclass(frozen=True)
class Budget:
    """How long a run trains: ``Budget("epochs", 5)``, ``Budget("steps", 500)`` or ``Budget("until stopped")``.

    ``unit`` is one of :data:`Budget.UNITS`; ``count`` an integer >= 1 (none for ``until stopped``). A
    :class:`RunConfig` takes it as ``epochs=5``, ``steps=500`` or ``until_stopped=True`` (the keywords of
    :meth:`fields`), or whole as ``budget=``.
    """

    unit: str
    count: int | None = None

    UNITS = ("epochs", "steps", "until stopped")

    def __post_init__(self):
        if self.unit not in self.UNITS:
            raise ValueError(f"budget unit {self.unit!r} is invalid: use {', '.join(map(repr, self.UNITS))}")
        if self.unit == "until stopped":
            if self.count is not None:
                raise ValueError(f"a budget 'until stopped' takes no count (got {self.count!r})")
        elif not _is_int(self.count) or self.count < 1:
            raise ValueError(f"{self.unit}={self.count!r} is out of range: it must be an integer >= 1")

    @classmethod
    def from_fields(cls, epochs=None, steps=None, until_stopped=False, default: "Budget | None" = None) -> "Budget":
        """The budget of RunConfig's keywords: at most one of ``epochs``, ``steps`` and ``until_stopped=True``
        (none: ``default``). ValueError naming them when more than one is given."""
        if not isinstance(until_stopped, bool):
            raise ValueError(f"until_stopped={until_stopped!r} is invalid: it must be True or False")
        given = {k: v for k, v in (("epochs", epochs), ("steps", steps)) if v is not None}
        if until_stopped:
            given["until_stopped"] = True
        if len(given) > 1:
            both = "both" if len(given) == 2 else "all"
            raise ValueError(" and ".join(f"{k}={v!r}" for k, v in given.items()) + f" are {both} given: give one "
                             "budget (epochs, steps or until stopped)")
        if not given:
            return default if default is not None else DEFAULT_BUDGET
        (name, value), = given.items()
        return cls("until stopped") if name == "until_stopped" else cls(name, value)

    def fields(self) -> dict:
        """The budget as RunConfig keywords: ``{"epochs": 5}``, ``{"steps": 500}`` or ``{"until_stopped": True}``."""
        return {"until_stopped": True} if self.unit == "until stopped" else {self.unit: self.count}

    def total_steps(self, steps_per_epoch: int) -> int | None:
        """The run's length in steps (None: until stopped)."""
        if self.unit == "until stopped":
            return None
        return self.count if self.unit == "steps" else self.count * steps_per_epoch

    def __str__(self) -> str:
        if self.unit == "until stopped":
            return "until stopped"
        return f"{self.count} {self.unit[:-1] if self.count == 1 else self.unit}"


#: A run's budget when none is given: a quick, scripted run.
DEFAULT_BUDGET = Budget("epochs", 5)
DEFAULT_DIVERGENCE_FACTOR = 100.0
_BUDGET_KEYS = ("epochs", "steps", "until_stopped", "budget")


def baseline_spec(spec: str) -> str:
    """The bottom level of a tower alone: the same optimizer with its hyperparameters frozen at their initial values.

    >>> baseline_spec("adam(0.01)/sgd(1e-5)")
    'adam(0.01)'
    """
    from ..core.spec import parse_tower

    return parse_tower(spec).level_spec()


def _check_device_name(name) -> str:
    """``name`` if it names a device kind this project trains on (whether this machine has it is checked when a run
    is set up, :func:`resolve_device`); else ValueError."""
    import torch

    if name == "auto":
        return name
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={name!r} is invalid: use {DEVICES}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={name!r} is not supported: use {DEVICES}")
    return name


def resolve_device(name: str):
    """The ``torch.device`` of ``name``: ``"auto"``: cuda if available, else mps if available, else cpu; any other
    name is checked to be usable."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    device = torch.device(_check_device_name(name))
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
    return device


@dataclass(frozen=True, init=False)
class RunConfig:
    """One run: a task, a model, a tower (or a learning-rate-free baseline), a budget and a seed. Checked when it is
    made (ValueError naming the field, its value and what is allowed), then frozen; :meth:`replace` derives a changed
    copy.

    Fields (all keywords; unset ones take the defaults below):
        task, model: a task of :data:`gdtuo_explore.engine.tasks.TASKS` and one of its models (unset: the task's default
            model, which the config then holds).
        tower: a tower spec, bottom level first, e.g. ``"adam/sgd(1e-5)"`` (held as its canonical text).
        baseline: ``"prodigy"``, ``"schedulefree"`` or ``"dadaptation"`` to train with that optimizer instead of the
            tower (needs the ``baselines`` extra); unset: the tower.
        batch_size: examples per step.
        budget: a :class:`Budget`; or one of the keywords ``epochs=N``, ``steps=N``, ``until_stopped=True`` (unset:
            5 epochs). A run until stopped has no ``total_steps``.
        seed: seeds the model's initial weights, the batch order and the task's data split or generation.
        device: ``"auto"`` (cuda, else mps, else cpu), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; whether
            this machine has it is checked when a run is set up.
        eval_every: steps between test evaluations (unset: once per epoch, and at least 10 per run; until stopped:
            once per epoch).
        data_root: where datasets live (unset: ``$GDTUO_DATA`` or ``~/.cache/gdtuo-explore/data``).
        task_options: keyword options of the task's builder, e.g. ``{"text_file": "war_and_peace.txt"}`` (a copy is
            kept; treat it as read-only).
        hypergrad_clip, alpha_bounds: the tower's guard rails (see :class:`gdtuo_explore.HyperOptimizer`).
        record_hypergrads: record every learned hyperparameter's hypergradient with each step (the metrics' columns
            ``levelK.NAME.hypergrad``) and the details of the last step (:meth:`Run.last_update`); default off
            (see :class:`gdtuo_explore.HyperOptimizer`).
        divergence_factor: a run whose loss explodes stops as ``diverged``, its records kept, like a run whose loss,
            gradient or hyperparameters went non-finite: when the smoothed train loss (the mean of the last 20
            steps' losses, checked at each fetch from the device) exceeds ``divergence_factor`` times its start
            (the first step's loss, at the initial weights). A finite number > 1 (default 100), or unset to switch
            the rule off. See :mod:`gdtuo_explore.engine.divergence`.
        threads: PyTorch's intra-op threads while the run is set up and trains (``torch.set_num_threads``, which is
            process-wide: it stays set after the run); unset: PyTorch's process-wide setting (the last
            ``torch.set_num_threads`` in any thread, or its default; a count that another run's ``threads`` set
            does not count), applied in the run's own threads so that a thread's stale view of it cannot change the
            numbers (see :mod:`.threads`).
        nice: how much lower the CPU priority of the run's training thread is than the thread that starts it, an
            integer in [0, 19] added to its Unix niceness (Linux; elsewhere ignored); 0 or unset keeps it. Only the
            training thread of :meth:`Run.start` is lowered (:meth:`Run.run`'s calling thread is left alone: a
            thread cannot raise its priority back). It changes no number, only who waits for a core.
    """

    task: str = "digits"
    model: str | None = None
    tower: str = "adam/sgd(1e-5)"
    baseline: str | None = None
    batch_size: int = 64
    budget: Budget = DEFAULT_BUDGET
    seed: int = 0
    device: str = "auto"
    eval_every: int | None = None
    data_root: str | None = None
    task_options: dict = field(default_factory=dict, hash=False)
    hypergrad_clip: float | None = None
    alpha_bounds: tuple[float, float] | None = None
    record_hypergrads: bool = False
    divergence_factor: float | None = DEFAULT_DIVERGENCE_FACTOR
    threads: int | None = None
    nice: int | None = None

    def __init__(self, *, task: str = "digits", model: str | None = None, tower: str = "adam/sgd(1e-5)",
                 baseline: str | None = None, batch_size: int = 64, budget: Budget | None = None,
                 epochs: int | None = None, steps: int | None = None, until_stopped: bool = False, seed: int = 0,
                 device: str = "auto", eval_every: int | None = None, data_root: str | None = None,
                 task_options: dict | None = None, hypergrad_clip: float | None = None,
                 alpha_bounds: tuple[float, float] | None = None, record_hypergrads: bool = False,
                 divergence_factor: float | None = DEFAULT_DIVERGENCE_FACTOR, threads: int | None = None,
                 nice: int | None = None):
        from ..core.hyperparams import check_alpha_bounds, check_hypergrad_clip, is_real
        from ..core.spec import parse_tower
        from .baselines import check_baseline
        from .tasks import TASKS

        put = object.__setattr__
        if not isinstance(task, str) or task not in TASKS:
            raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
        models = TASKS[task].models
        model = TASKS[task].default_model if model is None else model
        if model not in models:
            raise ValueError(f"unknown model {model!r} for task {task!r}; its models: {', '.join(models)}")
        try:
            tower = str(parse_tower(tower))
        except (ValueError, TypeError) as err:
            raise ValueError(f"tower={tower!r} is invalid: {err}") from None
        if baseline is not None:
            check_baseline(baseline)
        if budget is None:
            budget = Budget.from_fields(epochs, steps, until_stopped)
        elif not isinstance(budget, Budget):
            raise ValueError(f"budget={budget!r} is invalid: it must be a Budget, e.g. Budget('steps', 500)")
        elif epochs is not None or steps is not None or until_stopped:
            raise ValueError(f"budget={budget} and {Budget.from_fields(epochs, steps, until_stopped)} are both "
                             "given: give one budget")
        if not isinstance(device, str):
            raise ValueError(f"device={device!r} is invalid: use {DEVICES}")
        if data_root is not None and not isinstance(data_root, str):
            raise ValueError(f"data_root={data_root!r} is invalid: it must be a path (a string)")
        task_options = {} if task_options is None else task_options
        if not isinstance(task_options, dict) or not all(isinstance(k, str) for k in task_options):
            raise ValueError(f"task_options={task_options!r} is invalid: it must be a dict with string keys")
        if not isinstance(record_hypergrads, bool):
            raise ValueError(f"record_hypergrads={record_hypergrads!r} is invalid: it must be True or False")
        if divergence_factor is not None:
            if not (is_real(divergence_factor) and math.isfinite(divergence_factor) and divergence_factor > 1):
                raise ValueError(f"divergence_factor={divergence_factor!r} is out of range: it must be a finite "
                                 "number > 1 (or off)")
            divergence_factor = float(divergence_factor)
        for name, value in dict(task=task, model=model, tower=tower, baseline=baseline, batch_size=batch_size,
                                budget=budget, seed=seed, device=_check_device_name(device), eval_every=eval_every,
                                data_root=data_root, task_options=dict(task_options),
                                hypergrad_clip=check_hypergrad_clip(hypergrad_clip),
                                alpha_bounds=check_alpha_bounds(alpha_bounds), record_hypergrads=record_hypergrads,
                                divergence_factor=divergence_factor,
                                threads=threads, nice=nice).items():
            put(self, name, value)
        self._check_int("batch_size", 1)
        self._check_int("seed", 0)
        if seed >= 2 ** 63:
            raise ValueError(f"seed={seed!r} is out of range: it must be an integer in [0, 2**63)")
        self._check_int("eval_every", 1, optional="once per epoch")
        self._check_int("threads", 1, optional="PyTorch's own setting")
        self._check_int("nice", 0, optional="the caller's priority", high=19)

    def _check_int(self, name: str, low: int, optional: str = "", high: int | None = None) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if not _is_int(value) or value < low or (high is not None and value > high):
            allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise ValueError(f"{name}={value!r} is out of range: it must be an integer {allowed}"
                             + (f" (or unset: {optional})" if optional else ""))

    # -- changed copies ----------------------------------------------------------------------------------------
    def replace(self, **changes) -> "RunConfig":
        """A copy with ``changes`` (any keyword of the constructor), checked again. A new budget (``budget``,
        ``epochs``, ``steps`` or ``until_stopped``) replaces the old one; another ``task`` resets ``model`` and
        ``task_options`` to that task's defaults unless they are given too.

        >>> RunConfig(steps=100).replace(epochs=2).budget
        Budget(unit='epochs', count=2)
        """
        fields = self.to_dict()
        if any(k in changes for k in _BUDGET_KEYS):
            for key in _BUDGET_KEYS:
                fields.pop(key, None)
        if changes.get("task", self.task) != self.task:
            fields.pop("model")
            fields.pop("task_options")
        fields.update(changes)
        if fields.get("budget") is not None and any(fields.get(k) for k in ("epochs", "steps", "until_stopped")):
            raise ValueError(f"budget={fields['budget']} and epochs/steps/until_stopped are both given: give one "
                             "budget")
        return RunConfig(**fields)

    # -- derived -----------------------------------------------------------------------------------------------
    def steps_per_epoch(self, n_train: int) -> int:
        """Batches in one pass over ``n_train`` examples (the last one may be smaller)."""
        return max(1, math.ceil(n_train / self.batch_size))

    def total_steps(self, n_train: int, steps_per_epoch: int | None = None) -> int | None:
        """The run's length in steps over ``n_train`` training examples; None until stopped. ``steps_per_epoch``:
        the epoch's length where the task sets it (a task without data); default: from ``n_train``."""
        return self.budget.total_steps(steps_per_epoch or self.steps_per_epoch(n_train))

    def evaluation_interval(self, n_train: int, steps_per_epoch: int | None = None) -> int:
        """``eval_every``, or by default once per epoch but at least 10 evaluations per run (until stopped: once
        per epoch). ``steps_per_epoch``: as in :meth:`total_steps`."""
        if self.eval_every is not None:
            return self.eval_every
        epoch = steps_per_epoch or self.steps_per_epoch(n_train)
        total = self.total_steps(n_train, epoch)
        if total is None:
            return epoch
        return max(1, min(epoch, math.ceil(total / 10)))

    def optimizer_name(self) -> str:
        """The tower spec, or the baseline's name."""
        return self.baseline or self.tower

    def summary(self) -> str:
        """One line, e.g. ``digits/mlp · adam/sgd(1e-05) · batch 64 · 5 epochs · seed 0``."""
        return (f"{self.task}/{self.model} · {self.optimizer_name()} · batch {self.batch_size} · {self.budget} · "
                f"seed {self.seed}")

    # -- JSON --------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A plain, JSON-ready dict of the constructor's keywords (the budget as ``epochs``, ``steps`` or
        ``until_stopped``): ``RunConfig(**config.to_dict()) == config``."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "budget":
                out.update(value.fields())
            elif f.name == "alpha_bounds" and value is not None:
                out[f.name] = list(value)
            elif f.name == "task_options":
                out[f.name] = dict(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """The config with these fields (see :meth:`to_dict`; missing ones take their defaults; unknown ones and
        bad values raise ValueError). Files written with ``epochs``, ``steps`` and ``until_stopped`` all present
        (one set, the others null or false) load too."""
        if not isinstance(data, dict):
            raise ValueError(f"a run config must be a JSON object (a dict), not {type(data).__name__}")
        known = [*(f.name for f in dataclasses.fields(cls) if f.name != "budget"), *_BUDGET_KEYS[:3]]
        unknown = [k for k in data if k not in known]
        if unknown:
            raise ValueError(f"unknown config key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(known)}")
        data = dict(data)
        if isinstance(data.get("alpha_bounds"), list):
            data["alpha_bounds"] = tuple(data["alpha_bounds"])
        if data.get("until_stopped") is None:
            data.pop("until_stopped", None)
        return cls(**data)

    def to_json(self, path) -> None:
        """Write the config to ``path`` as JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    @classmethod
    def from_json(cls, path) -> "RunConfig":
        """Read a config written by :meth:`to_json` (ValueError if it is not valid JSON, has unknown keys or bad
        values)."""
        return cls.from_dict(read_json(path))


def default(name: str):
    """The default of a :class:`RunConfig` field (``"batch_size"`` -> 64; ``"budget"`` -> 5 epochs), for help
    texts and the explorer's controls."""
    f = {f.name: f for f in dataclasses.fields(RunConfig)}[name]
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def read_json(path):
    """The JSON value in the file ``path``; ValueError saying why if it cannot be read or is not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from None
