"""The live charts: loss (train loss raw and smoothed, test loss), test accuracy, and one chart per level of the
tower whose hyperparameters can change. The top level of a tower of two or more levels learns nothing (no level
above it tunes it), so it gets one line of text instead of a chart. Every line of a run has the run's colour
(its hyperparameters differ by dash and name); overlays (finished and reference runs) are drawn thinner and dashed.

The charts observe :class:`ExplorerState`: a new current run or a changed overlay list rebuilds the traces. Run
updates arrive from the engine's dispatcher thread (a few a second), each with the rows recorded since the previous
one; the charts keep each run's lines from those rows (:class:`~.run_series.RunSeries`: thinned to at most about
``LIVE_POINTS`` points, spikes kept, as the rows arrive) and read a run's records only when a run they have no lines
of yet comes onto the charts. What the updates cost the training thread (Python's GIL) and the browser (a redraw per
changed chart) is bounded here, and does not grow with the run's length:

* a running run's charts are redrawn at most every ``interval`` seconds (``MIN_INTERVAL``..``MAX_INTERVAL``, at
  least ``COST_FACTOR`` times what the last redraw took in Python); a pause, stop or end is drawn at once;
* each trace gets at most about ``LIVE_POINTS`` points, and only traces whose data grew are sent;
* each figure is changed in one ``batch_update``, and its layout only where it changed;
* while a run trains, the figures' messages of one redraw leave ``STAGGER`` seconds apart. Sent together they reached
  the page together and JupyterLab handled them in one task: one redraw of three charts was a 100 ms task in the page,
  and a garbage collection of the page's heap that fell into it (33 ms on 2 busy cores) made one chart's redraw take
  60 ms. Apart, each chart is a task of its own, the page answers in between and the garbage collector can run
  between charts. A pause, stop or end is sent at once;
* an evaluation line (test loss, accuracy) loses its markers past ``MARKER_POINTS`` points: 300 SVG markers took
  as long to draw in Chromium as the rest of the chart;
* every axis lets its tick labels overflow (``TICKS``): by default plotly measures every tick label at every redraw to
  hide those past the chart's edge (about a third of a level chart's redraw in Chromium), and the margins leave the
  labels room anyway.

Values go on :func:`~gdtuo_explore.engine.series.value_axis`: a log axis while all are positive, else a symmetric
log scale with explicit ticks (the title flags it), so any values a tower makes draw with a few ticks.
"""
from __future__ import annotations

import html
import math
import threading
import time

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from ..core.columns import column, parse_column
from ..engine.status import Status
from ..engine.series import axis_of, is_step_size, plotted_columns, value_axis
from . import tower_edits
from .figure import Figure
from .nudge_controls import nudge_marks
from .run_series import SMOOTHED, RunSeries

__all__ = ["Charts", "is_step_size", "level_title"]

CHART_WIDTH, CHART_HEIGHT, LEVEL_HEIGHT = 420, 320, 290
LIVE_POINTS = 300     # points per trace, about (the plot area is about 320 px wide; each bucket keeps min and max)
MARKER_POINTS = 60    # an evaluation line shows markers up to this many points (300 markers doubled a redraw)
MIN_INTERVAL = 1.0    # seconds between redraws of a running run, at least...
MAX_INTERVAL = 2.0    # ...and at most
COST_FACTOR = 20      # ...and at least this many times the last redraw's time in Python
STAGGER = 0.04        # s between the messages of two figures in one redraw of a running run (see above)
DASHES = ("dot", "dashdot", "longdash", "dash")   # a run's hyperparameters other than step sizes
NEGATIVE = "#d62728"
# A level chart's hyperparameters other than step sizes (beta, mu, gamma) get a strip of their own below the step
# sizes, on the same steps: a second subplot, not a second axis laid over the first (which took a third longer to
# draw in Chromium, 21 against 17.5 ms in an idle page, and reads worse).
TICKS = dict(ticklabeloverflow="allow")   # every axis: no tick label measured to hide it (see the module docstring)
LOWER_AXIS = dict(domain=[0, 0.3], anchor="x", type="linear", tickmode="auto", nticks=4, tickformat="~g",
                  title=dict(text="beta, mu, gamma", font=dict(size=10)), **TICKS)
UPPER_DOMAIN = [0.4, 1]   # the step sizes' part of a level chart that has the strip


def _figure(title: str, ytitle: str, height: int) -> go.FigureWidget:
    fig = Figure()
    fig.update_layout(
        title=dict(text=title, font=dict(size=13), x=0.02, xanchor="left"), template="plotly_white",
        width=CHART_WIDTH, height=height, margin=dict(l=58, r=48, t=36, b=74), uirevision=0,
        xaxis=dict(title=dict(text="step", standoff=2), rangemode="tozero", nticks=6, **TICKS),
        yaxis=dict(title=ytitle, tickformat="~g", nticks=8, **TICKS),
        legend=dict(orientation="h", x=0, y=-0.2, yanchor="top", font=dict(size=10), tracegroupgap=2),
        font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=11))
    return fig


def level_title(spec: str, k: int) -> str:
    """Title of level ``k``'s chart (from 1), e.g. ``Level 2 · SGD: tunes level 1``."""
    levels = tower_edits.levels(spec)
    role = "trains the weights" if k == 1 else f"tunes level {k - 1}"
    return f"<b>Level {k}</b> · {tower_edits.choice(levels[k - 1])}: {role}"


def fixed_level_text(spec: str) -> str:
    """The line shown for the top level of a tower of two or more levels (its values never change), e.g.
    ``Level 2 · SGD: alpha = 0.01 (fixed: no level above it)``; '' for a one-level tower (it has a chart)."""
    levels = tower_edits.levels(spec)
    if len(levels) < 2:
        return ""
    top = levels[-1]
    values = ", ".join(f"{name} = {top.values[name]:g}" for name in tower_edits.shown_hypers(top))
    return (f"<div class='gd-about' style='padding:2px 8px'><b>Level {len(levels)}</b> · "
            f"{html.escape(tower_edits.choice(top))}: {html.escape(values)} "
            f"<i>(fixed: no level above it; tunes level {len(levels) - 1})</i></div>")


def charted_levels(spec: str) -> int:
    """How many levels get a chart: all but a fixed top level (one for a one-level tower)."""
    return max(1, len(tower_edits.levels(spec)) - 1)


def _columns(shown) -> list[str]:
    """The hyperparameter columns of a shown run that get a line. Before its run is built they come from the spec
    (without sgd_per_param's per-tensor step sizes, which are named after the model's tensors)."""
    run = shown.run
    if run is not None and run.baseline is not None:   # a learning-rate-free optimizer: its step size
        return list(run.hyperparameter_columns)
    spec = shown.config.tower
    if run is not None:
        return plotted_columns(spec, run.hyperparameter_columns)
    # before the model exists its tensors' names are unknown: a level whose names follow them (sgd_per_param) has none
    return plotted_columns(spec, [column(k, name) for k, level in enumerate(tower_edits.levels(spec), 1)
                                  for name in level.hyper_names([])])


def _bottom_kind(shown) -> str:
    """The kind of the optimizer that moves a shown run's weights (the reference optimizers are Adam variants)."""
    return "adam" if shown.config.baseline else tower_edits.levels(shown.config.tower)[0].kind


def _comparable(shown, spec: str) -> bool:
    """Whether an overlay's step size is comparable with level 1 of the tower ``spec`` (the same kind of
    optimizer: an SGD step size means nothing next to an Adam one)."""
    return _bottom_kind(shown) == tower_edits.levels(spec)[0].kind


class _Line:
    """One trace and what was last sent to it: ``sent`` (the version of its series), ``x`` and ``real`` (its
    thinned values)."""

    def __init__(self, fig, trace, column: str, role: str):
        self.fig, self.trace, self.column, self.role = fig, trace, column, role
        self.sent = -1
        self.x = self.real = np.zeros(0)
        self.markers = "markers" in (trace.mode or "")   # drawn with markers while it has few points

    @property
    def left(self) -> bool:
        return self.trace.yaxis in (None, "y")


class Charts:
    """The Train tab's charts, as widgets: ``loss`` and ``accuracy`` (side by side in ``row``), ``levels`` (one
    FigureWidget per level that learns, two a row in ``levels_grid``) and ``fixed`` (the fixed top level's line);
    ``levels_box`` holds the grid and, below it, that line."""

    def __init__(self, state):
        self.state = state
        self.loss = _figure("<b>Loss</b>", "loss", CHART_HEIGHT)
        self.accuracy = _figure("<b>Test accuracy</b>", "accuracy", CHART_HEIGHT)
        self.accuracy.update_layout(yaxis=dict(nticks=6))
        self.levels: list[go.FigureWidget] = []
        self.fixed = widgets.HTML()
        self.levels_grid = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=f"repeat(2, {CHART_WIDTH}px)", grid_gap="6px 10px"))
        self.levels_box = widgets.VBox([self.levels_grid])
        self.row = widgets.HBox([self.loss, self.accuracy], layout=widgets.Layout(grid_gap="10px"))
        self.interval = MIN_INTERVAL
        self._lock = threading.RLock()
        self._lines: dict[int, list[_Line]] = {}   # shown.number -> its lines
        self._series: dict[int, RunSeries] = {}    # shown.number -> its lines' data
        self._traced: dict[int, set] = {}          # shown.number -> hyperparameter columns with a line
        self._drawn_at: dict[int, float] = {}      # shown.number -> when its lines were last drawn
        self._deferred: dict[int, dict] = {}       # id(figure) -> the layout reset its next draw sends (see rebuild)
        self._layout: dict[int, dict] = {}         # id(figure) -> the layout values last set
        self._revision = 0
        self._nudges: list[dict] = []              # the current run's nudges, marked on the level charts
        self.sleep = time.sleep   # how a redraw waits between figures (STAGGER); a test records it
        state.observe(lambda _: self.rebuild(), names=["current", "compared"])
        state.observe(self._setup_changed, names="tower")
        state.on_update(self._on_update)
        self.rebuild()

    @property
    def figures(self) -> list[go.FigureWidget]:
        return [self.loss, self.accuracy] + self.levels

    # -- structure -------------------------------------------------------------------------------------------
    def _shown(self) -> list:
        current = self.state.current
        return [s for s in self.state.compared if s is not current] + ([current] if current is not None else [])

    def _setup_changed(self, _) -> None:
        if self.state.current is None:
            self.rebuild()

    def _level_figures(self, spec: str) -> None:
        height = charted_levels(spec)
        while len(self.levels) < height:
            self.levels.append(_figure("", "step size", LEVEL_HEIGHT))
        for fig in self.levels[height:]:
            fig.close()
        del self.levels[height:]
        for k, fig in enumerate(self.levels, 1):
            fig.layout.title.text = level_title(spec, k)
        self.fixed.value = fixed_level_text(spec)
        self.levels_grid.children = tuple(self.levels)
        self.levels_box.children = (self.levels_grid,) + ((self.fixed,) if self.fixed.value else ())

    def rebuild(self) -> None:
        """Re-create every trace for the current run and the overlays, and draw their data."""
        with self._lock:
            current = self.state.current
            spec = current.config.tower if current is not None else self.state.tower
            self._revision += 1
            self._nudges = current.run.nudges() if current is not None and current.run is not None else []
            self._level_figures(spec)
            for fig in self.figures:
                if fig.data:
                    fig.data = ()
            self._layout.clear()
            self._lines.clear()
            self._traced.clear()
            self._drawn_at.clear()
            shown_runs = self._shown()
            self._series = {s.number: self._series.get(s.number) or RunSeries.of(s.run, LIVE_POINTS)
                            for s in shown_runs}
            for shown in shown_runs:
                self._add_traces(shown, current, spec)
            # a new set of runs: forget zoom and old ranges, in the same message as the data. Each message to a
            # figure is a redraw in the page (~75 ms on a 2-core machine) and a new run's first points queue behind
            # them, so for a run that is starting, the first draw of its first update sends the reset too.
            reset = {"uirevision": self._revision, "xaxis.autorange": True, "yaxis.autorange": True}
            starting = current is not None and current.status == Status.STARTING
            self._deferred = {id(fig): reset for fig in self.figures} if starting else {}
            if not starting:
                for fig in self.figures:
                    self._draw_figure(fig, force=True, reset=reset)
            self._publish()

    def _publish(self) -> None:
        for fig in self.figures:
            fig.publish()

    def _add_traces(self, shown, current, spec: str) -> None:
        """The traces of ``shown``: bold if it is ``current``, else dashed; ``spec`` is the tower on the charts."""
        main = shown is current
        lines = self._lines[shown.number] = []
        color, group = shown.color, f"run{shown.number}"

        pending: dict[int, list] = {}   # id(figure) -> its new (trace, column, role), added in one message

        def add(fig, uid, column, role, **style):
            pending.setdefault(id(fig), []).append((fig, go.Scatter(x=[], y=[], uid=uid, legendgroup=group, **style),
                                                    column, role))

        n = shown.number
        if main:
            add(self.loss, f"{n}.raw", "train_loss", "raw", name="train loss", mode="lines",
                line=dict(color=color, width=1), opacity=0.3)
            add(self.loss, f"{n}.smooth", "train_loss", "smooth", name="train loss (smoothed)", mode="lines",
                line=dict(color=color, width=2.5))
            add(self.loss, f"{n}.test", "test_loss", "eval", name="test loss", mode="lines+markers",
                line=dict(color=color, width=1.5, dash="dot"), marker=dict(size=5, symbol="diamond"))
            add(self.accuracy, f"{n}.acc", "test_accuracy", "eval", name="test accuracy", mode="lines+markers",
                line=dict(color=color, width=2.5), marker=dict(size=5))
        else:
            add(self.loss, f"{n}.smooth", "train_loss", "smooth", name=shown.label, mode="lines",
                line=dict(color=color, width=1.5, dash="dash"))
            add(self.accuracy, f"{n}.acc", "test_accuracy", "eval", name=shown.label, mode="lines",
                line=dict(color=color, width=1.5, dash="dash"))
        columns = _columns(shown)
        self._traced[n] = set(columns)
        others: dict[int, int] = {}   # level -> hyperparameters other than step sizes drawn so far
        for column in columns:
            k, name = parse_column(column)
            if main and k <= len(self.levels):
                if axis_of(name) == "y":
                    style = dict(color=color, width=2)
                else:
                    i = others[k] = others.get(k, -1) + 1
                    style = dict(color=color, width=1.5, dash=DASHES[i % len(DASHES)])
                add(self.levels[k - 1], f"{n}.{column}", column, "hyper", name=name, mode="lines", line=style,
                    yaxis=axis_of(name))
            elif not main and k == 1 and is_step_size(name) and self.levels and _comparable(shown, spec):
                add(self.levels[0], f"{n}.{column}", column, "hyper", name=f"{shown.label}: {name}",
                    mode="lines", line=dict(color=color, width=1.5, dash="dash"))
        for new in pending.values():   # one addTraces message (one redraw in the page) per figure
            fig, start = new[0][0], len(new[0][0].data)
            fig.add_traces([trace for _, trace, _, _ in new])
            lines.extend(_Line(fig, fig.data[start + i], column, role) for i, (_, _, column, role) in enumerate(new))

    # -- data --------------------------------------------------------------------------------------------------
    def _on_update(self, shown, update) -> None:
        if update is None:   # the run could not be built: draw what rebuild left for its first update
            with self._lock:
                for fig in self.figures:
                    if id(fig) in self._deferred:
                        self._draw_figure(fig, force=True)
            return
        with self._lock:
            series = self._series.get(shown.number)
            if series is None:
                return   # not on the charts
            grew = series.add(update.rows, update.evaluations, update.first_row, update.first_evaluation)
            if update.nudges and shown is self.state.current:
                self._nudges.extend(update.nudges)
        if not (grew or update.nudges or update.final or update.status != Status.RUNNING):
            return
        running = update.status == Status.RUNNING and not update.final
        if running and time.monotonic() - self._drawn_at.get(shown.number, -math.inf) < self.interval:
            return   # drawn a moment ago; a later update draws everything taken in by then
        with self._lock:
            if shown.number not in self._lines:
                return
            if not set(_columns(shown)) <= self._traced[shown.number]:
                self.rebuild()   # the run's columns are known now (sgd_per_param names its step sizes by tensor)
                return
            self._drawn_at[shown.number] = time.monotonic()
            figures = self._figures_of(shown)
            revision = self._revision
        cost, sent = 0.0, False
        for fig in figures:
            if sent and running:   # the page draws each figure in a task of its own (see the module docstring)
                self.sleep(STAGGER)
            with self._lock:
                if self._revision != revision:
                    return   # rebuilt meanwhile: the rebuild drew everything
                start = time.perf_counter()
                sent = self._draw_figure(fig, shown) or sent
                cost += time.perf_counter() - start
        with self._lock:
            self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, COST_FACTOR * cost))
            if not running and self._revision == revision:
                self._publish()

    def _figures_of(self, shown) -> list:
        """The figures with a line of ``shown``, and those waiting for a rebuild's draw (caller holds the lock)."""
        figures = {}   # by id: a figure's == compares the whole figure's JSON
        for line in self._lines[shown.number]:
            figures.setdefault(id(line.fig), line.fig)
        return list(figures.values()) + [fig for fig in self.figures
                                         if id(fig) in self._deferred and id(fig) not in figures]

    def _grown(self, line: _Line, shown):
        """The thinned ``(x, y)`` of a line, or None if its data did not grow since it was sent."""
        series = self._series.get(shown.number)
        column = SMOOTHED if line.role == "smooth" else line.column
        found = series.line(column, evaluation=line.role == "eval") if series is not None else None
        if found is None or found[0] == line.sent:
            return None
        line.sent = found[0]
        return found[1:]

    def _draw_figure(self, fig, shown=None, force: bool = False, reset: dict | None = None) -> bool:
        """Redraw ``fig``: the lines of ``shown`` (every run's, with ``force``) whose data grew, the lines on its
        left axis again if that axis changed, and the layout values that changed (and ``reset``'s), in one
        message. Returns whether it sent one."""
        deferred = self._deferred.pop(id(fig), None)
        if deferred is not None:   # rebuild's draw, left for the new run's first update
            force, reset = True, {**deferred, **(reset or {})}
        owners = {n: s for s in self._shown() for n in [s.number]}
        lines = [(line, owners.get(n)) for n, ls in self._lines.items() for line in ls if line.fig is fig]
        fresh = {}
        for line, owner in lines:
            if owner is not None and (force or owner is shown):
                grown = self._grown(line, owner)
                if grown is not None:
                    line.x, line.real = grown
                    fresh[id(line)] = line
        if not fresh and not force and not self._marks_changed(fig):
            return False
        layout, axis = self._fig_layout(fig, [line for line, _ in lines])
        old = self._layout.get(id(fig), {})
        old_axis = old.get("_axis")
        if axis is not None and axis != old_axis:   # a new scale: every line on the left axis is sent again
            fresh.update((id(line), line) for line, _ in lines if line.left and len(line.real))
        changed = {k: v for k, v in layout.items() if old.get(k, object()) != v}
        sent = {**changed, **(reset or {})}
        with fig.batch_update():
            for line in fresh.values():
                symlog = axis is not None and line.left and axis.kind == "symlog"
                line.trace.x = line.x
                mode = "lines+markers" if line.markers and len(line.x) <= MARKER_POINTS else "lines"
                if line.trace.mode != mode:
                    line.trace.mode = mode
                line.trace.y = axis.transform(line.real) if axis is not None and line.left else line.real
                if symlog:
                    line.trace.update(customdata=line.real, hovertemplate="%{x}: %{customdata:.4g}")
                elif line.trace.customdata is not None:
                    line.trace.update(customdata=None, hovertemplate=None)
            if "yaxis2" in sent:
                fig.layout.yaxis2 = sent.pop("yaxis2")
            if "shapes" in sent:   # set, not updated: update_layout keeps the shapes beyond the new ones
                fig.layout.shapes = sent.pop("shapes")
            if sent:
                fig.update_layout(sent)
        self._layout[id(fig)] = {**old, **changed, "_axis": axis}
        return True

    def _marks(self, fig) -> tuple:
        """The nudge marks of a level chart (caller holds the lock)."""
        k = next(i for i, f in enumerate(self.levels, 1) if f is fig)
        return nudge_marks(self._nudges, k, len(self.levels))

    def _marks_changed(self, fig) -> bool:
        return any(f is fig for f in self.levels) and self._layout.get(id(fig), {}).get("shapes", ()) != self._marks(fig)

    def _fig_layout(self, fig, lines) -> tuple[dict, object]:
        """The layout values of ``fig`` for its lines' data (flat ``yaxis.type``-style keys) and its left axis."""
        if fig is self.accuracy:
            return {}, None
        axis = value_axis([line.real for line in lines if line.left])
        layout = {f"yaxis.{k}": v for k, v in axis.layout.items()}
        if fig is self.loss:
            return layout, axis
        strip = any(line.trace.yaxis == "y2" for line in lines)
        layout["yaxis2"] = LOWER_AXIS if strip else None
        layout["yaxis.domain"] = UPPER_DOMAIN if strip else [0, 1]
        layout["xaxis.anchor"] = "y2" if strip else "y"   # the steps' ticks under the lower strip
        layout["shapes"] = self._marks(fig)
        title = fig.layout.title.text.split("<br>")[0]
        if not axis.positive:
            values = np.concatenate([line.real for line in lines if line.left])
            low = np.nanmin(np.where(np.isfinite(values), values, np.nan))
            what = f"went negative (lowest {low:.3g})" if low < 0 else "is zero"
            title += (f"<br><span style='color:{NEGATIVE};font-size:11px'>&#9888; a step size {what}: "
                      "symmetric log axis</span>")
        layout.update({"title.text": title, "margin.t": 36 if axis.positive else 52,
                       "yaxis.zerolinecolor": NEGATIVE, "yaxis.zerolinewidth": 2})
        return layout, axis
