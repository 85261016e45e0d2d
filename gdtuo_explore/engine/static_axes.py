"""The axes of :mod:`.static`'s drawings: :class:`Axis` (one Plotly axis: settings, type, categories, the extents
the traces note), Plotly's autorange (:func:`ranges`: padding in pixels, never across zero for one-signed data) and
automatic ticks (:func:`tick_values`, :func:`log_ticks`), and what each matplotlib axes shows of them (:func:`draw`:
ticks, labels, grid, zero line, axis lines, titles)."""
from __future__ import annotations

import math

import numpy as np

from .static_style import PX, array, markup, number, numeric, plain, rgba, title_text, value_at


class Axis:
    """One Plotly axis (``x``, ``y2``...): its settings with the template's, its type, categories, the data
    extents the traces report, and the matplotlib axes that show it."""

    def __init__(self, id: str, cfg: dict):
        self.id, self.letter, self.cfg = id, id[0], cfg
        self.type = cfg.get("type") if cfg.get("type") not in (None, "-") else None
        self.categories: list = []
        self.extents: list[tuple] = []   # (lo, hi, pad the low end, pad the high end, px below, px above)
        self.axes: list = []      # matplotlib axes showing this axis
        self.labelled = None      # the one that draws its ticks and title
        self.range: tuple[float, float] | None = None

    @property
    def log(self) -> bool:
        return self.type == "log"

    def see(self, values) -> None:
        """Note a trace's values: strings that are not numbers make it a category axis."""
        if values is None or self.type not in (None, "category"):
            return
        if self.type == "category" or not numeric(values):
            self.type = "category"
            for v in np.ravel(values):
                if v is not None and v not in self.categories:
                    self.categories.append(v)

    def coords(self, values) -> np.ndarray:
        """Values as positions on this axis (a category's index; NaN where there is none)."""
        if values is None:
            return np.zeros(0)
        if self.type == "category":
            index = {c: i for i, c in enumerate(self.categories)}
            flat = [index.get(v, np.nan) if not isinstance(v, float) or v == v else np.nan for v in np.ravel(values)]
            return np.array(flat, dtype=float).reshape(np.shape(values))
        try:
            out = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            out = np.array([float(v) if numeric(np.array([v], dtype=object)) and v is not None else np.nan
                            for v in np.ravel(values)]).reshape(np.shape(values))
        return out

    def extent(self, values, pad: bool = True, pad_low: bool | None = None, px: tuple[float, float] = (0, 0)):
        """Note values the autorange must show: ``pad`` adds Plotly's 5 % of the axis length beyond the highest
        (``pad_low``, default ``pad``, beyond the lowest), ``px`` more pixels below and above (a marker's radius,
        an annotation's text)."""
        v = np.asarray(values, dtype=float).ravel()
        v = v[np.isfinite(v)]
        if self.log:
            v = v[v > 0]
        if len(v):
            self.extents.append((float(v.min()), float(v.max()), pad if pad_low is None else pad_low, pad, *px))

    def paper_value(self, v):
        """A shape's or annotation's coordinate on this axis: Plotly gives log axes' in log10 units."""
        if v is None:
            return None
        if self.type == "category" and isinstance(v, str):
            return float(self.categories.index(v)) if v in self.categories else np.nan
        return 10.0 ** float(v) if self.log else float(v)


def ranges(d) -> None:
    """Set every axis's ``range`` (axes that ``matches`` another share one, from all their extents)."""
    groups: dict[str, list[Axis]] = {}
    for axis in d.axes.values():
        root = axis
        seen = set()
        while root.cfg.get("matches") in d.axes and root.id not in seen:
            seen.add(root.id)
            root = d.axes[root.cfg["matches"]]
        groups.setdefault(root.id, []).append(axis)
    for members in groups.values():
        rng = _range(d, members)
        for axis in members:
            axis.range = rng


def _range(d, members: list[Axis]) -> tuple[float, float]:
    """An axis's range: ``range`` if given, else Plotly's autorange: the smallest range in which every noted
    value keeps its padding in pixels (5 % of the axis length for padded ones), not crossing zero where all
    values are on one side of it, ``rangemode`` applied."""
    axis = members[0]
    cfg = axis.cfg
    given = cfg.get("range")
    if given is not None and len(given) == 2 and cfg.get("autorange") in (None, False) \
            and None not in given:
        return tuple(axis.paper_value(v) for v in given) if axis.log else (float(given[0]), float(given[1]))
    extents = [e for a in members for e in a.extents]
    reverse = cfg.get("autorange") == "reversed"
    if axis.type == "category" and axis.categories:
        lo, hi = -0.5, len(axis.categories) - 0.5
        for e in extents:
            lo, hi = min(lo, e[0]), max(hi, e[1])
        return (hi, lo) if reverse else (lo, hi)
    if not extents:
        lo, hi = ((1.0, 10.0) if axis.log else ((-1.0, 6.0) if axis.letter == "x" else (-1.0, 4.0)))
        return lo, hi
    f = math.log10 if axis.log else (lambda v: v)
    pixels = max(1.0, length(d, axis))
    mode = cfg.get("rangemode") if not axis.log else None
    lows = [(f(e[0]), (0.05 * pixels if e[2] else 0.0) + e[4]) for e in extents]
    highs = [(f(e[1]), (0.05 * pixels if e[3] else 0.0) + e[5]) for e in extents]
    if mode == "tozero":
        lows.append((0.0, 0.0))
        highs.append((0.0, 0.0))
    low, high = min(v for v, _ in lows), max(v for v, _ in highs)
    if high - low < 1e-12 * max(1.0, abs(high)):
        half = 0.5 if axis.log else (1.0 if low == 0 else abs(low) * 0.5)
        lo, hi = low - half, high + half
    else:
        scale = max((vh - vl) / max(0.25 * pixels, pixels - pl - ph) for vl, pl in lows for vh, ph in highs
                    if vh > vl)
        lo = min(v - p * scale for v, p in lows)
        hi = max(v + p * scale for v, p in highs)
        if not axis.log and low >= 0 and lo < 0:
            lo = 0.0
        if not axis.log and high <= 0 and hi > 0:
            hi = 0.0
    if mode == "nonnegative" and lo < 0:
        lo = 0.0
    lo, hi = (10 ** lo, 10 ** hi) if axis.log else (lo, hi)
    return (hi, lo) if reverse else (lo, hi)


def draw(d) -> None:
    """Show every axis on its matplotlib axes: scale, limits, ticks and their labels (on the axes that is
    labelled only), grid, axis lines, zero line and title, in the axis's own style."""
    from matplotlib.ticker import NullLocator

    for axis in d.axes.values():
        cfg = axis.cfg
        for ax in axis.axes:
            side = ax.xaxis if axis.letter == "x" else ax.yaxis
            (ax.set_xscale if axis.letter == "x" else ax.set_yscale)("log" if axis.log else "linear")
            (ax.set_xlim if axis.letter == "x" else ax.set_ylim)(*axis.range)
            side.set_minor_locator(NullLocator())
        positions, labels = tick_values(d, axis)
        font = {**d.font, **(cfg.get("tickfont") or {})}
        color = rgba(font.get("color")) or (0.27, 0.27, 0.27, 1)
        grid = rgba(cfg.get("gridcolor")) or (0.93, 0.93, 0.93, 1)
        show_grid = cfg.get("showgrid", axis.type != "category") and cfg.get("visible", True) is not False
        angle = cfg.get("tickangle")
        rotation = 0.0 if angle in (None, "auto") else -float(angle)
        if angle in (None, "auto") and axis.letter == "x" and labels:
            per_tick = length(d, axis) / len(labels)   # Plotly tilts labels that would overlap by 30 degrees
            widest = max(len(s) for s in labels) * float(font["size"]) * 0.6
            if widest > per_tick * 0.95:
                rotation = 30.0
        for ax in axis.axes:
            side = ax.xaxis if axis.letter == "x" else ax.yaxis
            side.set_ticks(positions)
            labelled = ax is axis.labelled and cfg.get("showticklabels", True) and cfg.get("visible", True) \
                is not False
            side.set_ticklabels(labels if labelled else [""] * len(positions))
            ticks = cfg.get("ticks") or ""
            ticklen = float(cfg.get("ticklen", 5)) * PX if ticks else 0.0
            params = dict(length=ticklen, width=float(cfg.get("tickwidth", 1)) * PX,
                          direction="in" if ticks == "inside" else "out",
                          color=rgba(cfg.get("tickcolor")) or color, labelcolor=color,
                          labelsize=float(font["size"]) * PX, pad=(3 if axis.letter == "x" else 2.5) + ticklen)
            if axis.letter == "x":
                ax.tick_params(axis="x", labelrotation=rotation, **params)
                if rotation:
                    for label in side.get_ticklabels():
                        label.set_horizontalalignment("right" if rotation > 0 else "left")
                        label.set_rotation_mode("anchor")
            else:
                ax.tick_params(axis="y", labelrotation=rotation, **params)
            if show_grid:
                side.grid(True, color=grid, linewidth=float(cfg.get("gridwidth", 1)) * PX)
            else:
                side.grid(False)
            ax.set_axisbelow(True)
            spines(d, ax, axis)
            zero_line(d, ax, axis)
        axis_title(d, axis)


def length(d, axis: Axis) -> float:
    """The length of an axis in px (its domain times the plot area)."""
    l, b, r, t = d.area()
    dom = axis.cfg.get("domain") or [0, 1]
    return (dom[1] - dom[0]) * ((r - l) if axis.letter == "x" else (t - b))


def tick_values(d, axis: Axis) -> tuple[list[float], list[str]]:
    """Positions and labels of an axis's ticks: ``tickvals``/``ticktext`` if given, the categories, ``tick0`` and
    ``dtick`` for ``tickmode="linear"``, else Plotly's automatic ticks (about ``nticks``, or one per 80 px on x and
    40 px on y, at multiples of 2, 5 or 10 times a power of ten)."""
    cfg = axis.cfg
    lo, hi = sorted(axis.range)
    fmt = lambda v: number(v, cfg.get("tickformat"), cfg.get("exponentformat"))  # noqa: E731
    tickvals = array(cfg.get("tickvals"))
    if tickvals is not None and len(tickvals) and cfg.get("tickmode") in (None, "array"):
        if axis.type == "category":
            pos = axis.coords(tickvals)
        else:
            pos = np.asarray(tickvals, dtype=float)
        text = cfg.get("ticktext")
        labels = [plain(text[i]) if text is not None and i < len(text) else
                  (str(tickvals[i]) if axis.type == "category" else fmt(float(pos[i]))) for i in range(len(pos))]
        keep = [(p, s) for p, s in zip(pos, labels) if np.isfinite(p) and lo - 1e-9 * abs(hi - lo) <= p
                <= hi + 1e-9 * abs(hi - lo)]
        return [p for p, _ in keep], [s for _, s in keep]
    if axis.type == "category":
        pos = [i for i in range(len(axis.categories)) if lo <= i <= hi]
        return [float(p) for p in pos], [plain(str(axis.categories[p])) for p in pos]
    pixels = length(d, axis)
    nt = float(cfg["nticks"]) if cfg.get("nticks") else \
        min(9.0, max(4.0, pixels / (80 if axis.letter == "x" else 40))) + 1
    if axis.log:
        return log_ticks(math.log10(lo), math.log10(hi), nt, cfg)
    if cfg.get("tickmode") == "linear" and cfg.get("dtick"):
        dtick, tick0 = float(cfg["dtick"]), float(cfg.get("tick0", 0))
    else:
        dtick, tick0 = round_dtick((hi - lo) / nt), 0.0
    first = math.ceil((lo - tick0) / dtick - 1e-9)
    pos = [tick0 + k * dtick for k in range(first, first + 200) if tick0 + k * dtick <= hi + 1e-9 * dtick]
    pos = [0.0 if abs(p) < 1e-9 * dtick else p for p in pos]
    return pos, [fmt(v) for v in pos]


def log_ticks(lo: float, hi: float, nt: float, cfg: dict) -> tuple[list[float], list[str]]:
    """Plotly's automatic ticks of a log axis over the decades ``[lo, hi]``: every ``k``-th power of ten when
    there are many decades, else 1-2-5 or every digit in each decade (labelled with the digit), or linear
    ticks within one decade."""
    rough = (hi - lo) / nt
    fmt = lambda v: number(v, cfg.get("tickformat"), cfg.get("exponentformat"), log=True)  # noqa: E731
    inside = lambda e: lo - 1e-9 <= e <= hi + 1e-9  # noqa: E731
    if rough > 0.7:
        step = math.ceil(rough)
        exps = [e for e in range(math.floor(lo), math.ceil(hi) + 1) if e % step == 0 and inside(e)]
        return [10.0 ** e for e in exps], [fmt(10.0 ** e) for e in exps]
    if hi - lo < 1:
        real_lo, real_hi = 10 ** lo, 10 ** hi
        dtick = round_dtick((real_hi - real_lo) / (1.5 * (hi - lo) / rough))
        first = math.ceil(real_lo / dtick - 1e-9)
        pos = [k * dtick for k in range(first, first + 200) if k * dtick <= real_hi * (1 + 1e-9)]
        return pos, [fmt(v) for v in pos]
    digits = (1, 2, 5) if rough > 0.3 else tuple(range(1, 10))
    pos, labels = [], []
    for e in range(math.floor(lo), math.ceil(hi) + 1):
        for m in digits:
            v = m * 10.0 ** e
            if inside(math.log10(v)):
                pos.append(v)
                labels.append(fmt(v) if m == 1 else str(m))
    return pos, labels


def spines(d, ax, axis: Axis) -> None:
    """The side an axis's ticks and title are on (``side``), and its line if ``showline`` (``mirror``: both)."""
    cfg = axis.cfg
    names = ("bottom", "top") if axis.letter == "x" else ("left", "right")
    overlay = axis.letter == "y" and ax is d.overlays.get(axis.id)
    side = cfg.get("side") or ("right" if overlay else names[0])
    if axis.letter == "y" and ax is axis.labelled:
        ax.yaxis.set_label_position("right" if side == "right" else "left")
        ax.yaxis.set_ticks_position("right" if side == "right" else "left")
    if axis.letter == "x" and ax is axis.labelled:
        ax.xaxis.set_label_position("top" if side == "top" else "bottom")
        ax.xaxis.set_ticks_position("top" if side == "top" else "bottom")
    for name in names:
        spine = ax.spines[name]
        show = bool(cfg.get("showline")) and (name == side or cfg.get("mirror") in (True, "ticks", "all",
                                                                                       "allticks"))
        spine.set_visible(show)
        if show:
            spine.set_color(rgba(cfg.get("linecolor")) or (0.27, 0.27, 0.27, 1))
            spine.set_linewidth(float(cfg.get("linewidth", 1)) * PX)


def zero_line(d, ax, axis: Axis) -> None:
    """Plotly's zero line of a linear axis, when zero is inside its range (not on an axis laid over another)."""
    cfg = axis.cfg
    if axis.log or axis.type == "category" or not cfg.get("zeroline", True) \
            or cfg.get("visible", True) is False or ax is d.overlays.get(axis.id):
        return
    lo, hi = sorted(axis.range)
    if not lo + 1e-9 * (hi - lo) < 0 < hi - 1e-9 * (hi - lo):
        return
    style = dict(color=rgba(cfg.get("zerolinecolor")) or (0.27, 0.27, 0.27, 1),
                 linewidth=float(cfg.get("zerolinewidth", 1)) * PX, zorder=0.8)
    (ax.axvline if axis.letter == "x" else ax.axhline)(0, **style)


def axis_title(d, axis: Axis) -> None:
    """An axis's title on its labelled axes, ``standoff`` px from the tick labels."""
    cfg = axis.cfg
    text = title_text(cfg.get("title"))
    if not text or axis.labelled is None or cfg.get("visible", True) is False:
        return
    font = {**d.font, "size": round(float(d.font["size"]) * 1.2),
            **(value_at(cfg, "title.font") or {})}
    standoff = float(value_at(cfg, "title.standoff", 6)) * PX
    lines = markup(text)
    bold = all(s.get("bold") for line in lines for _, s in line) and lines
    props = dict(fontsize=float(font["size"]) * PX, color=rgba(font.get("color")) or (0.27, 0.27, 0.27, 1),
                 fontweight="bold" if bold else "normal")
    setter = axis.labelled.set_xlabel if axis.letter == "x" else axis.labelled.set_ylabel
    setter(plain(text), labelpad=standoff, **props)

# -- shapes, annotations, title, legend ------------------------------------------------------------------------


def round_dtick(rough: float) -> float:
    """Plotly's tick step for a rough one: 2, 5 or 10 times the power of ten at or below it."""
    if not rough > 0 or not math.isfinite(rough):
        return 1.0
    base = 10.0 ** math.floor(math.log10(rough))
    return base * next(m for m in (2, 5, 10) if m >= rough / base - 1e-12)


