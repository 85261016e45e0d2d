"""The landscape chart: with the ``surface`` task, the function as filled contours and the paths of the runs on it.

The contours are drawn on a log scale of the function (``log10(f + floor)``, :func:`log_levels`), since every
surface of the task spans several decades between its walls and its valleys; the colour bar is labelled in values of
``f``. They are drawn once per surface, by matplotlib, into a picture (:func:`contour_image`) that lies under the
plot area as a layout image: Plotly redraws the whole figure whenever a path grows, and filled contours as a trace
cost it about three times a redraw of the rest (a 100 x 100 grid traced again each time), a picture nothing. Over the
picture lies an invisible heatmap of the same values (trace ``f``): what the pointer reads, what a click hits, and the
colour bar, whose bands are the picture's. The minima are marked with stars, the start of the next run with a white
circle. The current run's path is a solid line with a dot at its current point; every overlay (a finished run, the
frozen baseline, a compared tower, a learning-rate-free baseline) draws its path dashed, in its own colour: the same
colours as on the other charts, so a race from one start reads at a glance.

A click on the landscape sets the start of the next run (the task option ``start``, through
:meth:`ExplorerState.set_task_option`); the caption under the chart says where the next run starts.

Like the other charts, the paths are fed by the rows each run update pushes (the columns ``x`` and ``y`` of the
surface task), never by reading a run's whole history (except once, for a run that comes onto the chart with records
already), and each path is bounded (:class:`Path`: at most about ``PATH_POINTS`` points, every k-th row for a k that
doubles as the run grows, and the newest point), so a redraw costs the same after 200,000 steps as after 2,000. A
running run's path is redrawn at most every :data:`.charts.MIN_INTERVAL` seconds; a pause, stop or end at once.
"""
from __future__ import annotations

import base64
import html
import io
import math
import threading
import time

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from ..engine.status import Status
from ..engine.tasks import surface as surfaces
from .charts import CHART_HEIGHT, CHART_WIDTH, MIN_INTERVAL
from .figure import Figure

__all__ = ["Landscape", "Path", "log_levels", "SURFACE"]

SURFACE = "surface"      # the task whose runs have a landscape
PATH_POINTS = 2000       # points per path, about (a path is drawn as one SVG line)
GRID = 100               # the invisible heatmap's grid (what the pointer reads and a click hits): GRID x GRID
IMAGE_GRID = 240         # the contour picture's grid of f
BANDS = 18               # filled contour bands, evenly spaced in log10 f
DECADES = 6              # the contours span this many decades below the grid's largest value
WIDTH, HEIGHT = CHART_WIDTH, CHART_HEIGHT + 60   # as wide as the other charts
MARGIN = dict(l=50, r=20, t=36, b=70)
IMAGE_SIZE = (480, 420)  # the contour picture's pixels: about 1.5 x the plot area, sharp on a high-density screen
COLORSCALE = [[0.0, "#a9b4c7"], [0.35, "#d3dae6"], [0.7, "#eef1f6"], [1.0, "#ffffff"]]   # light: paths stand out
LINE_COLOR = (40 / 255, 50 / 255, 70 / 255, 0.25)   # the contour lines


def log_levels(z: np.ndarray, decades: int = DECADES) -> tuple[np.ndarray, float]:
    """``(log10(z + floor), floor)``: the values the contours are drawn from. ``floor`` is ``decades`` decades below
    the largest finite value of ``z`` (a surface's minima are 0, whose log would be -inf), and never below 1e-300."""
    z = np.asarray(z, dtype=float)
    top = np.nanmax(np.where(np.isfinite(z), z, np.nan)) if np.isfinite(z).any() else 1.0
    floor = max(10.0 ** (math.log10(max(top, 1e-300)) - decades), 1e-300)
    return np.log10(np.clip(z, 0.0, None) + floor), floor


def _band_colors(bands: int = BANDS) -> list[str]:
    """The colour of each band, low to high: :data:`COLORSCALE` at the band's middle."""
    from plotly.colors import sample_colorscale

    return sample_colorscale(COLORSCALE, [(k + 0.5) / bands for k in range(bands)], colortype="rgb")


def stepped_colorscale(bands: int = BANDS) -> list[list]:
    """A Plotly colour scale of ``bands`` flat bands (:func:`_band_colors`): the colour bar of the picture."""
    scale = []
    for k, color in enumerate(_band_colors(bands)):
        scale += [[k / bands, color], [(k + 1) / bands, color]]
    return scale


def contour_image(x: np.ndarray, y: np.ndarray, logz: np.ndarray, levels: np.ndarray,
                  size: tuple[int, int] = IMAGE_SIZE) -> bytes:
    """A PNG of ``size`` pixels: ``logz`` (rows follow ``y``) as filled contours between ``levels`` in the colours
    of :func:`_band_colors`, with their lines, filling the picture exactly from ``x[0]`` to ``x[-1]`` and ``y[0]``
    (bottom) to ``y[-1]`` (top). Drawn with matplotlib's Agg canvas (no pyplot: safe from any thread), and stored
    with a palette of at most 64 colours (a few tens of KB)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure
    from PIL import Image

    fig = MplFigure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    colors = [tuple(int(v) / 255 for v in c[4:-1].split(",")) for c in _band_colors(len(levels) - 1)]   # "rgb(r, g, b)"
    clipped = np.clip(logz, levels[0], levels[-1])   # values on the edges fall in the outer bands
    ax.contourf(x, y, clipped, levels=levels, colors=colors, antialiased=True)
    ax.contour(x, y, clipped, levels=levels[1:-1], colors=[LINE_COLOR], linewidths=0.6,
               negative_linestyles="solid")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    canvas.draw()
    picture = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    out = io.BytesIO()
    picture.quantize(64).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Colour-bar ticks at whole decades between ``low`` and ``high`` (log10 values), labelled with ``f``."""
    ks = list(range(math.ceil(low), math.floor(high) + 1)) or [round(low)]
    return [float(k) for k in ks], [f"{10.0 ** k:g}" for k in ks]


class Path:
    """One run's path ``(x, y)``, kept from the rows its updates push and bounded: every ``stride``-th row, where
    ``stride`` doubles whenever more than ``max_points`` rows are kept, and always the newest row. :meth:`add` takes
    rows (as :class:`~gdtuo_explore.engine.dispatch.Update` carries them), :meth:`points` gives the path, ``rows``
    (how many rows it took in) is its version.

    >>> p = Path(max_points=4)
    >>> p.add({"x": [0, 1, 2, 3, 4, 5], "y": [0, 0, 0, 0, 0, 1]})
    True
    >>> p.points()[0]
    array([0., 2., 4., 5.])
    """

    def __init__(self, max_points: int = PATH_POINTS):
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
            raise ValueError(f"max_points={max_points!r} is out of range: it must be an integer >= 2")
        self.max_points = max_points
        self.stride = 1
        self.rows = 0
        self._i = np.zeros(0, dtype=np.int64)
        self._x = self._y = np.zeros(0)
        self._last: tuple[float, float] | None = None

    def add(self, rows: dict, first_row: int = 0) -> bool:
        """Take in the rows' ``x`` and ``y`` from row number ``first_row`` on (rows already taken in are skipped);
        returns whether the path grew. Rows without ``x`` and ``y`` (not a surface run) add nothing."""
        x, y = rows.get("x"), rows.get("y")
        if x is None or y is None:
            return False
        skip = self.rows - first_row
        if skip < 0:
            raise RuntimeError(f"path rows {self.rows} to {first_row - 1} never reached the landscape")
        x, y = np.asarray(x, dtype=float)[skip:], np.asarray(y, dtype=float)[skip:]
        if len(x) == 0:
            return False
        i = np.arange(self.rows, self.rows + len(x))
        keep = i % self.stride == 0
        self._i = np.concatenate([self._i, i[keep]])
        self._x, self._y = np.concatenate([self._x, x[keep]]), np.concatenate([self._y, y[keep]])
        while len(self._i) > self.max_points:
            self.stride *= 2
            keep = self._i % self.stride == 0
            self._i, self._x, self._y = self._i[keep], self._x[keep], self._y[keep]
        self.rows += len(x)
        self._last = (float(x[-1]), float(y[-1]))
        return True

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept points ``(x, y)`` in order, the newest one last."""
        if self._last is None:
            return np.zeros(0), np.zeros(0)
        if len(self._i) and self._i[-1] == self.rows - 1:
            return self._x, self._y
        return np.append(self._x, self._last[0]), np.append(self._y, self._last[1])

    @property
    def last(self) -> tuple[float, float] | None:
        """The newest point, or None before the first row."""
        return self._last


def _condition(options: dict):
    value = (options or {}).get("condition")
    return None if value is None else float(value)


class _Drawn:
    """One run's path on the chart: its trace(s) and the path version last sent."""

    def __init__(self, line, head=None):
        self.line, self.head, self.sent = line, head, -1


class Landscape:
    """The landscape chart (``fig``, a :class:`~.figure.Figure`) with its caption (``caption``), as ``widget``,
    shown while the explorer's task (or the run on the charts) is the surface task. Observes
    :class:`ExplorerState`; a click on the contours calls :meth:`click`."""

    def __init__(self, state):
        self.state = state
        self._lock = threading.RLock()
        self._paths: dict[int, Path] = {}     # shown.number -> its path
        self._drawn: dict[int, _Drawn] = {}   # shown.number -> its traces
        self._drawn_at: dict[int, float] = {}
        self._key = None                      # (model, condition) of the contours drawn
        self.fig = Figure()
        self.fig.update_layout(
            title=dict(text="<b>Landscape</b>", font=dict(size=13), x=0.02, xanchor="left"), template="plotly_white",
            width=WIDTH, height=HEIGHT, margin=MARGIN, uirevision=0,
            xaxis=dict(title=dict(text="x", standoff=2), ticklabeloverflow="allow", showgrid=False, zeroline=False),
            yaxis=dict(title=dict(text="y", standoff=2), ticklabeloverflow="allow", showgrid=False, zeroline=False),
            legend=dict(orientation="h", x=0, y=-0.16, yanchor="top", font=dict(size=10)),
            font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=11), hovermode="closest")
        self.fig.add_traces([
            go.Heatmap(x=[], y=[], z=[], uid="surface", name="f", opacity=0, colorscale=stepped_colorscale(),
                       showscale=True, showlegend=False, zsmooth=False,
                       colorbar=dict(title=dict(text="f", side="top"), thickness=10, len=0.8, x=1.0),
                       hovertemplate="x %{x:.3g}, y %{y:.3g}<br>log10 f ≈ %{z:.2f}<extra>click: start here</extra>"),
            go.Scatter(x=[], y=[], uid="minima", name="minimum", mode="markers", hoverinfo="x+y+name",
                       marker=dict(symbol="star", size=13, color="#ffd21f", line=dict(color="#1d2330", width=1))),
            go.Scatter(x=[], y=[], uid="start", name="next start", mode="markers", hoverinfo="x+y+name",
                       marker=dict(symbol="circle", size=10, color="white", line=dict(color="#1d2330", width=2)))])
        self.values, self.minima, self.start = self.fig.data
        self.values.on_click(lambda trace, points, _: self._clicked(points))
        self.caption = widgets.HTML()
        self.widget = widgets.VBox([self.fig, self.caption])
        self.widget.add_class("gd-landscape")
        state.observe(lambda _: self.rebuild(), names=["current", "compared"])
        state.observe(lambda _: self._setup_changed(), names=["task", "model", "options"])
        state.on_update(self._on_update)
        self.rebuild()

    # -- what is shown -------------------------------------------------------------------------------------------
    def _config(self):
        """(task, model, task options) of what the chart shows: the run on the charts, else the setup."""
        current = self.state.current
        if current is not None and current.config.task == SURFACE:
            return current.config.task, current.config.model, current.config.task_options
        return self.state.task, self.state.model, self.state.options.get("task_options") or {}

    @property
    def shown(self) -> bool:
        """Whether the chart is on the page (the surface task is chosen, or a surface run is on the charts)."""
        return self._config()[0] == SURFACE

    def surface(self):
        """The :class:`~gdtuo_explore.engine.tasks.surface.Surface` drawn (None when not shown)."""
        task, model, options = self._config()
        if task != SURFACE:
            return None
        try:
            return surfaces.surface(model, condition=_condition(options))
        except (ValueError, TypeError):
            return surfaces.surface(model)

    def next_start(self) -> tuple[float, float] | None:
        """Where the next run starts: the setup's ``start`` option, else the surface's default start."""
        if self.state.task != SURFACE:
            return None
        start = (self.state.options.get("task_options") or {}).get("start")
        if start is not None:
            try:
                return surfaces.parse_start(start)
            except ValueError:
                pass
        return surfaces.surface(self.state.model).start if self.state.model in surfaces.MODELS else None

    # -- commands ------------------------------------------------------------------------------------------------
    def click(self, x: float, y: float) -> bool:
        """Set the next run's start to ``(x, y)`` (rounded to 3 significant digits), as a click on the landscape
        does. False (nothing changes) unless the setup's task is the surface task."""
        if self.state.task != SURFACE:
            return False
        start = f"{float(f'{x:.3g}'):g},{float(f'{y:.3g}'):g}"
        self.state.set_task_option("start", start)
        return True

    def _clicked(self, points) -> None:
        if points.xs:
            self.click(points.xs[0], points.ys[0])

    # -- structure -------------------------------------------------------------------------------------------------
    def _setup_changed(self) -> None:
        if self.state.current is None or self.state.current.config.task != SURFACE:
            self.rebuild()   # the setup is what the chart shows: another surface may leave no path on it
            return
        with self._lock:
            with self.fig.batch_update():
                self._draw_start()
            self._show()
        self.fig.publish()

    def _show(self) -> None:
        self.widget.layout.display = None if self.shown else "none"
        start = self.next_start()
        if start is None:
            self.caption.value = ""
            return
        s = self.surface()
        self.caption.value = (
            f"<div class='gd-about'>f = {html.escape(s.formula)}. The next run starts at "
            f"<b>({start[0]:g}, {start[1]:g})</b>: click the landscape to move it.</div>")

    def _draw_surface(self) -> None:
        s = self.surface()
        key = None if s is None else (s.name, s.formula)
        if key == self._key:
            return
        self._key = key
        if s is None:
            return
        x, y, z = s.grid(IMAGE_GRID)
        logz, floor = log_levels(z)
        low, high = float(np.min(logz)), float(np.max(logz))
        levels = np.linspace(low, high, BANDS + 1)
        png = contour_image(x, y, logz, levels)
        hx, hy, hz = s.grid(GRID)
        tickvals, ticktext = _ticks(low, high)
        (x0, x1), (y0, y1) = s.bounds
        with self.fig.batch_update():
            self.values.update(x=hx, y=hy, z=np.log10(np.clip(hz, 0.0, None) + floor).astype(np.float32),
                               zmin=low, zmax=high, colorbar=dict(tickvals=tickvals, ticktext=ticktext))
            self.minima.update(x=[m[0] for m in s.minima], y=[m[1] for m in s.minima])
            self.fig.update_layout({"title.text": f"<b>Landscape</b> · {s.name}",
                                    "xaxis.range": [x0, x1], "yaxis.range": [y0, y1]},
                                   images=[dict(source="data:image/png;base64," + base64.b64encode(png).decode(),
                                                xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0, sizey=y1 - y0,
                                                xanchor="left", yanchor="top", sizing="stretch", layer="below",
                                                name="contours")])

    def _draw_start(self) -> None:
        start = self.next_start()
        self.start.update(x=[] if start is None else [start[0]], y=[] if start is None else [start[1]])

    def rebuild(self) -> None:
        """Re-create the paths' traces for the current run and the overlays (on this surface), and draw them."""
        with self._lock:
            current = self.state.current
            s = self.surface()
            shown = [x for x in self.state.compared if x is not current] + ([current] if current else [])
            shown = [x for x in shown if s is not None and x.config.task == SURFACE and x.config.model == s.name]
            self._paths = {x.number: self._paths.get(x.number) or self._read(x) for x in shown}
            self._drawn_at.clear()
            if len(self.fig.data) > 3:
                self.fig.data = self.fig.data[:3]
            self._drawn = {}
            for x in shown:
                self._add_traces(x, x is current)
            with self.fig.batch_update():
                self._draw_surface()
                self._draw_start()
                for x in shown:
                    self._draw_path(x.number)
            self._show()
        self.fig.publish()

    @staticmethod
    def _read(shown) -> Path:
        """The path of everything ``shown``'s run recorded so far (the one time its records are read)."""
        path = Path()
        if shown.run is not None:
            path.add(shown.run.metrics())
        return path

    def _add_traces(self, shown, main: bool) -> None:
        n, color = shown.number, shown.color
        if main:
            self.fig.add_traces([
                go.Scatter(x=[], y=[], uid=f"{n}.path", name=shown.label, mode="lines", legendgroup=f"run{n}",
                           line=dict(color=color, width=2.5), hoverinfo="x+y+name"),
                go.Scatter(x=[], y=[], uid=f"{n}.head", name="now", mode="markers", legendgroup=f"run{n}",
                           showlegend=False, hoverinfo="x+y",
                           marker=dict(size=10, color=color, line=dict(color="white", width=1.5)))])
            self._drawn[n] = _Drawn(*self.fig.data[-2:])
        else:
            self.fig.add_trace(go.Scatter(x=[], y=[], uid=f"{n}.path", name=shown.label, mode="lines",
                                          legendgroup=f"run{n}", line=dict(color=color, width=2, dash="dash"),
                                          hoverinfo="x+y+name"))
            self._drawn[n] = _Drawn(self.fig.data[-1])

    # -- data ------------------------------------------------------------------------------------------------------
    def _draw_path(self, number: int) -> bool:
        """Send the path of run ``number`` if it grew (caller holds the lock, inside a batch_update or not)."""
        drawn, path = self._drawn.get(number), self._paths.get(number)
        if drawn is None or path is None or drawn.sent == path.rows:
            return False
        drawn.sent = path.rows
        x, y = path.points()
        drawn.line.update(x=x, y=y)
        if drawn.head is not None:
            last = path.last
            drawn.head.update(x=[] if last is None else [last[0]], y=[] if last is None else [last[1]])
        return True

    def _on_update(self, shown, update) -> None:
        if update is None:
            return
        with self._lock:
            path = self._paths.get(shown.number)
            if path is None:
                return   # not on the landscape
            grew = path.add(update.rows, update.first_row)
        running = update.status == Status.RUNNING and not update.final
        if not grew and running:
            return
        if running and time.monotonic() - self._drawn_at.get(shown.number, -math.inf) < MIN_INTERVAL:
            return   # drawn a moment ago; a later update draws everything taken in by then
        with self._lock:
            self._drawn_at[shown.number] = time.monotonic()
            with self.fig.batch_update():
                sent = self._draw_path(shown.number)
            if sent and not running:
                self.fig.publish()

    def path(self, shown) -> tuple[np.ndarray, np.ndarray]:
        """The points of ``shown``'s path as the chart has them (empty if it is not on the landscape)."""
        with self._lock:
            path = self._paths.get(shown.number)
            return path.points() if path is not None else (np.zeros(0), np.zeros(0))
