"""The traces :mod:`.static` draws, one function per Plotly trace type: ``scatter``, ``bars`` (every bar trace of
one subplot together, for ``barmode``), ``contour`` and ``heatmap``, and the colour bar of the last two. Each draws
on a matplotlib axes, notes its data's extent on its Plotly axes (for the autorange) and its legend entry. Every
artist gets a ``gid`` such as ``trace3-lines``, so an SVG names what it shows."""
from __future__ import annotations

import numpy as np

from .static_style import PX, array, colorscale, dashes, number, plain, rgba, title_text

MARKERS = {"circle": "o", "square": "s", "diamond": "D", "cross": "P", "x": "X", "triangle-up": "^",
           "triangle-down": "v", "triangle-left": "<", "triangle-right": ">", "pentagon": "p", "hexagon": "h",
           "star": "*", "line-ns": "|", "line-ew": "_", "hourglass": "$\u29d7$", "asterisk": "+"}
MARKER_CODES = ("circle", "square", "diamond", "cross", "x", "triangle-up", "triangle-down", "triangle-left",
                "triangle-right")


def _sym(symbol) -> tuple[str, bool]:
    """matplotlib's marker for a Plotly symbol, and whether it is open (``circle-open``)."""
    if isinstance(symbol, (int, float)) and not isinstance(symbol, bool):
        code = int(symbol)
        symbol = MARKER_CODES[code % 100 % len(MARKER_CODES)] + ("-open" if code % 200 >= 100 else "")
    name = str(symbol or "circle")
    hollow = name.endswith("-open") or name.endswith("-open-dot")
    base = name.replace("-open-dot", "").replace("-open", "").replace("-dot", "")
    return MARKERS.get(base, "o"), hollow




def _xy(t: dict, n_from) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A trace's ``x`` and ``y``, one made from ``x0``/``dx`` (``y0``/``dy``) when only the other is given."""
    x, y = array(t.get("x")), array(t.get("y"))
    if x is None and y is not None:
        x = float(t.get("x0", 0)) + float(t.get("dx", 1)) * np.arange(len(y))
    if y is None and x is not None:
        y = float(t.get("y0", 0)) + float(t.get("dy", 1)) * np.arange(len(x))
    return x, y


def scatter(d, i: int, t: dict, ax, xa, ya) -> None:
    """Lines, markers and fills of a ``scatter`` (or ``scattergl``) trace."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    x, y = _xy(t, None)
    if x is None or y is None:
        return
    n = min(len(x), len(y))
    xs, ys = xa.coords(x[:n]), ya.coords(y[:n])
    mode = t.get("mode") or ("lines+markers" if n < 20 else "lines")
    color = d.default_color(i)
    line = t.get("line") or {}
    marker = t.get("marker") or {}
    line_color = rgba(line.get("color") or color)
    width = float(line.get("width", 2))
    opacity = float(t.get("opacity", 1))
    z = 2 + i * 1e-3
    lines = "lines" in mode and width > 0
    has_markers = "markers" in mode
    fill = t.get("fill") or "none"
    handle_fill = None
    if fill != "none":
        fill_color = rgba(t.get("fillcolor")) or (line_color[:3] + (0.5,) if line_color else (0, 0, 0, 0.5))
        fill_color = fill_color[:3] + (fill_color[3] * opacity,)
        ok = np.isfinite(xs) & np.isfinite(ys)
        if fill == "toself":
            artist = ax.fill(xs[ok], ys[ok], color=fill_color, linewidth=0, zorder=z - 5e-4)
            artist = artist[0] if artist else None
        elif fill in ("tozeroy", "tonexty", "tonext"):
            base = np.zeros_like(ys)
            previous = d._previous.get(id(ax))
            if fill != "tozeroy" and previous is not None and len(previous[1]) == len(ys):
                base = previous[1]
            artist = ax.fill_between(xs, base, ys, where=ok, color=fill_color, linewidth=0, zorder=z - 5e-4)
        else:   # tozerox, tonextx
            artist = ax.fill_betweenx(ys, np.zeros_like(xs), xs, where=ok, color=fill_color, linewidth=0,
                                      zorder=z - 5e-4)
        if artist is not None:
            artist.set_gid(f"trace{i}-fill")
        handle_fill = Patch(facecolor=fill_color, edgecolor=line_color if lines else "none")
        if fill in ("tozeroy", "tonexty"):
            ya.extent([0.0], pad=False)
    d._previous[id(ax)] = (xs, ys)
    if lines:
        steps = {"hv": "steps-post", "vh": "steps-pre", "hvh": "steps-mid", "vhv": "steps-mid"}
        (artist,) = ax.plot(xs, ys, color=line_color, linewidth=width * PX, alpha=opacity, zorder=z,
                            drawstyle=steps.get(line.get("shape"), "default"), solid_capstyle="round",
                            solid_joinstyle="round")
        dash = dashes(line.get("dash"), width)
        if dash:
            artist.set_dashes(dash[1])
        artist.set_gid(f"trace{i}-lines")
    symbol, hollow = _sym(marker.get("symbol"))
    size = marker.get("size", 6)
    marker_color = marker.get("color") if marker.get("color") is not None else (line.get("color") or color)
    marker_opacity = float(marker.get("opacity", 1)) if not isinstance(marker.get("opacity"), list) else 1.0
    edge = marker.get("line") or {}
    edge_color = rgba(edge.get("color")) if edge.get("width") else None
    if has_markers:
        colors = array(marker_color) if isinstance(marker_color, (list, tuple, np.ndarray, dict)) else None
        sizes = array(size) if isinstance(size, (list, tuple, np.ndarray, dict)) else None
        if colors is None and sizes is None:
            face = rgba(marker_color) or line_color
            (artist,) = ax.plot(xs, ys, linestyle="none", marker=symbol, markersize=float(size) * PX,
                                markerfacecolor="none" if hollow else face,
                                markeredgecolor=edge_color or face, alpha=opacity * marker_opacity,
                                markeredgewidth=float(edge.get("width", 1 if hollow else 0)) * PX, zorder=z + 1e-4)
        else:
            sizes_pt = ((sizes if sizes is not None else np.full(n, float(size)))[:n] * PX) ** 2
            if colors is not None and colors.dtype.kind == "f":
                cmap = colorscale(marker.get("colorscale"), bool(marker.get("reversescale")))
                artist = ax.scatter(xs, ys, s=sizes_pt, c=colors[:n], cmap=cmap, marker=symbol,
                                    alpha=opacity * marker_opacity, linewidths=0, zorder=z + 1e-4)
            else:
                face = [rgba(c) for c in colors[:n]] if colors is not None else rgba(marker_color)
                artist = ax.scatter(xs, ys, s=sizes_pt, color=face, marker=symbol, alpha=opacity * marker_opacity,
                                    linewidths=0, zorder=z + 1e-4)
        artist.set_gid(f"trace{i}-markers")
    if "text" in mode and t.get("text") is not None:
        texts = t["text"] if isinstance(t["text"], (list, tuple)) else [t["text"]] * n
        font = {**d.font, **(t.get("textfont") or {})}
        for xv, yv, s in zip(xs, ys, texts):
            if np.isfinite(xv) and np.isfinite(yv) and s not in (None, ""):
                ax.annotate(str(s), (xv, yv), xytext=(0, 4), textcoords="offset points", ha="center",
                            va="bottom", fontsize=float(font["size"]) * PX, color=rgba(font.get("color")),
                            zorder=z + 2e-4)
    padded = has_markers or "text" in mode   # Plotly pads x only for markers or text; y always
    sized = array(size) if isinstance(size, (list, tuple, dict, np.ndarray)) else np.array([float(size)])
    radius = float(np.nanmax(sized)) / 2 if has_markers and len(sized) else 0.0
    xa.extent(xs, pad=padded and fill not in ("tozeroy", "tonexty"), px=(radius, radius))
    ya.extent(ys, pad=True, px=(radius, radius))
    if has_markers or lines:
        one_color = rgba(marker_color) if not isinstance(marker_color, (list, tuple, dict, np.ndarray)) else None
        handle = Line2D([], [], color=line_color, linewidth=width * PX if lines else 0, alpha=opacity,
                        marker=symbol if has_markers else None, markersize=min(radius * 2 or 6, 10) * PX,
                        markerfacecolor="none" if hollow else (one_color or line_color),
                        markeredgecolor=edge_color or one_color or line_color,
                        markeredgewidth=float(edge.get("width", 1 if hollow else 0)) * PX if edge_color or hollow
                        else None)
        dash = dashes(line.get("dash"), width)
        if dash and lines:
            handle.set_dashes(dash[1])
    else:
        handle = handle_fill
    if handle is not None:
        d.add_legend(i, t, handle)


def bars(d, group: list) -> None:
    """Every bar trace of one subplot, laid out by ``barmode`` (group, stack, relative, overlay), ``bargap``
    and ``bargroupgap``."""
    from matplotlib.patches import Patch

    layout = d.layout
    mode = layout.get("barmode") or "group"
    gap, group_gap = float(layout.get("bargap", 0.2)), float(layout.get("bargroupgap", 0))
    prepared = []
    for i, t, (ax, xa, ya) in group:
        horizontal = t.get("orientation") == "h"
        x, y = _xy(t, None)
        if x is None or y is None:
            continue
        pos_axis, val_axis = (ya, xa) if horizontal else (xa, ya)
        pos, val = (ya.coords(y), xa.coords(x)) if horizontal else (xa.coords(x), ya.coords(y))
        n = min(len(pos), len(val))
        prepared.append((i, t, ax, pos_axis, val_axis, horizontal, pos[:n], val[:n]))
    if not prepared:
        return
    every = np.concatenate([p[6][np.isfinite(p[6])] for p in prepared] or [np.zeros(0)])
    distinct = np.unique(every)
    spacing = float(np.min(np.diff(distinct))) if len(distinct) > 1 else 1.0
    slot = (1 - gap) * spacing
    grouped = mode == "group"
    count = len(prepared) if grouped else 1
    base_pos: dict[float, float] = {}
    base_neg: dict[float, float] = {}
    for k, (i, t, ax, pos_axis, val_axis, horizontal, pos, val) in enumerate(prepared):
        marker = t.get("marker") or {}
        edge = marker.get("line") or {}
        width = float(t["width"]) if isinstance(t.get("width"), (int, float)) else slot / count * (1 - group_gap)
        offset = (-slot / 2 + (k + 0.5) * slot / count) if grouped else 0.0
        ok = np.isfinite(pos) & np.isfinite(val)
        bottoms = np.zeros(len(val))
        if mode in ("stack", "relative"):
            for j in np.flatnonzero(ok):
                table = base_neg if (mode == "relative" and val[j] < 0) else base_pos
                bottoms[j] = table.get(pos[j], 0.0)
                table[pos[j]] = bottoms[j] + val[j]
        colors = marker.get("color")
        if isinstance(colors, (list, tuple, dict, np.ndarray)):
            values = array(colors)
            if values.dtype.kind == "f":
                cmap = colorscale(marker.get("colorscale"), bool(marker.get("reversescale")))
                lo, hi = np.nanmin(values), np.nanmax(values)
                face = [cmap((v - lo) / (hi - lo) if hi > lo else 0.5) for v in values[ok]]
            else:
                face = [rgba(c) for c in np.asarray(values, dtype=object)[ok]]
        else:
            face = rgba(colors or d.default_color(i))
        opacity = float(t.get("opacity", 1)) * float(marker.get("opacity", 1)
                                                      if not isinstance(marker.get("opacity"), list) else 1)
        style = dict(color=face, edgecolor=rgba(edge.get("color")) if edge.get("width") else "none",
                     linewidth=float(edge.get("width", 0)) * PX, alpha=opacity, zorder=1.5 + i * 1e-3)
        draw = ax.barh if horizontal else ax.bar
        if horizontal:
            artist = draw(pos[ok] + offset, val[ok], height=width, left=bottoms[ok], **style)
        else:
            artist = draw(pos[ok] + offset, val[ok], width=width, bottom=bottoms[ok], **style)
        for k, patch in enumerate(artist):
            patch.set_gid(f"trace{i}-bar{k}")
        tops = bottoms[ok] + val[ok]
        val_axis.extent(np.concatenate([tops, [0.0]]), pad=True, pad_low=bool(np.any(tops < 0)))
        if pos_axis.type != "category" and ok.any():
            pos_axis.extent(np.concatenate([pos[ok] - slot / 2, pos[ok] + slot / 2]), pad=False)
        legend_face = face if not isinstance(face, list) else (face[0] if face else "grey")
        d.add_legend(i, t, Patch(facecolor=legend_face, alpha=opacity, edgecolor=style["edgecolor"]))


def _grid(t: dict, xa, ya) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(x, y, z)`` of a contour or heatmap: z as rows (y) by columns (x), x and y the points' coordinates."""
    z = array(t.get("z"))
    if z is None or z.ndim != 2 or not z.size:
        return None
    z = np.asarray(z, dtype=float)
    if t.get("transpose"):
        z = z.T
    ny, nx = z.shape
    x, y = array(t.get("x")), array(t.get("y"))
    xs = xa.coords(x) if x is not None else float(t.get("x0", 0)) + float(t.get("dx", 1)) * np.arange(nx)
    ys = ya.coords(y) if y is not None else float(t.get("y0", 0)) + float(t.get("dy", 1)) * np.arange(ny)
    return xs, ys, z


def _levels(t: dict, z: np.ndarray) -> np.ndarray:
    """Contour levels: ``contours.start``/``end``/``size`` when given, else about ``ncontours`` nice ones."""
    from matplotlib.ticker import MaxNLocator

    c = t.get("contours") or {}
    finite = z[np.isfinite(z)]
    if not len(finite):
        return np.array([0.0])
    start, end, size = c.get("start"), c.get("end"), c.get("size")
    if t.get("autocontour") is not False and None in (start, end, size) or not size or float(size) <= 0:
        n = int(t.get("ncontours", 15))
        levels = MaxNLocator(nbins=max(1, n), steps=[1, 2, 2.5, 5, 10]).tick_values(finite.min(), finite.max())
        inside = levels[(levels > finite.min()) & (levels < finite.max())]
        return inside if len(inside) else np.array([float(finite.min())])
    count = int(np.floor((float(end) - float(start)) / float(size) + 1e-9)) + 1
    return float(start) + float(size) * np.arange(max(1, min(count, 1000)))


def contour(d, i: int, t: dict, ax, xa, ya) -> None:
    """A ``contour`` trace: filled bands (``contours.coloring`` ``fill``, the default), a smooth heatmap
    (``heatmap``) or coloured lines (``lines``), lines on top unless ``contours.showlines`` is false."""
    grid = _grid(t, xa, ya)
    if grid is None:
        return
    xs, ys, z = grid
    if min(z.shape) < 2:   # no area to draw contours in (Plotly draws nothing either)
        return
    c = t.get("contours") or {}
    coloring = c.get("coloring") or "fill"
    cmap = colorscale(t.get("colorscale"), bool(t.get("reversescale")))
    levels = _levels(t, z)
    step = float(levels[1] - levels[0]) if len(levels) > 1 else 1.0
    lo, hi = float(levels[0]) - step / 2, float(levels[-1]) + step / 2   # Plotly's colours of the bands
    if t.get("zauto") is False or (t.get("zmin") is not None and t.get("zmax") is not None):
        lo, hi = float(t.get("zmin", lo)), float(t.get("zmax", hi))
    norm = lambda v: np.clip((np.asarray(v, dtype=float) - lo) / (hi - lo), 0, 1) if hi > lo else 0.5  # noqa
    opacity = float(t.get("opacity", 1))
    X, Y = (xs, ys) if xs.ndim == 2 else np.meshgrid(xs, ys)
    finite = z[np.isfinite(z)]
    z_lo, z_hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    zorder = 1 + i * 1e-3
    if coloring == "fill":
        bounds = np.concatenate([[min(z_lo, levels[0]) - abs(step) - 1], levels,
                                 [max(z_hi, levels[-1]) + abs(step) + 1]])
        mids = np.concatenate([[levels[0] - step / 2], (levels[:-1] + levels[1:]) / 2 if len(levels) > 1 else [],
                               [levels[-1] + step / 2]])
        artist = ax.contourf(X, Y, z, levels=bounds, colors=[cmap(norm(v)) for v in mids], alpha=opacity,
                             antialiased=True, zorder=zorder)
        artist.set_gid(f"trace{i}-contour")
    elif coloring == "heatmap":
        artist = ax.pcolormesh(X, Y, z, cmap=cmap, vmin=lo, vmax=hi, shading="gouraud", alpha=opacity,
                               zorder=zorder)
        artist.set_gid(f"trace{i}-contour")
    line = t.get("line") or {}
    if c.get("showlines", True) and len(levels) and coloring != "none" or coloring in ("lines", "none"):
        width = float(line.get("width", 0.5 if coloring in ("fill", "heatmap") else 2))
        if coloring == "lines":
            colors = [cmap(norm(v)) for v in levels]
        else:
            colors = [rgba(line.get("color")) or (0.27, 0.27, 0.27, 1)]
        if width > 0 and z_lo < levels[-1] and z_hi > levels[0]:
            artist = ax.contour(X, Y, z, levels=levels, colors=colors, linewidths=width * PX, alpha=opacity,
                                zorder=zorder + 5e-4)
            dash = dashes(line.get("dash"), width)
            if dash:
                artist.set_linestyles([(0, dash[1])])
            artist.set_gid(f"trace{i}-contourlines")
    xa.extent(X, pad=False)
    ya.extent(Y, pad=False)
    if t.get("showscale", True) and coloring != "none":
        bands = None if coloring != "fill" else (levels, step)
        colorbar(d, t, cmap, lo, hi, bands)


def heatmap(d, i: int, t: dict, ax, xa, ya) -> None:
    """A ``heatmap`` trace: one cell per ``z`` value, centred on its ``x``/``y`` (or between edges)."""
    grid = _grid(t, xa, ya)
    if grid is None:
        return
    xs, ys, z = grid

    def edges(centres, n):
        centres = np.asarray(centres, dtype=float)
        if len(centres) == n + 1:
            return centres
        if len(centres) == 1:
            return np.array([centres[0] - 0.5, centres[0] + 0.5])
        mid = (centres[:-1] + centres[1:]) / 2
        return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])

    ex, ey = edges(xs, z.shape[1]), edges(ys, z.shape[0])
    finite = z[np.isfinite(z)]
    lo = float(t.get("zmin")) if t.get("zmin") is not None else (float(finite.min()) if len(finite) else 0.0)
    hi = float(t.get("zmax")) if t.get("zmax") is not None else (float(finite.max()) if len(finite) else 1.0)
    if t.get("zmid") is not None and t.get("zmin") is None:
        half = max(abs(hi - float(t["zmid"])), abs(float(t["zmid"]) - lo))
        lo, hi = float(t["zmid"]) - half, float(t["zmid"]) + half
    cmap = colorscale(t.get("colorscale"), bool(t.get("reversescale")))
    artist = ax.pcolormesh(ex, ey, np.ma.masked_invalid(z), cmap=cmap, vmin=lo, vmax=hi, shading="flat",
                           alpha=float(t.get("opacity", 1)), zorder=1 + i * 1e-3)
    artist.set_gid(f"trace{i}-heatmap")
    xa.extent(ex, pad=False)
    ya.extent(ey, pad=False)
    if t.get("showscale", True):
        colorbar(d, t, cmap, lo, hi, None)


def colorbar(d, t: dict, cmap, lo: float, hi: float, bands) -> None:
    """A colour bar at the right of the plot area (``colorbar.x``, ``len``, ``thickness``, ``title``,
    ``tickvals``/``ticktext``): bands of a filled contour, or a gradient."""

    cb = t.get("colorbar") or {}
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    cax = d.fig.add_axes((0, 0, 0.01, 0.01))
    cax.set_gid("colorbar")
    if bands is not None:
        levels, step = bands
        edges = np.concatenate([[levels[0] - step / 2], levels, [levels[-1] + step / 2]]) if len(levels) else [0, 1]
        for a, b in zip(edges[:-1], edges[1:]):
            mid = (a + b) / 2
            cax.axhspan(a, b, color=cmap(np.clip((mid - lo) / (hi - lo), 0, 1) if hi > lo else 0.5), linewidth=0)
        cax.set_ylim(edges[0], edges[-1])
    else:
        cax.imshow(np.linspace(0, 1, 256)[:, None], aspect="auto", cmap=cmap, origin="lower",
                   extent=(0, 1, lo, hi))
        cax.set_ylim(lo, hi)
    cax.set_xticks([])
    for spine in cax.spines.values():
        spine.set_visible(bool(cb.get("outlinewidth", 1)))
        spine.set_linewidth(float(cb.get("outlinewidth", 1)) * PX)
        spine.set_color(rgba(cb.get("outlinecolor")) or (0.27, 0.27, 0.27, 1))
    cax.yaxis.tick_right()
    font = {**d.font, **(cb.get("tickfont") or {})}
    ymin, ymax = sorted(cax.get_ylim())
    tickvals = array(cb.get("tickvals"))
    if tickvals is not None and len(tickvals):
        text = cb.get("ticktext")
        keep = [(float(v), plain(text[k]) if text is not None and k < len(text) else
                 number(float(v), cb.get("tickformat"), cb.get("exponentformat")))
                for k, v in enumerate(tickvals) if ymin <= float(v) <= ymax]
        cax.set_yticks([v for v, _ in keep], [s for _, s in keep])
    else:
        from matplotlib.ticker import MaxNLocator

        ticks = [v for v in MaxNLocator(nbins=6).tick_values(ymin, ymax) if ymin <= v <= ymax]
        cax.set_yticks(ticks, [number(v, cb.get("tickformat"), cb.get("exponentformat")) for v in ticks])
    cax.tick_params(axis="y", length=0, labelsize=float(font["size"]) * PX, pad=3,
                    labelcolor=rgba(font.get("color")) or (0.27, 0.27, 0.27, 1))
    title = title_text(cb.get("title"))
    if title:
        cax.set_title(plain(title), fontsize=float(font["size"]) * PX, loc="left", pad=6,
                      color=rgba(font.get("color")) or (0.27, 0.27, 0.27, 1))
    d.colorbars.append((cax, cb))
