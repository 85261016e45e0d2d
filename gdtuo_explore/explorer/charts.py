"""The live charts: loss (train loss raw and smoothed, test loss), test accuracy, and one chart per level of the
tower with its hyperparameters over steps. Overlays (finished and reference runs) are drawn thinner and dashed.

The charts observe :class:`ExplorerState`: a new current run or a changed overlay list rebuilds the traces, and each
run update (a few a second, from the engine's dispatcher thread) reassigns the whole, thinned ``x``/``y`` arrays of
that run's traces inside ``fig.batch_update()``. Step sizes are on a log axis while they are all positive; when one
goes negative (or is zero) the axis turns linear, a red zero line shows the sign change and the title flags it.
"""
from __future__ import annotations

import re
import threading
from copy import deepcopy

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from . import tower_edits
from .downsample import smooth, thin

CHART_WIDTH, CHART_HEIGHT, LEVEL_HEIGHT = 420, 320, 290
HYPER_COLORS = {"alpha": "#1f77b4", "beta1": "#ff7f0e", "beta2": "#2ca02c", "mu": "#9467bd", "gamma": "#8c564b"}
NEGATIVE = "#d62728"
_COLUMN = re.compile(r"^level(\d+)\.(.+)$")


def _figure(title: str, ytitle: str, height: int) -> go.FigureWidget:
    fig = go.FigureWidget()
    fig.update_layout(
        title=dict(text=title, font=dict(size=13), x=0.02, xanchor="left"), template="plotly_white",
        width=CHART_WIDTH, height=height, margin=dict(l=58, r=48, t=36, b=74), uirevision="keep",
        xaxis=dict(title=dict(text="step", standoff=2), rangemode="tozero"),
        yaxis=dict(title=ytitle, tickformat="~g"),
        legend=dict(orientation="h", x=0, y=-0.2, yanchor="top", font=dict(size=10), tracegroupgap=2),
        font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=11))
    return fig


def publish(fig: go.FigureWidget) -> None:
    """Copy the figure into its synced widget state, as plotly does when a FigureWidget is displayed on its own.

    Later changes reach open views as one-off messages, so without this a view that connects later (Voila, a page
    reload) would draw the figure as it was made: empty. Views already open ignore the change.
    """
    fig._widget_layout = deepcopy(fig._layout_obj._props)
    fig._widget_data = deepcopy(fig._data)


def is_step_size(name: str) -> bool:
    """Whether a hyperparameter name is a step size (``alpha``, or ``<tensor>_alpha`` for sgd_per_param)."""
    return name == "alpha" or name.endswith("_alpha")


def level_title(spec: str, k: int) -> str:
    """Title of level ``k``'s chart (from 1), e.g. ``Level 2 · SGD: tunes level 1 (top: fixed)``."""
    levels = tower_edits.levels(spec)
    role = "trains the weights" if k == 1 else f"tunes level {k - 1}"
    if k == len(levels) and k > 1:
        role += " (top: fixed)"
    return f"<b>Level {k}</b> · {tower_edits.choice(levels[k - 1])}: {role}"


def plotted_columns(spec: str, columns: list[str]) -> list[str]:
    """The hyperparameter columns worth a line: every step size, and what learns below the top level."""
    levels = tower_edits.levels(spec)
    out = []
    for column in columns:
        m = _COLUMN.match(column)
        if not m:
            continue
        k, name = int(m.group(1)), m.group(2)
        if k <= len(levels) and (is_step_size(name) or (k < len(levels) and name in levels[k - 1].learn)):
            out.append(column)
    return out


def _columns(shown) -> list[str]:
    """The hyperparameter columns of a shown run that get a line. Before its run is built they come from the spec
    (without sgd_per_param's per-tensor step sizes, which are named after the model's tensors)."""
    run = shown.run
    if run is not None and run.baseline is not None:   # a learning-rate-free optimizer: its step size
        return list(run.hyperparameter_columns)
    spec = shown.config.tower
    if run is not None:
        return plotted_columns(spec, run.hyperparameter_columns)
    return plotted_columns(spec, [f"level{k}.{h.name}" for k, level in enumerate(tower_edits.levels(spec), 1)
                                  for h in level.HYPERS if level.kind != "sgd_per_param"])


def _bottom_kind(shown) -> str:
    """The kind of the optimizer that moves a shown run's weights (the reference optimizers are Adam variants)."""
    return "adam" if shown.config.baseline else tower_edits.levels(shown.config.tower)[0].kind


def _comparable(shown, spec: str) -> bool:
    """Whether an overlay's step size is comparable with level 1 of the tower ``spec`` (the same kind of
    optimizer: an SGD step size means nothing next to an Adam one)."""
    return _bottom_kind(shown) == tower_edits.levels(spec)[0].kind


class Charts:
    """The Train tab's charts, as widgets: ``loss`` and ``accuracy`` (side by side in ``row``) and ``levels`` (one
    FigureWidget per level, two a row in ``levels_box``)."""

    def __init__(self, state):
        self.state = state
        self.loss = _figure("<b>Loss</b>", "loss", CHART_HEIGHT)
        self.accuracy = _figure("<b>Test accuracy</b>", "accuracy", CHART_HEIGHT)
        self.levels: list[go.FigureWidget] = []
        self.levels_box = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=f"repeat(2, {CHART_WIDTH}px)", grid_gap="6px 10px"))
        self.row = widgets.HBox([self.loss, self.accuracy], layout=widgets.Layout(grid_gap="10px"))
        self._lock = threading.RLock()
        self._traces: dict[int, dict] = {}    # shown.number -> {uid: (figure, trace, column, role)}
        self._traced: dict[int, set] = {}     # shown.number -> hyperparameter columns with a line
        state.observe(lambda _: self.rebuild(), names=["current", "compared"])
        state.observe(self._setup_changed, names="tower")
        state.on_update(self._on_update)
        self.rebuild()

    # -- structure -------------------------------------------------------------------------------------------
    def _shown(self) -> list:
        current = self.state.current
        return [s for s in self.state.compared if s is not current] + ([current] if current is not None else [])

    def _setup_changed(self, _) -> None:
        if self.state.current is None:
            self.rebuild()

    def _level_figures(self, spec: str) -> None:
        height = len(tower_edits.levels(spec))
        while len(self.levels) < height:
            self.levels.append(_figure("", "step size", LEVEL_HEIGHT))
        for fig in self.levels[height:]:
            fig.close()
        del self.levels[height:]
        for k, fig in enumerate(self.levels, 1):
            with fig.batch_update():
                fig.layout.title.text = level_title(spec, k)
                fig.layout.yaxis.update(type="log", zeroline=False)
        self.levels_box.children = tuple(self.levels)

    def rebuild(self) -> None:
        """Re-create every trace for the current run and the overlays, and draw their data."""
        with self._lock:
            current = self.state.current
            spec = current.config.tower if current is not None else self.state.tower
            self._level_figures(spec)
            for fig in [self.loss, self.accuracy] + self.levels:
                fig.data = ()
            self._traces.clear()
            self._traced.clear()
            for shown in self._shown():
                self._add_traces(shown, current, spec)
                self._draw(shown)
            self._publish()

    def _publish(self) -> None:
        for fig in [self.loss, self.accuracy] + self.levels:
            publish(fig)

    def _add_traces(self, shown, current, spec: str) -> None:
        """The traces of ``shown``: bold if it is ``current``, else dashed; ``spec`` is the tower on the charts."""
        main = shown is current
        traces = self._traces[shown.number] = {}
        color, group = shown.color, f"run{shown.number}"

        def add(fig, uid, column, role, **style):
            fig.add_scatter(x=[], y=[], uid=uid, legendgroup=group, **style)
            traces[uid] = (fig, fig.data[-1], column, role)

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
        for column in columns:
            k, name = _COLUMN.match(column).groups()
            k = int(k)
            if main and k <= len(self.levels):
                add(self.levels[k - 1], f"{n}.{column}", column, "hyper", name=name, mode="lines",
                    line=dict(color=HYPER_COLORS.get(name, HYPER_COLORS["alpha"] if is_step_size(name) else None),
                              width=2), yaxis="y" if is_step_size(name) else "y2")
            elif not main and k == 1 and is_step_size(name) and self.levels and _comparable(shown, spec):
                add(self.levels[0], f"{n}.{column}", column, "hyper", name=f"{shown.label}: {name}",
                    mode="lines", line=dict(color=color, width=1.5, dash="dash"))
        for fig in self.levels:
            if any(t.yaxis == "y2" for t in fig.data):
                fig.update_layout(yaxis2=dict(overlaying="y", side="right", showgrid=False, type="linear",
                                              tickmode="auto", nticks=5, tickformat="~g", title="beta, mu, gamma"))

    # -- data --------------------------------------------------------------------------------------------------
    def _on_update(self, shown, update) -> None:
        if update is None or shown.number not in self._traces:
            return
        if not (len(update.rows.get("step", ())) or len(update.evaluations.get("step", ())) or update.final):
            return
        with self._lock:
            if shown.number not in self._traces:
                return
            if not set(_columns(shown)) <= self._traced[shown.number]:
                self.rebuild()   # the run's columns are known now (sgd_per_param names its step sizes by tensor)
            else:
                self._draw(shown)
                if update.final:
                    self._publish()

    def _draw(self, shown) -> None:
        """Reassign the thinned data of every trace of ``shown`` (caller holds the lock)."""
        run = shown.run
        if run is None:
            return
        rows, evals = run.metrics(), run.evaluations()
        by_figure: dict[int, list] = {}
        for fig, trace, column, role in self._traces[shown.number].values():
            by_figure.setdefault(id(fig), [fig]).append((trace, column, role))
        for fig, *items in by_figure.values():
            fresh = {}   # uid -> new y (a trace read inside batch_update still gives its old data)
            with fig.batch_update():
                for trace, column, role in items:
                    source = evals if role == "eval" else rows
                    if column not in source:
                        continue
                    y = np.asarray(source[column], dtype=float)
                    x, y = thin(source["step"], smooth(y) if role == "smooth" else y)
                    trace.x, trace.y = x, y
                    fresh[trace.uid] = y
                if fig is not self.accuracy:
                    self._axes(fig, fresh)

    def _axes(self, fig, fresh: dict) -> None:
        """Log y axis while every value plotted on it is positive; else linear (on a level chart, with a red zero
        line and a flag in the title). ``fresh``: new data of traces assigned in the current batch."""
        left = [np.asarray(fresh.get(t.uid, t.y), dtype=float) for t in fig.data
                if t.yaxis in (None, "y") and (t.uid in fresh or t.y is not None)]
        values = np.concatenate(left) if left else np.zeros(0)
        values = values[np.isfinite(values)]
        positive = not len(values) or bool((values > 0).all())
        fig.layout.yaxis.type = "log" if positive else "linear"
        wide = positive and len(values) and np.log10(values.max() / values.min()) > 2.5
        fig.layout.yaxis.dtick = 1 if wide else ("D2" if positive else None)   # log: 1-2-5 ticks, or decades
        if fig is self.loss:
            return
        fig.layout.yaxis.update(zeroline=not positive, zerolinecolor=NEGATIVE, zerolinewidth=2)
        title = fig.layout.title.text.split("<br>")[0]
        if not positive:
            what = f"went negative (lowest {values.min():.3g})" if values.min() < 0 else "is zero"
            title += (f"<br><span style='color:{NEGATIVE};font-size:11px'>&#9888; a step size {what}: "
                      "linear axis</span>")
        fig.layout.title.text = title
        fig.layout.margin.t = 36 if positive else 52
