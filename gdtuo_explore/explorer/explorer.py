"""``Explorer``: hyperoptimizers you can see and touch, in a notebook cell.

    from gdtuo_explore import Explorer
    explorer = Explorer()          # or Explorer(config="~/gdtuo-explore-exports/.../explorer.json")
    explorer                       # shows it; press Run
    explorer.close()               # stops its runs and sweep, frees their models

Left: the task and the tower (level cards, spec text, presets). Top: Run, Pause, Step, Stop, Reset, progress and
status. Right, in tabs: the live charts with the compare bar (Train), the sensitivity sweep (Sweep) and the export
(Export). The layout flows: the tabs go below the left column, and the charts one per row, when the notebook is
narrow. Training runs in the run engine's background thread, so the notebook stays usable; the same commands
are methods here, with a synchronous face for scripts and tests (``run(wait=True)``, ``wait()``).
"""
from __future__ import annotations

import os
import threading

import ipywidgets as widgets

from ..engine.config import RunConfig, read_json
from ..engine.run import Run
from ..engine.tasks import TASKS
from .alerts import StepSizeAlerts
from .charts import Charts
from .compare_panel import ComparePanel
from .controls import RunControls, TaskControls
from .export import Exporter
from .export_panel import ExportPanel
from .landscape import Landscape
from .message_order import keep_page_order
from .state import FORMAT, ExplorerState
from .step_table import StepTable
from .style import stylesheet
from .sweep_panel import SweepPanel
from .tower_editor import TowerEditor

_L = widgets.Layout
TITLE = "Gradient Descent: The Ultimate Optimizer"
SUBTITLE = ("Stack optimizers into a tower, press Run and watch each level tune the one below it "
            "(Chandra et al., NeurIPS 2022).")


def read_setup(config) -> dict:
    """The explorer state (as :meth:`ExplorerState.to_dict`) from ``config``: a :class:`RunConfig`, a dict (saved
    explorer state or RunConfig fields), or a path to a JSON file holding either. ValueError if unreadable."""
    if isinstance(config, RunConfig):
        return {"config": config.to_dict()}
    if isinstance(config, (str, os.PathLike)):
        config = read_json(config)
    if not isinstance(config, dict):
        raise ValueError(f"config must be a RunConfig, a dict or a path to a JSON file, not {type(config).__name__}")
    if config.get("format") == FORMAT:
        return config
    return {"config": RunConfig.from_dict(config).to_dict()}


def _warm_up(config: RunConfig) -> None:
    """Build (never start) one run of ``config`` so the first click on Run does not pay for one-time imports and
    data loading. Tasks that need a download are left alone; any failure is left for the real run to report."""
    if TASKS[config.task].needs_download:
        return
    try:
        Run(config)
    except Exception:  # noqa: BLE001 - the real run reports it
        pass


class Explorer:
    """The explorer. ``config``: a setup to open (see :func:`read_setup`); default: Adam / SGD(1e-5) on digits.

    Attributes: ``state`` (the :class:`ExplorerState` every widget observes), ``alerts`` (the current run's
    :class:`~.alerts.StepSizeAlerts`, drawn from its updates), ``exporter`` (the :class:`~.export.Exporter` of what
    the explorer shows), ``widget`` (the root widget), and the views ``tower_editor``, ``task_controls``,
    ``run_controls``, ``charts``, ``landscape`` (the surface task's), ``compare_panel``, ``step_table``, ``sweep_panel``,
    ``export_panel``.
    """

    def __init__(self, config=None):
        self.state = ExplorerState()
        if config is not None:
            self.state.load(read_setup(config))
        self.tower_editor = TowerEditor(self.state)
        self.task_controls = TaskControls(self.state)
        self.charts = Charts(self.state)   # the first to see each update: the status line never runs ahead of it
        self.landscape = Landscape(self.state)   # the surface task's contours and paths (hidden for other tasks)
        self.compare_panel = ComparePanel(self.state)
        self.alerts = StepSizeAlerts(self.state)
        self.exporter = Exporter(self.state)
        self.run_controls = RunControls(self.state, self.alerts)
        self.step_table = StepTable(self.state)   # what one update did, in a paused run (after the status line)
        self.sweep_panel = SweepPanel(self.state)
        self.export_panel = ExportPanel(self.exporter)
        self.widget = self._lay_out()
        self._warm_up = threading.Thread(target=_warm_up, args=(self.state.config(),),
                                         name="gdtuo-explorer-warm-up", daemon=True)
        self._warm_up.start()

    def _lay_out(self) -> widgets.Widget:
        section = lambda text: widgets.HTML(f"<div class='gd-section'>{text}</div>")  # noqa: E731
        left = widgets.VBox([section("Task"), self.task_controls.widget, section("Tower"),
                             self.tower_editor.widget], layout=_L(width="390px", flex="0 0 390px"))
        left.add_class("gd-left")
        for box in (self.charts.row, self.charts.levels_box):
            box.add_class("gd-charts")   # wraps: one chart per row when the tab is narrow (see style.py)
        # the surface task's landscape takes the place of the accuracy chart (a surface has no accuracy)
        self.landscape.widget.layout.observe(lambda _: self._landscape_shown(), "display")
        self._landscape_shown()
        train = widgets.VBox([self.charts.row, self.compare_panel.widget, self.charts.levels_box,
                              self.step_table.widget])
        tabs = widgets.Tab([train, self.sweep_panel.widget, self.export_panel.widget],
                           layout=_L(flex="1 1 440px", min_width="0", max_width="100%"))
        tabs.titles = ("Train", "Sweep", "Export")
        tabs.add_class("gd-tabs")
        header = widgets.HTML(f"<div class='gd-header'><div class='gd-title'>{TITLE}</div>"
                              f"<div class='gd-sub'>{SUBTITLE}</div></div>")
        body = widgets.HBox([left, tabs], layout=_L(align_items="flex-start", flex_flow="row wrap",
                                                    grid_gap="10px 0"))
        root = widgets.VBox([stylesheet(), header, self.run_controls.widget, body], layout=_L(max_width="100%"))
        root.add_class("gd-root")
        keep_page_order(root)   # clicks on different widgets are handled in the order they were made
        return root

    def _landscape_shown(self) -> None:
        shown = self.landscape.shown
        self.charts.row.children = (self.landscape.widget, self.charts.loss) + (() if shown else (self.charts.accuracy,))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # -- commands (what the buttons do) ------------------------------------------------------------------------
    def run(self, wait: bool = False, timeout: float | None = None) -> str:
        """Press Run: start (or resume) the run of the current setup. With ``wait``, block until it finished and
        the charts got its last update. Returns the status."""
        self.state.start()
        return self.wait(timeout) if wait else self.state.status

    def pause(self) -> None:
        """Press Pause."""
        self.state.pause()

    def step(self, n: int = 1) -> None:
        """Press Step (``n`` steps, then pause)."""
        self.state.step(n)

    def stop(self) -> None:
        """Press Stop."""
        self.state.stop()

    def reset(self) -> None:
        """Press Reset."""
        self.state.reset()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the current run finished (or ``timeout`` seconds passed); returns its status."""
        return self.state.wait(timeout)

    def add_baseline(self, wait: bool = False, timeout: float | None = None):
        """Add the frozen baseline as an overlay; with ``wait``, block until it finished. Returns its ShownRun."""
        shown = self.state.add_baseline()
        if wait:
            shown.wait(timeout)
        return shown

    def add_reference(self, name: str, wait: bool = False, timeout: float | None = None):
        """Add a learning-rate-free optimizer (``prodigy``, ``schedulefree``, ``dadaptation``) as an overlay."""
        shown = self.state.add_reference(name)
        if wait:
            shown.wait(timeout)
        return shown

    def add_compare(self, spec: str, name: str | None = None, wait: bool = False, timeout: float | None = None):
        """Add the tower ``spec`` as an overlay, trained on the same task, budget and seed at the same pace, labelled
        ``name`` (e.g. "plain", "tower") and its full spec; with ``wait``, block until it finished. Returns its
        ShownRun. ValueError for a bad spec or name. See :meth:`ExplorerState.add_compare`."""
        shown = self.state.add_compare(spec, name)
        if wait:
            shown.wait(timeout)
        return shown

    def sweep(self, wait: bool = False, timeout: float | None = None) -> str:
        """Press Start sweep; with ``wait``, block until the sweep ended. Returns its status."""
        self.state.start_sweep()
        return self.state.sweep.wait(timeout) if wait else self.state.sweep.status

    def export(self, directory=None) -> dict:
        """Export to ``directory`` (default: the Export tab's folder; see :meth:`.export.Exporter.export`); returns
        the paths written."""
        return self.exporter.export(directory)

    def close(self) -> None:
        """Stop every thread this explorer started (the run on the charts, paused or not, the overlays, the sweep,
        the builders and the warm-up) and wait for them to end, releasing the runs' models. What was recorded stays
        on the charts. Safe to call twice."""
        self.state.close()
        self._warm_up.join()

    @property
    def current_run(self) -> Run | None:
        """The engine's :class:`Run` on the charts (None before the first run, or while it is being built)."""
        return self.state.current.run if self.state.current is not None else None

    def __repr__(self) -> str:
        return f"Explorer(tower={self.state.tower!r}, task={self.state.task!r}, status={self.state.status!r})"
