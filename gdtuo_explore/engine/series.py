"""Series for charts, one place for both users (the HTML report, :mod:`.report`, and the explorer's live charts):
which hyperparameter columns get a line and on which axis, a y axis any values can be drawn on, and the sweep's
lines. (Long series are thinned and smoothed by :mod:`.thinning`.)

A y axis for any values (:func:`value_axis`): a log axis while every finite value is positive; otherwise a
symmetric log scale, ``sign(y) * log10(1 + |y| / c)`` on a linear axis whose ticks name the real values, so huge,
tiny, negative and sign-changing values all stay readable. Ticks are always bounded (``nticks`` or explicit
``tickvals``): never a ``dtick`` on a range nobody controls.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import plotly.graph_objects as go

from ..core.columns import parse_column
from ..core.spec import parse_tower

MAX_TICKS = 8      # ticks on a value axis, at most about
LOG_TICKS = 5      # a log axis: more lets Plotly label 1..9 in every decade, labels overlap
MAX_DECADES = 12   # decades a symmetric log axis shows on each side of its linear part
HEIGHT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
DASHES = ("solid", "dash", "dot", "dashdot")


# -- columns -------------------------------------------------------------------------------------------------------
def is_step_size(name: str) -> bool:
    """Whether a hyperparameter name is a step size (``alpha``, or ``<tensor>_alpha`` for sgd_per_param)."""
    return name == "alpha" or name.endswith("_alpha")


def axis_of(name: str) -> str:
    """The y axis of a hyperparameter's line: ``"y"`` (left) for step sizes, ``"y2"`` (right) for the others."""
    return "y" if is_step_size(name) else "y2"


def plotted_columns(spec: str, columns: list[str]) -> list[str]:
    """The hyperparameter columns of a tower worth a line: every step size, and what learns below the top level."""
    levels = parse_tower(spec).levels()
    out = []
    for column in columns:
        parsed = parse_column(column)
        if parsed is None:
            continue
        k, name = parsed
        if k <= len(levels) and (is_step_size(name) or (k < len(levels) and name in levels[k - 1].learn)):
            out.append(column)
    return out


def by_level(columns) -> dict[int, list[str]]:
    """Hyperparameter columns grouped by level, ``{level: [column, ...]}`` in level order."""
    out = defaultdict(list)
    for column in columns:
        parsed = parse_column(column)
        if parsed is not None:
            out[parsed[0]].append(column)
    return dict(sorted(out.items()))


# -- a y axis for any values ---------------------------------------------------------------------------------------
def finite_values(arrays) -> np.ndarray:
    """The finite values of some arrays, in one array."""
    arrays = [np.asarray(a, dtype=float).ravel() for a in arrays]
    values = np.concatenate(arrays) if arrays else np.zeros(0)
    return values[np.isfinite(values)]


def symlog(y, c: float) -> np.ndarray:
    """The symmetric log scale: ``sign(y) * log10(1 + |y| / c)`` (linear within about ``c`` of zero)."""
    y = np.asarray(y, dtype=float)
    return np.sign(y) * np.log10(1.0 + np.abs(y) / c)


def symlog_threshold(values) -> float:
    """``c`` for :func:`symlog`: the power of ten at or below the smallest non-zero magnitude, but at most
    ``MAX_DECADES`` decades below the largest (1 if all are zero)."""
    mags = np.abs(finite_values([values]))
    mags = mags[mags > 0]
    if not len(mags):
        return 1.0
    return 10.0 ** max(math.floor(math.log10(mags.min())), math.floor(math.log10(mags.max())) - MAX_DECADES)


def _label(v: float) -> str:
    """A tick label: ``0``, ``0.01``, ``-1000``, ``1e+06``."""
    return f"{v:.3g}"


def log_ticks(lo: float, hi: float, max_ticks: int = MAX_TICKS) -> list[float]:
    """Ticks of a log axis over ``[lo, hi]`` (both > 0): the 1-2-5 values inside it, or only the powers of ten (every
    ``s``-th) when those are too many; ``lo`` and ``hi`` themselves (3 significant digits) when fewer than two fall
    inside. Plotly's own ticks label every digit of a narrow range (0.03, 0.04, ... 0.09: overlapping labels)."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    inside = lambda v: lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)  # noqa: E731
    ticks = [m * 10.0 ** e for e in range(first, last + 1) for m in (1, 2, 5) if inside(m * 10.0 ** e)]
    if len(ticks) > max_ticks:
        decades = [10.0 ** e for e in range(first, last + 1) if inside(10.0 ** e)]
        stride = math.ceil(len(decades) / max_ticks)
        ticks = decades[::-1][::stride][::-1]
    if len(ticks) < 2:
        ticks = sorted(set(ticks) | {float(f"{lo:.3g}"), float(f"{hi:.3g}")})
    return ticks


def symlog_ticks(lo: float, hi: float, c: float, max_ticks: int = MAX_TICKS) -> tuple[list[float], list[str]]:
    """Ticks of a :func:`symlog` axis over the real values ``[lo, hi]``: ``(positions, labels)``, at zero and at
    ``+-c * 10**k``, every ``s``-th decade so there are at most about ``max_ticks``."""
    top = math.log10(max(abs(lo), abs(hi), c) / c)
    decades = list(range(0, int(math.floor(top + 1e-9)) + 1))
    sides = (lo < 0) + (hi > 0)
    stride = max(1, math.ceil(len(decades) * max(sides, 1) / max(1, max_ticks - 1)))
    decades = decades[::-1][::stride][::-1]       # the largest decade always has a tick
    if len(decades) > 2 and decades[0] == 0:      # +-c sits next to 0 when the axis spans many decades
        decades = decades[1:]
    real = [0.0] + [s * c * 10.0 ** k for k in decades for s in (-1, 1)
                    if (s < 0 and lo < 0 and s * c * 10.0 ** k >= lo * 1.0001 - c)
                    or (s > 0 and hi > 0 and s * c * 10.0 ** k <= hi * 1.0001 + c)]
    real = sorted(set(real))
    return [float(v) for v in symlog(real, c)], [_label(v) for v in real]


class ValueAxis:
    """How to draw some values on a y axis: ``layout`` (Plotly y-axis properties, every tick setting included so
    that switching between kinds clears the previous kind's), ``kind`` (``"log"`` or ``"symlog"``) and
    :meth:`transform` (the y values to plot)."""

    def __init__(self, kind: str, layout: dict, c: float = 1.0):
        self.kind, self.layout, self.c = kind, layout, c

    def transform(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        return symlog(y, self.c) if self.kind == "symlog" else y

    @property
    def positive(self) -> bool:
        return self.kind == "log"

    def __eq__(self, other) -> bool:
        return isinstance(other, ValueAxis) and (self.kind, self.layout, self.c) == (other.kind, other.layout, other.c)


def value_axis(arrays, max_ticks: int = MAX_TICKS) -> ValueAxis:
    """The y axis for the values in ``arrays``: log while every finite value is positive (Plotly's ticks, at most
    ``max_ticks``), else a symmetric log scale with explicit ticks showing the real values."""
    values = finite_values(arrays)
    if not len(values):
        return ValueAxis("log", dict(type="log", tickmode="auto", nticks=LOG_TICKS, tickvals=None, ticktext=None,
                                     dtick=None, tick0=None, tickformat="~g", zeroline=False))
    if bool((values > 0).all()):
        tickvals = log_ticks(float(values.min()), float(values.max()), max_ticks)
        return ValueAxis("log", dict(type="log", tickmode="array", tickvals=tickvals,
                                     ticktext=[_label(v) for v in tickvals], nticks=None, dtick=None, tick0=None,
                                     tickformat=None, zeroline=False))
    c = symlog_threshold(values)
    tickvals, ticktext = symlog_ticks(float(values.min()), float(values.max()), c, max_ticks)
    return ValueAxis("symlog", dict(type="linear", tickmode="array", tickvals=tickvals, ticktext=ticktext,
                                    nticks=None, dtick=None, tick0=None, tickformat=None, zeroline=True), c)


# -- the sweep -------------------------------------------------------------------------------------------------------
def sweep_traces(rows: list[dict], key: str) -> list[go.Scatter]:
    """One line per tower height (and per ``kappa``, where the rows hold several) of ``key`` (``final_test_loss`` or
    ``final_test_accuracy``) against the initial step size, for the sweep's rows (dicts with ``height``, ``alpha``,
    ``status``, ``key`` and optionally ``kappa``). A run that did not finish normally is marked by its status in the
    hover text; lines differ in colour (by height) and dash (by kappa, else by height), so equal lines stay
    visible."""
    kappas = sorted({row["kappa"] for row in rows if row.get("kappa") is not None})
    by_kappa = len(kappas) > 1
    lines = defaultdict(list)
    for row in rows:
        lines[(row["height"], row.get("kappa") if by_kappa else None)].append(row)
    heights = sorted({height for height, _ in lines})
    out = []
    for height, kappa in sorted(lines, key=lambda hk: (hk[0], -1 if hk[1] is None else hk[1])):
        points = sorted(lines[(height, kappa)], key=lambda r: r["alpha"])
        i = heights.index(height)
        dash = DASHES[(kappas.index(kappa) if kappa is not None else 0) % len(DASHES)] if by_kappa else \
            DASHES[i % len(DASHES)]
        name = f"height {height}" + (f", kappa {kappa:g}" if kappa is not None else "")
        out.append(go.Scatter(x=[r["alpha"] for r in points], y=[np.nan if r[key] is None else r[key] for r in points],
                              mode="lines+markers", name=name, text=[r["status"] for r in points],
                              hovertemplate="alpha %{x:g}: %{y:.4g} (%{text})",
                              line=dict(color=HEIGHT_COLORS[i % len(HEIGHT_COLORS)], width=2, dash=dash)))
    return out
