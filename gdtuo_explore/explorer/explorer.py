"""``Explorer``: hyperoptimizers you can see and touch, in a notebook cell.

    from gdtuo_explore import Explorer
    explorer = Explorer()          # or Explorer(config="~/gdtuo-explore-exports/.../explorer.json")
    explorer                       # shows it; press Run
    explorer.close()               # stops its runs and sweep, frees their models

Left: the task and the tower (level cards, spec text, presets). Top: Run, Pause, Step, Stop, Reset, progress and
status. Right, in tabs: the live charts with the compare bar and its Race button (Train), the sensitivity sweep
(Sweep) and the export with Save figures and the Share control (Export); ``Explorer(controls="basic")`` shows only
the task, the tower, the run bar and the charts. Below the explorer, a picture of its charts for viewers with no
kernel (:mod:`.snapshot`). The layout flows: the tabs go below the left column, and the charts one per row, when the
notebook is narrow.
Training runs in the run engine's background thread, so the notebook stays usable; the same commands are methods
here, with a synchronous face for scripts and tests (``run(wait=True)``, ``wait()``).
"""
from __future__ import annotations

import os
import threading
import time

import ipywidgets as widgets
import traitlets

from ..engine.config import RunConfig, read_json
from ..engine.run import Run
from ..engine.tasks import TASKS
from .alerts import StepSizeAlerts
from .charts import Charts
from .compare_panel import ComparePanel
from .controls import SPEEDS, RunControls, TaskControls
from .defaults import EXPLORER_PACE
from .export import Exporter
from .export_panel import ExportPanel
from .figures import FiguresPanel, save_figures
from .landscape import Landscape
from .message_order import keep_page_order
from .share import SharePanel, check_controls, link_message, read_query
from .snapshot import Snapshot
from .state import FORMAT, TABS, ExplorerState, read_overlays
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
        paces = {value or None for value in SPEEDS.values()}
        if config.get("pace", EXPLORER_PACE) not in paces:
            numbers = ", ".join(f"{p:g}" for p in sorted(p for p in paces if p))
            raise ValueError(f"pace={config['pace']!r} is invalid: use one of {numbers} (steps per second), or null "
                             "(as fast as it goes)")
        read_overlays(config)
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
    """The explorer. ``config``: a setup to open (see :func:`read_setup`); default: Adam / SGD(1e-5) on digits, or
    in Voila the setup in the page's link (see :mod:`.share`). ``controls``: ``"full"`` (default) or ``"basic"``, a
    classroom mode that shows the task, the tower (presets, spec, level cards), the run buttons and the charts, and
    nothing else (no model, budget, seed, speed, overlays, sweep or export); a link can set it too.

    Attributes: ``state`` (the :class:`ExplorerState` every widget observes), ``alerts`` (the current run's
    :class:`~.alerts.StepSizeAlerts`, drawn from its updates), ``exporter`` (the :class:`~.export.Exporter` of what
    the explorer shows), ``widget`` (the root widget), ``picture`` (the :class:`~.snapshot.Snapshot`: the output
    below the explorer that keeps a picture of its charts), and the views ``tower_editor``, ``task_controls``,
    ``run_controls``, ``charts``, ``landscape`` (the surface task's), ``compare_panel``, ``step_table``,
    ``sweep_panel``, ``export_panel``, ``figures_panel``, ``share_panel``. ``controls`` is the mode shown,
    ``link_errors`` the message about a link's values that were left out.
    """

    def __init__(self, config=None, controls: str | None = None):
        self.state = ExplorerState()
        link, overlays = None, []
        if config is not None:
            setup = read_setup(config)
            overlays = read_overlays(setup)
            self.state.load(setup)
        elif os.environ.get("QUERY_STRING"):   # a Voila page's link (see .share)
            link = read_query(os.environ["QUERY_STRING"], self.state.config())
            self.state.load_config(link.config)
            for name, value in link.view.items():
                setattr(self.state, name, value)
            overlays = link.overlays_on(self.state.config())
        self.controls = check_controls(controls or (link and link.controls) or "full")
        self.link_errors = widgets.HTML(link_message(link.errors if link else []))
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
        self.share_panel = SharePanel(self)
        self.figures_panel = FiguresPanel(self)
        self.picture = Snapshot(self)   # after the charts: it draws them once they drew a run's last update
        self.widget = self._lay_out()
        self.state.add_overlays(overlays)   # the overlays of a saved setup train again, with their labels and colours
        # not a daemon: the interpreter's exit waits for it (a thread left inside torch while Python shuts down
        # aborts the process)
        self._warm_up = threading.Thread(target=_warm_up, args=(self.state.config(),),
                                         name="gdtuo-explorer-warm-up", daemon=False)
        self._warm_up.start()

    def _lay_out(self) -> widgets.Widget:
        section = lambda text: widgets.HTML(f"<div class='gd-section'>{text}</div>")  # noqa: E731
        basic = self.controls == "basic"   # the task, the tower, the run bar and the charts, nothing else
        task = (widgets.VBox([self.task_controls.task, self.task_controls.about]) if basic
                else self.task_controls.widget)
        left = widgets.VBox([section("Task"), task, section("Tower"),
                             self.tower_editor.widget], layout=_L(width="390px", flex="0 0 390px"))
        left.add_class("gd-left")
        for box in (self.charts.row, self.charts.levels_box):
            box.add_class("gd-charts")   # wraps: one chart per row when the tab is narrow (see style.py)
        # the surface task's landscape takes the place of the accuracy chart (a surface has no accuracy)
        self.landscape.widget.layout.observe(lambda _: self._landscape_shown(), "display")
        self._landscape_shown()
        train = widgets.VBox([self.charts.row, self.compare_panel.widget, self.charts.levels_box,
                              self.step_table.widget])
        tabs = widgets.Tab([train, self.sweep_panel.widget,
                            widgets.VBox([self.export_panel.widget, self.figures_panel.widget,
                                          self.share_panel.widget])],
                           layout=_L(flex="1 1 440px", min_width="0", max_width="100%"))
        tabs.titles = TABS
        tabs.add_class("gd-tabs")
        traitlets.link((self.state, "tab"), (tabs, "selected_index"),
                       transform=(TABS.index, lambda i: TABS[i or 0]))
        if basic:
            self.run_controls.speed.layout.display = "none"
            tabs = widgets.VBox([self.charts.row, self.charts.levels_box],
                                layout=_L(flex="1 1 440px", min_width="0", max_width="100%"))
        header = widgets.HTML(f"<div class='gd-header'><div class='gd-title'>{TITLE}</div>"
                              f"<div class='gd-sub'>{SUBTITLE}</div></div>")
        body = widgets.HBox([left, tabs], layout=_L(align_items="flex-start", flex_flow="row wrap",
                                                    grid_gap="10px 0"))
        root = widgets.VBox([stylesheet(), header, self.link_errors, self.run_controls.widget, body],
                            layout=_L(max_width="100%"))
        root.add_class("gd-root")
        keep_page_order(root)   # clicks on different widgets are handled in the order they were made
        return root

    def _landscape_shown(self) -> None:
        shown = self.landscape.shown
        self.charts.row.children = (self.landscape.widget, self.charts.loss) + (() if shown else (self.charts.accuracy,))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        """Display the explorer and, below it, the output that keeps a picture of its charts (see :mod:`.snapshot`)."""
        from IPython.display import display

        display(self.widget)
        self.picture.show()

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

    def race(self, wait: bool = False, timeout: float | None = None) -> list:
        """Press Race: start a new run of the setup and every overlay that is a setup (the frozen baseline, compared
        towers, references) together, from step 0, at the Speed setting, each overlay with its label and colour
        (see :meth:`ExplorerState.race`); with ``wait``, block until every one finished (at most ``timeout`` seconds
        in all). Returns their ShownRuns, the run on the charts first. ValueError, changing nothing, while the setup
        cannot run."""
        raced = self.state.race()
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for shown in raced:
                shown.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return raced

    def sweep(self, wait: bool = False, timeout: float | None = None) -> str:
        """Press Start sweep; with ``wait``, block until the sweep ended. Returns its status."""
        self.state.start_sweep()
        return self.state.sweep.wait(timeout) if wait else self.state.sweep.status

    def snapshot(self) -> bytes:
        """Put a picture of the charts as they are below the explorer (replacing the last one), for viewers where the
        live charts cannot draw; returns the PNG. A run also leaves one when it ends, stops or pauses."""
        return self.picture.take()

    def save_figures(self, folder, scale: float = 2.0) -> dict:
        """Write each chart into ``folder`` as a PNG and as a standalone HTML file that works offline (see
        :func:`.figures.save_figures`); returns the paths written."""
        return save_figures(self, folder, scale)

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
