"""The task controls (task, model, batch size, budget, seed, device) and the run bar (Run, Pause, Step, Stop,
Reset, a progress bar and a status line). Widgets are linked to :class:`ExplorerState` traits or call its commands;
the run bar redraws from the state's status traits, which the engine's dispatcher thread updates."""
from __future__ import annotations

import html

import ipywidgets as widgets

from ..engine.tasks import TASKS
from .state import devices

_L = widgets.Layout
BADGES = {"idle": "ready", "starting": "starting", "running": "running", "paused": "paused", "done": "done",
          "stopped": "stopped", "diverged": "diverged", "error": "error"}


class TaskControls:
    """What to train on and for how long, as ``widget``."""

    def __init__(self, state):
        self.state = state
        wide = _L(width="97%")
        self.task = widgets.Dropdown(description="Task", layout=wide, options=[
            (name + (" (download)" if spec.needs_download else ""), name) for name, spec in TASKS.items()])
        self.about = widgets.HTML()
        self.model = widgets.Dropdown(description="Model", layout=wide)
        self.batch_size = widgets.BoundedIntText(description="Batch size", min=1, max=1_000_000, layout=wide)
        self.budget = widgets.BoundedIntText(description="Train for", min=1, max=10_000_000,
                                             layout=_L(width="63%"))
        self.unit = widgets.Dropdown(options=["epochs", "steps"], layout=_L(width="34%"))
        self.seed = widgets.BoundedIntText(description="Seed", min=0, max=2 ** 31 - 1, layout=wide)
        self.device = widgets.Dropdown(description="Device", options=devices(), layout=wide)
        for name in ("task", "batch_size", "budget", "unit", "seed", "device"):
            widgets.link((state, name), (getattr(self, name), "value"))
        self._syncing = False
        self.model.observe(self._model_chosen, "value")
        state.observe(self._model_changed, "model")
        state.observe(self._task_changed, "task")
        self._task_changed(None)
        self.widget = widgets.VBox([self.task, self.about, self.model, self.batch_size,
                                    widgets.HBox([self.budget, self.unit], layout=_L(justify_content="space-between")),
                                    self.seed, self.device])

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
    """The run bar, as ``widget``: buttons, progress, status line, notices and alerts."""

    def __init__(self, state):
        self.state = state
        self.run = widgets.Button(description="Run", button_style="primary",
                                  tooltip="Train the tower (or resume a paused run)")
        self.pause = widgets.Button(description="Pause", tooltip="Pause after the current step")
        self.step = widgets.Button(description="Step", tooltip="Train one step, then pause")
        self.stop = widgets.Button(description="Stop", tooltip="Stop; what was recorded stays")
        self.reset = widgets.Button(description="Reset", tooltip="Forget the current run (overlays stay)")
        for name, button in zip(("run", "pause", "step", "stop", "reset"),
                                (self.run, self.pause, self.step, self.stop, self.reset)):
            button.layout = _L(width="86px")
            button.add_class("gd-button")
            button.add_class(f"gd-icon-{name}")   # a CSS icon, kept out of the button's accessible name
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, layout=_L(width="180px"))
        self.progress.add_class("gd-progress")
        self.status = widgets.HTML(layout=_L(flex="1 1 auto"))
        self.notice = widgets.HTML()
        self.alerts = widgets.HTML()
        self.run.on_click(lambda _: state.start())
        self.pause.on_click(lambda _: state.pause())
        self.step.on_click(lambda _: state.step())
        self.stop.on_click(lambda _: state.stop())
        self.reset.on_click(lambda _: state.reset())
        state.observe(self._status_changed, ["status", "message", "progress", "steps_done", "steps_per_second"])
        state.observe(self._notes_changed, ["notice", "alerts"])
        self._status_changed(None)
        self._notes_changed(None)
        bar = widgets.HBox([self.run, self.pause, self.step, self.stop, self.reset, self.progress, self.status],
                           layout=_L(align_items="center", grid_gap="6px"))
        self.widget = widgets.VBox([bar, self.notice, self.alerts])
        self.widget.add_class("gd-runbar")

    def _status_changed(self, _) -> None:
        s = self.state
        status = s.status
        self.run.disabled = status in ("starting", "running")
        self.run.tooltip = "Resume the paused run" if status == "paused" else "Train the tower"
        self.pause.disabled = status != "running"
        self.step.disabled = status == "starting"
        self.stop.disabled = status not in ("starting", "running", "paused")
        self.progress.value = s.progress
        if status == "running":
            message = f"Training: step {s.steps_done:,} of {s.total_steps:,}, epoch {s.epoch}"
            if s.steps_per_second:
                message += f" · {s.steps_per_second:,.0f} steps/s"
        else:
            message = s.message[:1].upper() + s.message[1:]
        self.status.value = (f"<div class='gd-status'><span class='gd-badge gd-{status}'>{BADGES[status]}</span> "
                             f"{html.escape(message)}</div>")

    def _notes_changed(self, _) -> None:
        s = self.state
        self.notice.value = f"<div class='gd-notice'>{html.escape(s.notice)}</div>" if s.notice else ""
        self.alerts.value = "".join(f"<div class='gd-alert'>&#9888; {html.escape(a)}</div>" for a in s.alerts)
