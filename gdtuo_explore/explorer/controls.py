"""The task controls (task, model, batch size, budget or "until stopped", seed, device) and the run bar (Run, Pause,
Step, Stop, Reset, a speed limit, a progress bar, a status line, why Run is off, notices and step-size alerts).
Widgets are linked to :class:`ExplorerState` traits or call its commands; the run bar redraws from the state's
status traits and the alerts' list, which the engine's dispatcher thread updates."""
from __future__ import annotations

import glob
import html
import os
import re

import ipywidgets as widgets
import traitlets

from ..engine.status import ACTIVE, Status
from ..engine.tasks import TASKS
from ..engine.tasks.registry import default_data_root
from ..engine.tasks.vision import DEBIAN_FASHION_DIR
from .defaults import EXPLORER_PACE
from .state import UNITS, UNTIL_STOPPED, devices

_L = widgets.Layout
BADGES = {**{status: status.value for status in Status}, Status.IDLE: "ready"}
#: The speed menu: label -> steps per second (0: as fast as it goes).
SPEEDS = {"max": 0.0, **{f"{n:,g} step{'' if n == 1 else 's'}/s": float(n)
                          for n in sorted({1000, 300, 100, EXPLORER_PACE, 30, 10, 3, 1}, reverse=True)}}
#: Where a task that may need a download finds its data offline: globs under the data root, or absolute ones.
OFFLINE_DATA = {"mnist": ("MNIST/raw/*-ubyte",), "fashion-mnist": ("FashionMNIST/raw/*-ubyte",
                                                                    f"{DEBIAN_FASHION_DIR}/*-ubyte.gz"),
                "cifar10": ("cifar-10-batches-py/data_batch_*",)}
_COUNT = re.compile(r"(?<![\w.+-])(\d{4,})(?![\w.])")   # a whole number of 4+ digits, not inside 1e+06 or 0.0001


def counts(text: str) -> str:
    """``text`` with its whole numbers of four or more digits grouped by thousands (``step 200000`` -> ``step
    200,000``): one format for every step count the explorer shows."""
    return _COUNT.sub(lambda m: f"{int(m.group(1)):,}", text)


def found_offline(task: str, data_root: str | None = None) -> bool:
    """Whether the data of ``task`` is on this machine (see :data:`OFFLINE_DATA`); True for tasks that never
    download."""
    if not TASKS[task].needs_download:
        return True
    root = data_root or default_data_root()
    return any(glob.glob(os.path.join(root, pattern)) for pattern in OFFLINE_DATA.get(task, ()))


def status_text(status: str, message: str, steps_done: int, total_steps: int | None, epoch: int,
                steps_per_second: float) -> str:
    """The run bar's status line: while running, the step (``of N`` unless the run trains until stopped), the epoch
    and the speed; otherwise the run's message. Step counts in one format (:func:`counts`)."""
    if status != Status.RUNNING:
        return counts(message[:1].upper() + message[1:])
    text = f"Training: step {steps_done:,}" + (" (until stopped)" if total_steps is None else f" of {total_steps:,}")
    text += f", epoch {epoch}"
    if steps_per_second:
        text += f" · {steps_per_second:,.0f} steps/s"
    return text


class TaskControls:
    """What to train on and for how long, as ``widget``."""

    def __init__(self, state):
        self.state = state
        wide = _L(width="97%")
        root = state.options.get("data_root")
        self.task = widgets.Dropdown(description="Task", layout=wide, options=[
            (name + ("" if found_offline(name, root) else " (download)"), name) for name in TASKS])
        self.about = widgets.HTML()
        self.model = widgets.Dropdown(description="Model", layout=wide)
        self.batch_size = widgets.BoundedIntText(description="Batch size", min=1, max=1_000_000, layout=wide)
        self.budget = widgets.BoundedIntText(description="Train for", min=1, max=10_000_000,
                                             layout=_L(flex="1 1 auto", width="auto"))
        self.unit = widgets.Dropdown(options=list(UNITS), layout=_L(width="128px", flex="0 0 auto"))
        self.seed = widgets.BoundedIntText(description="Seed", min=0, max=2 ** 31 - 1, layout=wide)
        self.device = widgets.Dropdown(description="Device", options=devices(), layout=wide)
        for name in ("task", "batch_size", "budget", "unit", "seed", "device"):
            widgets.link((state, name), (getattr(self, name), "value"))
        self._syncing = False
        self.model.observe(self._model_chosen, "value")
        state.observe(self._model_changed, "model")
        state.observe(self._task_changed, "task")
        state.observe(self._unit_changed, "unit")
        self._task_changed(None)
        self._unit_changed(None)
        self.widget = widgets.VBox([self.task, self.about, self.model, self.batch_size,
                                    widgets.HBox([self.budget, self.unit], layout=_L(width="97%")),
                                    self.seed, self.device])

    def _unit_changed(self, _) -> None:
        self.budget.disabled = self.state.unit == UNTIL_STOPPED
        self.budget.tooltip = ("trains until you press Stop" if self.budget.disabled
                               else f"how many {self.state.unit} to train")

    def _task_changed(self, _) -> None:
        spec = TASKS[self.state.task]
        self.about.value = f"<div class='gd-about'>{html.escape(spec.description)}</div>"
        self._syncing = True   # new options reset the menu's value: not a choice of the user's
        try:
            self.model.options = list(spec.models)
            self.model.value = self.state.model
        finally:
            self._syncing = False

    def _model_chosen(self, change) -> None:
        if not self._syncing and change["new"] is not None:
            self.state.model = change["new"]

    def _model_changed(self, change) -> None:
        if change["new"] in self.model.options:
            self.model.value = change["new"]


class RunControls:
    """The run bar, as ``widget``: buttons, progress, status line, notices and the ``alerts`` of a
    :class:`~.alerts.StepSizeAlerts`."""

    def __init__(self, state, alerts):
        self.state = state
        self.run = widgets.Button(description="Run", button_style="primary",
                                  tooltip="Train the tower (or resume a paused run)")
        self.pause = widgets.Button(description="Pause", tooltip="Pause after the current step")
        self.step = widgets.Button(description="Step", tooltip="Train one step, then pause")
        self.stop = widgets.Button(description="Stop", tooltip="Stop; what was recorded stays")
        self.reset = widgets.Button(description="Reset", tooltip="Forget the current run (overlays stay)")
        for name, button in zip(("run", "pause", "step", "stop", "reset"),
                                (self.run, self.pause, self.step, self.stop, self.reset)):
            button.layout = _L(width="auto", min_width="78px", flex="0 0 auto")
            button.add_class("gd-button")
            button.add_class(f"gd-icon-{name}")   # a CSS icon, kept out of the button's accessible name
        self.speed = widgets.Dropdown(description="Speed", options=list(SPEEDS.items()),
                                      tooltip="at most this many steps per second for the run on the charts; "
                                              "applies at once", layout=_L(width="190px", flex="0 0 auto"))
        self.speed.style.description_width = "46px"
        traitlets.link((state, "pace"), (self.speed, "value"),
                       transform=(lambda pace: pace or 0.0, lambda value: value or None))
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, layout=_L(width="160px", flex="0 1 auto"))
        self.progress.add_class("gd-progress")
        self.status = widgets.HTML(layout=_L(flex="1 1 220px", min_width="0"))
        self.blocked = widgets.HTML()
        self.notice = widgets.HTML()
        self.alerts = widgets.HTML()
        self.run.on_click(lambda _: state.start())
        self.pause.on_click(lambda _: state.pause())
        self.step.on_click(lambda _: state.step())
        self.stop.on_click(lambda _: state.stop())
        self.reset.on_click(lambda _: state.reset())
        state.observe(self._status_changed, ["status", "message", "progress", "steps_done", "steps_per_second",
                                             "total_steps", "setup_error"])
        state.observe(self._notice_changed, "notice")
        alerts.observe(self._alerts_changed, "alerts")
        self._status_changed(None)
        self._notice_changed(None)
        bar = widgets.HBox([self.run, self.pause, self.step, self.stop, self.reset, self.speed, self.progress,
                            self.status], layout=_L(align_items="center", flex_flow="row wrap", grid_gap="6px"))
        bar.add_class("gd-bar")
        self.widget = widgets.VBox([bar, self.blocked, self.notice, self.alerts])
        self.widget.add_class("gd-runbar")

    def _status_changed(self, _) -> None:
        s = self.state
        status = s.status
        blocked = bool(s.setup_error) and status not in (Status.RUNNING, Status.PAUSED)   # Run, Step would read the setup
        self.run.disabled = status in (Status.STARTING, Status.RUNNING) or blocked
        self.run.tooltip = ("Resume the paused run" if status == Status.PAUSED else
                            f"Fix the setup first: {s.setup_error}" if blocked else "Train the tower")
        self.pause.disabled = status != Status.RUNNING
        self.step.disabled = status == Status.STARTING or blocked
        self.stop.disabled = status not in ACTIVE
        self.blocked.value = (f"<div class='gd-error gd-blocked'>Run is off until the setup is fixed: "
                              f"{html.escape(s.setup_error)}</div>" if blocked else "")
        until_stopped = s.total_steps is None and status in (Status.RUNNING, Status.PAUSED)
        self.progress.layout.visibility = "hidden" if until_stopped else "visible"
        self.progress.value = s.progress
        message = status_text(status, s.message, s.steps_done, s.total_steps, s.epoch, s.steps_per_second)
        self.status.value = (f"<div class='gd-status'><span class='gd-badge gd-{status}'>{BADGES[status]}</span> "
                             f"{html.escape(message)}</div>")

    def _notice_changed(self, _) -> None:
        notice = self.state.notice
        self.notice.value = f"<div class='gd-notice'>{html.escape(notice)}</div>" if notice else ""

    def _alerts_changed(self, change) -> None:
        self.alerts.value = "".join(f"<div class='gd-alert'>&#9888; {html.escape(a)}</div>" for a in change["new"])
