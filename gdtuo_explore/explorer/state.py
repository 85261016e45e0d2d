"""``ExplorerState``: the explorer's one model. Every widget observes it or calls its commands; nothing else holds
state.

It holds the setup of the next run (the tower spec, task, model, batch size, budget, seed, device), why that setup
cannot run (``setup_error``), the speed limit of the run on the charts (``pace``), the open tab (``tab``), the run
on the charts (``current``) and the finished or reference runs drawn as overlays (``compared``), the current run's
status line and the sweep (:class:`SweepState`). :meth:`race` starts a new run and every overlay that is a setup
together. Run updates arrive from the engine's dispatcher thread; the state hands them to listeners registered with
:meth:`on_update` (the charts, the compare table, the step-size alerts of :mod:`.alerts`) first, then turns them
into traits (status, message, progress), so the status line never runs ahead of the charts. Exporting what the
explorer shows is :mod:`.export`'s. :meth:`close` stops every thread the state owns.
"""
from __future__ import annotations

import threading

import torch
from traitlets import Dict, Enum, Float, HasTraits, Instance, Int, List, Unicode, observe

from ..core.columns import parse_column
from ..engine.baselines import BASELINES, check_baseline
from ..engine.config import Budget, RunConfig, baseline_spec, default
from ..engine.status import ACTIVE, Status
from ..engine.tasks import TASKS
from . import tower_edits
from .defaults import EXPLORER_BUDGET, EXPLORER_NICE, EXPLORER_PACE, EXPLORER_THREADS
from .shown_run import COLORS, ShownRun, launch_together
from .sweep_state import SweepState
from .traits import StatusTrait

UNITS = Budget.UNITS
UNTIL_STOPPED = UNITS[2]
READY = "Ready: choose a tower and press Run."
MAX_COMPARED = 8      # overlays kept; the oldest goes first (and is stopped)
FORMAT = "gdtuo-explore explorer"
TABS = ("Train", "Sweep", "Export")


def devices() -> list[tuple[str, str]]:
    """The devices this kernel can train on, GPU first: ``[(label, device name), ...]``."""
    out = [(f"cuda:{i} ({torch.cuda.get_device_name(i)})", f"cuda:{i}") for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append(("mps (Apple GPU)", "mps"))
    return out + [("cpu", "cpu")]


def read_overlays(data: dict) -> list[tuple[str, str, RunConfig]]:
    """The overlays of a state written by :meth:`ExplorerState.to_dict`: ``(label, colour, config)`` each
    (ValueError naming a bad one)."""
    overlays = data.get("overlays") or []
    if not isinstance(overlays, list):
        raise ValueError(f"overlays must be a list, not {type(overlays).__name__}")
    out = []
    for i, item in enumerate(overlays, 1):
        if not isinstance(item, dict) or not isinstance(item.get("config"), dict):
            raise ValueError(f"overlay {i} must be an object with a 'config' object, not {item!r}")
        label, color = item.get("label"), item.get("color")
        if not (label is None or isinstance(label, str)) or not (color is None or isinstance(color, str)):
            raise ValueError(f"overlay {i}'s label and color must be text, not {label!r} and {color!r}")
        try:
            config = RunConfig.from_dict(item["config"])
        except ValueError as err:
            raise ValueError(f"overlay {i}: {err}") from None
        out.append((label, color, config))
    return out


class ExplorerState(HasTraits):
    """The setup, the runs on the charts and their status. Commands are methods; views observe the traits."""

    # the setup of the next run
    tower = Unicode(tower_edits.canonical(tower_edits.DEFAULT_TOWER), help="canonical tower spec, bottom level first")
    spec_error = Unicode("", help="why the last tower edit was refused ('' if it was not)")
    task = Unicode(default("task"))
    model = Unicode(TASKS[default("task")].default_model)
    batch_size = Int(default("batch_size"))
    budget = Int(EXPLORER_BUDGET.count, help="how many epochs or steps (see unit)")
    unit = Enum(UNITS, EXPLORER_BUDGET.unit, help="the unit of budget; 'until stopped' ignores budget")
    seed = Int(default("seed"))
    device = Unicode(devices()[0][1])
    options = Dict(help="other RunConfig fields (data_root, task_options, eval_every, ...), passed through")
    setup_error = Unicode("", help="why the setup cannot start a run ('' if it can): a refused tower edit or a bad "
                                   "field; Run and Step stay off while it is set")
    pace = Float(EXPLORER_PACE, allow_none=True, help="at most this many steps per second for the run on the "
                                                      "charts (None: as fast as it goes); applies at once")
    tab = Enum(TABS, TABS[0], help="the tab shown beside the setup")

    # the runs
    current = Instance(ShownRun, allow_none=True, help="the run on the charts")
    compared = List(help="finished and reference runs drawn as overlays (ShownRun)")
    status = StatusTrait()
    message = Unicode(READY)
    progress = Float(0.0)
    steps_done = Int(0)
    total_steps = Int(0, allow_none=True, help="the current run's length; None for a run until stopped")
    epoch = Int(0)
    steps_per_second = Float(0.0)
    notice = Unicode("", help="a note about the setup, e.g. that a change applies to the next run")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sweep = SweepState()
        self._listeners = []
        self._lock = threading.RLock()
        self._colors: dict[str, str] = {}   # overlay key -> colour (see color_for)
        self._racers: list[ShownRun] = []   # the overlays of the race under way: Pause, Step, Run and Stop act on them too
        self._check_setup(None)

    # -- the setup -------------------------------------------------------------------------------------------
    def edit_tower(self, edit, *args) -> bool:
        """Apply ``edit(tower, *args) -> spec`` (see :mod:`.tower_edits`); on ValueError keep the tower and set
        ``spec_error``. Returns whether the tower changed."""
        try:
            spec = edit(self.tower, *args)
        except ValueError as err:
            self.spec_error = str(err)
            return False
        self.spec_error = ""
        self.tower = spec
        return True

    def set_tower(self, spec: str) -> bool:
        """Set the tower from spec text (canonicalised); a bad spec sets ``spec_error`` instead."""
        return self.edit_tower(lambda _, text: tower_edits.canonical(text), spec)

    def apply_preset(self, name: str) -> bool:
        """Set the tower to one of :data:`tower_edits.PRESETS`."""
        return self.set_tower(tower_edits.PRESETS[name])

    @observe("task")
    def _task_changed(self, change) -> None:
        if self.model not in TASKS[change["new"]].models:
            self.model = TASKS[change["new"]].default_model
        self.set_task_option("start", None)   # a start on the landscape (a click) is a point of one surface

    @observe("model")
    def _model_changed(self, change) -> None:
        self.set_task_option("start", None)

    def set_task_option(self, name: str, value) -> None:
        """Set the task option ``name`` of the next run (``RunConfig.task_options``) to ``value`` (None removes
        it), e.g. ``set_task_option("start", "1,1")`` for the surface task; a bad value shows in ``setup_error``."""
        options = dict(self.options.get("task_options") or {})
        if value is None and name not in options:
            return
        if value is None:
            options.pop(name)
        else:
            options[name] = value
        self.options = {**{k: v for k, v in self.options.items() if k != "task_options"},
                        **({"task_options": options} if options else {})}

    @observe("tower", "task", "model", "batch_size", "budget", "unit", "seed", "device")
    def _setup_changed(self, change) -> None:
        if self.status in ACTIVE and self.current is not None:
            self.notice = (f"Changes apply to the next run; the run on the charts keeps "
                           f"{self.current.config.tower} on {self.current.config.task}.")

    @observe("spec_error", "tower", "task", "model", "batch_size", "budget", "unit", "seed", "device", "options")
    def _check_setup(self, change) -> None:
        """``setup_error``: the refused tower edit, else what :meth:`RunConfig.validate` says about the setup."""
        if self.spec_error:
            self.setup_error = f"the tower is invalid: {self.spec_error}"
            return
        try:
            self.config()
        except (ValueError, TypeError) as err:
            self.setup_error = str(err)
        else:
            self.setup_error = ""

    def run_budget(self) -> Budget:
        """The budget of the setup (ValueError if ``budget`` is not a count >= 1)."""
        return Budget(UNTIL_STOPPED) if self.unit == UNTIL_STOPPED else Budget(self.unit, self.budget)

    def config(self) -> RunConfig:
        """The setup as a :class:`RunConfig` (ValueError naming a bad field)."""
        # hypergradients always recorded, also in a loaded config: the step table shows them (see step_table.py)
        options = {"threads": EXPLORER_THREADS, "nice": EXPLORER_NICE, **self.options, "record_hypergrads": True}
        return RunConfig(task=self.task, model=self.model, tower=self.tower, batch_size=self.batch_size,
                         seed=self.seed, device=self.device, budget=self.run_budget(), **options)

    def load_config(self, config: RunConfig) -> None:
        """Set the setup from a run config (ValueError naming a bad field). Its tower is the setup's tower (a
        ``baseline`` is not part of the setup); device ``auto``, or one this kernel lacks, becomes the first
        available device (the latter with a notice)."""
        if not isinstance(config, RunConfig):
            raise ValueError(f"config must be a RunConfig, not {type(config).__name__}")
        fields = config.to_dict()
        self.set_tower(fields.pop("tower"))
        self.task = fields.pop("task")
        self.model = fields.pop("model")
        self.batch_size = fields.pop("batch_size")
        for key in ("epochs", "steps", "until_stopped"):
            fields.pop(key, None)
        self.unit = config.budget.unit
        if config.budget.count is not None:
            self.budget = config.budget.count
        self.seed = fields.pop("seed")
        names = [name for _, name in devices()]
        device = {"auto": names[0], "cuda": "cuda:0"}.get(config.device, config.device)
        if device not in names:
            self.notice = f"This kernel has no device {config.device!r}: using {names[0]}."
            device = names[0]
        self.device = device
        for name in ("device", "baseline"):
            fields.pop(name)
        self.options = {k: v for k, v in fields.items() if v not in (None, {})}

    def to_dict(self) -> dict:
        """The explorer's state as JSON-ready data: the next run's config, the sweep settings, the pace, the open
        tab and the overlays to re-create (each one's label, colour and config)."""
        overlays = [{"label": s.label, "color": s.color, "config": s.config.to_dict()} for s in self.compared]
        return {"format": FORMAT, "version": 1, "config": self.config().to_dict(), "sweep": self.sweep.settings(),
                "pace": self.pace, "tab": self.tab, "overlays": overlays}

    def load(self, data: dict) -> None:
        """Restore a state written by :meth:`to_dict`: the setup, the sweep settings, the pace and the tab (the
        overlays are re-created by :meth:`add_overlays`, from :func:`read_overlays`)."""
        self.load_config(RunConfig.from_dict(data["config"]))
        self.sweep.load(data.get("sweep", {}))
        if "pace" in data:
            self.pace = data["pace"]
        if data.get("tab") is not None:
            if data["tab"] not in TABS:
                raise ValueError(f"tab={data['tab']!r} is invalid: use one of {', '.join(TABS)}")
            self.tab = data["tab"]

    def add_overlays(self, overlays: list[tuple[str, str, RunConfig]]) -> list[ShownRun]:
        """Train each ``(label, colour, config)`` as an overlay, with that label and colour."""
        out = []
        for label, color, config in overlays:
            shown = ShownRun(config, self._observe, label, key=label)   # a setup again: a race trains it too
            shown.color = color or shown.color
            with self._lock:
                evicted = self._keep(shown)
            for old in evicted:
                old.close()
            shown.launch(on_error=self._start_failed)
            out.append(shown)
        return out

    # -- runs --------------------------------------------------------------------------------------------------
    def on_update(self, listener) -> None:
        """Call ``listener(shown, update)`` for every update of every shown run (from the engine's threads), and
        ``listener(shown, None)`` when a run could not be built (``shown.error`` says why)."""
        self._listeners.append(listener)

    def start(self) -> bool:
        """Run: resume a paused run, or start a new one from the setup (the previous run becomes an overlay).
        Does nothing (returns False) while a run is starting or running, so a double click starts one run, nor
        while the setup is invalid (``setup_error``): it never trains an older tower instead."""
        return self._start(None)

    def step(self, n: int = 1) -> bool:
        """Train ``n`` steps, then pause: on the paused or running run, or on a new one."""
        with self._lock:
            if self.status in (Status.RUNNING, Status.PAUSED) and self.current is not None and self.current.run is not None:
                for shown in [self.current, *self._racing()]:   # a race steps together
                    if shown.run is not None and shown.run.status in (Status.RUNNING, Status.PAUSED):
                        shown.run.step(n, wait=False)
                return True
        return self._start(n)

    def _start(self, steps: int | None) -> bool:
        with self._lock:
            if self.status in (Status.STARTING, Status.RUNNING):
                return False
            if self.status == Status.PAUSED and self.current is not None and self.current.run is not None:
                for shown in [self.current, *self._racing()]:   # a race resumes together
                    if shown.run is not None and shown.run.status == Status.PAUSED:
                        shown.run.resume()
                return True
            if self.setup_error:
                return False
            previous = self.current
            config = self.config()
            shown = ShownRun(config, self._observe, pace=self.pace)
            shown.color = self.color_for(shown.label)
            self._racers = []   # a run of its own: the overlays of an earlier race go their own way
            self._clear(Status.STARTING, f"Preparing {config.task} / {config.model} ...")
            kept = previous is not None and previous.run is not None and previous.run.steps_done > 0
            evicted = self._keep(previous) if kept else []
            self.current = shown
        for old in evicted + ([previous] if previous is not None and not kept else []):
            old.close()
        if kept:
            previous.close()   # finished: its records stay on the charts, its model and threads go
        shown.launch(steps, on_error=self._start_failed)
        return True

    def race(self) -> list[ShownRun]:
        """Race: start, from step 0 and at the same instant, a new run of the setup and every overlay that is a setup
        (:meth:`race_overlays`: the frozen baseline, compared towers, references), each overlay with its label,
        colour and config, all on one schedule at the explorer's ``pace``. The runs they replace are stopped and
        leave the charts; finished runs that Run left as overlays stay as they are. The run on the charts leaves too
        if it is a run of the same setup (it keeps its colour); a run of another setup stays as a finished overlay,
        as Run leaves it. Every run is built first and none trains before the slowest is built. Returns the runs
        raced, the run on the charts first. Until the next Run or Reset, Pause, Step, Run (resume) and Stop act on
        every run of the race. ValueError, changing nothing, while the setup cannot run (``setup_error``)."""
        with self._lock:
            if self.setup_error:
                raise ValueError(f"cannot race: the setup cannot run: {self.setup_error}")
            config = self.config()
            previous = self.current
            again = previous is not None and previous.config == config
            shown = ShownRun(config, self._observe, pace=self.pace)
            shown.color = previous.color if again else self.color_for(shown.label)
            kept = not again and previous is not None and previous.run is not None and previous.run.steps_done > 0
            replaced, compared, racers = [], [], []
            for old in self.compared:
                if old.key is None:
                    compared.append(old)
                    continue
                new = ShownRun(old.config, self._observe, old.label, pace=self.pace, color=old.color, key=old.key)
                old.cancel()
                replaced.append(old)
                compared.append(new)
                racers.append(new)
            if previous is not None:
                previous.cancel()
            self._clear(Status.STARTING, f"Preparing a race of {1 + len(racers)} runs on {config.task} / "
                                         f"{config.model} ...")
            self.compared = compared
            evicted = self._keep(previous) if kept else []
            racers = [x for x in racers if x in self.compared]   # the oldest may have made way for the kept run
            self.current, self._racers = shown, list(racers)
        for old in replaced + evicted + ([previous] if previous is not None else []):
            old.close()   # a kept run's records stay on the charts, its model and threads go
        launch_together([shown, *racers], on_error=self._start_failed)
        return [shown, *racers]

    def race_overlays(self) -> list[ShownRun]:
        """The overlays a :meth:`race` trains again: those that are setups (the frozen baseline, compared towers,
        references, and the overlays of a saved setup), not the finished runs Run left on the charts."""
        return [x for x in self.compared if x.key is not None]

    @observe("pace")
    def _pace_changed(self, change) -> None:
        for shown in [self.current, *self.compared]:   # a race: every run on the charts at the one pace
            if shown is not None and shown.status in ACTIVE:
                shown.set_pace(change["new"])

    def _clear(self, status: Status, message: str) -> None:
        """A fresh status line: no notice, progress or speed."""
        self.notice = ""
        self.progress, self.steps_done, self.epoch, self.steps_per_second = 0.0, 0, 0, 0.0
        self.message, self.status = message, status   # the message first: a status never shows the last one's

    def _start_failed(self, shown: ShownRun) -> None:
        for listener in self._listeners:
            listener(shown, None)
        with self._lock:
            if shown is self.current:
                self.message, self.status = shown.error, Status.ERROR

    def pause(self) -> None:
        """Pause the current run after its current step (in a race, every run of the race)."""
        for shown in [self.current, *self._racing()]:
            if shown is not None and shown.run is not None:
                shown.run.pause(wait=False)

    def _racing(self) -> list[ShownRun]:
        """The overlays of the race under way (:meth:`race`) that are still on the charts."""
        with self._lock:
            self._racers = [x for x in self._racers if x in self.compared]
            return list(self._racers)

    def stop(self) -> None:
        """Stop the current run (in a race, every run of the race); what they recorded stays on the charts."""
        for racer in self._racing():
            racer.cancel()
        with self._lock:
            shown = self.current
            if shown is None or self.status not in ACTIVE:
                return
            shown.cancel()
            if shown.run is None or shown.run.status == Status.STOPPED:
                self.message, self.status = "stopped before it started", Status.STOPPED

    def reset(self) -> None:
        """Stop and forget the current run, releasing its model (overlays stay); the charts show the setup again."""
        with self._lock:
            shown, self.current, self._racers = self.current, None, []   # a race's overlays go their own way
            if shown is not None:
                shown.cancel()
            self._clear(Status.IDLE, READY)
        if shown is not None:
            shown.close()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the current run finished (or ``timeout`` seconds passed); returns the status."""
        shown = self.current
        if shown is not None:
            shown.wait(timeout)
        return self.status

    # -- nudges --------------------------------------------------------------------------------------------------
    def _nudged_run(self, column: str):
        shown = self.current
        run = shown.run if shown is not None else None
        if run is None or run.status not in (Status.RUNNING, Status.PAUSED):
            raise ValueError(f"cannot nudge {column}: no run is training or paused; press Run or Step first")
        return run

    def hyperparameter(self, column: str) -> float:
        """The value of the hyperparameter ``column`` (``"level1.alpha"``) in the run on the charts now (ValueError
        if no run trains or is paused, or it has no such hyperparameter)."""
        run = self._nudged_run(column)
        level, name = parse_column(column)
        values = run.optimizer.hyperparameters() if run.optimizer is not None and run.baseline is None else []
        if not 1 <= level <= len(values) or name not in values[level - 1]:
            raise ValueError(f"cannot nudge {column!r}: it is not a hyperparameter of the run on the charts; its "
                             f"hyperparameters: {', '.join(run.hyperparameter_columns)}")
        return values[level - 1][name]

    def nudge(self, column: str, value) -> dict:
        """Set the hyperparameter ``column`` of the run on the charts to ``value`` while it trains or is paused
        (:meth:`Run.nudge <gdtuo_explore.engine.run.Run.nudge>`); returns the nudge's record. ValueError naming it,
        changing nothing, for a bad column or value, or when no run trains or is paused."""
        return self._nudged_run(column).nudge(column, value)

    def nudge_by(self, column: str, factor: float) -> dict:
        """Multiply the hyperparameter ``column`` of the run on the charts by ``factor`` (see :meth:`nudge`)."""
        return self.nudge(column, self.hyperparameter(column) * factor)

    # -- comparisons -------------------------------------------------------------------------------------------
    def add_baseline(self) -> ShownRun:
        """Train the tower's bottom level alone, its hyperparameters frozen at their initial values, as an
        overlay (same task, model, budget and seed)."""
        spec = baseline_spec(self.tower)
        return self._add(f"frozen: {tower_edits.full_spec(spec)}", self.config().replace(tower=spec), "frozen")

    def add_reference(self, name: str) -> ShownRun:
        """Train a learning-rate-free optimizer (``prodigy``, ``schedulefree``, ``dadaptation``) as an overlay."""
        return self._add(BASELINES[name][2], self.config().replace(baseline=name), name)

    def add_compare(self, spec: str, name: str | None = None) -> ShownRun:
        """Train the tower ``spec`` on the setup's task, model, budget and seed as an overlay, labelled ``name`` (e.g.
        "plain" or "tower") and its full spec (:func:`.tower_edits.full_spec`). Its colour follows the name (or, without
        one, the spec): the same overlay keeps its colour when added again, after Clear or Reset. ValueError naming
        a bad spec or name, adding nothing."""
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"name={name!r} is invalid: give a short text such as 'plain' or 'tower', or None")
        if not isinstance(spec, str):
            raise ValueError(f"spec={spec!r} is invalid: give a tower spec such as 'sgd(0.01)/sgd(1e-5)'")
        try:
            spec = tower_edits.canonical(spec)
        except ValueError as err:
            raise ValueError(f"spec={spec!r} is invalid: {err}") from None
        full = tower_edits.full_spec(spec)
        label = f"{name.strip()}: {full}" if name is not None else full
        return self._add(label, self.config().replace(tower=spec), name.strip() if name is not None else full)

    def color_for(self, key: str) -> str:
        """The colour of the runs with this key (a name, a role such as "frozen", a reference optimizer's name, or a
        run's label): given on first use, the next of :data:`.shown_run.COLORS`, and kept for the explorer's life, so
        an overlay keeps its colour across Clear and Reset and when it is added again."""
        with self._lock:
            if key not in self._colors:
                self._colors[key] = COLORS[len(self._colors) % len(COLORS)]
            return self._colors[key]

    @staticmethod
    def reference_available(name: str) -> str:
        """'' if the reference optimizer ``name`` can run here, else why not."""
        try:
            check_baseline(name)
        except ValueError as err:
            return str(err)
        return ""

    def _add(self, label: str, config: RunConfig, key: str) -> ShownRun:
        shown = ShownRun(config, self._observe, label, pace=self.pace, color=self.color_for(key), key=key)
        with self._lock:
            evicted = self._keep(shown)
        for old in evicted:
            old.close()
        shown.launch(on_error=self._start_failed)
        return shown

    def _keep(self, shown: ShownRun) -> list[ShownRun]:
        """Add an overlay (caller holds the lock); returns the oldest ones beyond :data:`MAX_COMPARED`, which the
        caller must close once it released the lock."""
        compared = list(self.compared) + [shown]
        evicted, self.compared = compared[:-MAX_COMPARED], compared[-MAX_COMPARED:]
        for old in evicted:
            old.cancel()
        return evicted

    def remove_compared(self, shown: ShownRun) -> bool:
        """Remove one overlay (stopping it if it still trains); False if it is not an overlay."""
        with self._lock:
            if shown not in self.compared:
                return False
            self.compared = [x for x in self.compared if x is not shown]
            shown.cancel()
        shown.close()
        return True

    def clear_compared(self) -> None:
        """Remove every overlay (reference runs still training are stopped)."""
        with self._lock:
            old, self.compared = self.compared, []
            for shown in old:
                shown.cancel()
        for shown in old:
            shown.close()

    def close(self) -> None:
        """Stop every run this state started (current, overlays, sweep), wait for their threads to end and release
        their models. Records stay readable. Safe to call twice."""
        with self._lock:
            shown = [self.current, *self.compared]
            for x in shown:
                if x is not None:
                    x.cancel()
        for x in shown:
            if x is not None:
                x.close()
        self.sweep.close()

    # -- the sweep ----------------------------------------------------------------------------------------------
    def start_sweep(self) -> bool:
        """Start the sweep (see :class:`SweepState`) on the setup's task, model, batch size, seed and device."""
        return self.sweep.start(self.task, self.model, self.batch_size, self.seed, self.device)

    # -- updates from the engine -----------------------------------------------------------------------------
    def _observe(self, shown: ShownRun, update) -> None:
        for listener in self._listeners:   # the charts first: the status line never runs ahead of them
            listener(shown, update)
        with self._lock:   # a run that stopped being current (Run, Reset) no longer writes the status line
            if shown is self.current:
                self.steps_done, self.total_steps, self.epoch = update.step, update.total_steps, update.epoch
                self.progress, self.steps_per_second = update.progress or 0.0, update.steps_per_second
                self.message, self.status = update.message, update.status   # the message first (see _clear)
