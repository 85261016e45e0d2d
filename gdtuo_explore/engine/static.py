"""Static images of Plotly figures, PNG or SVG, drawn with matplotlib's Agg backend: on any machine, with no
browser (Plotly's own ``fig.to_image`` goes through Kaleido, which needs Chrome), so that a saved notebook, a
handout or a snapshot of the explorer shows its charts where no JavaScript runs (GitHub, nbviewer, ``jupyter
nbconvert --to html``, an e-mail).

* :func:`render` gives the image's bytes, :func:`write` a file, :func:`mimebundle` a notebook output that holds both
  the interactive figure (``application/vnd.plotly.v1+json``) and its image, and :func:`show` displays that output:
  every notebook's figures go through ``show(fig)``.

What is drawn, with Plotly's meaning (its template included: colours, grid, fonts):

* traces: ``scatter`` and ``scattergl`` (lines with colour, width, dash, shape and opacity; markers with symbol,
  size and colour; fills ``toself``, ``tozeroy``, ``tonexty``), ``bar`` (grouped, stacked, overlaid, horizontal),
  ``contour`` (filled, lines or heatmap colouring, levels from ``contours`` or ``ncontours``, a colour scale by name
  or by stops, its colour bar with ``tickvals``/``ticktext``) and ``heatmap``;
* axes: linear, log, category; domains (subplots, a strip below another), axes laid over others (``overlaying``,
  ``side``), shared ranges (``matches``), ranges and autorange as Plotly pads them, ``rangemode``, explicit ticks
  (``tickvals``/``ticktext``, as :func:`~.series.value_axis` makes for a symmetric log axis), ``nticks``,
  ``tickformat``, ``exponentformat``, ``tickangle``, grid and zero lines; margins grow where tick labels, a legend
  or a colour bar need room (Plotly's ``automargin``);
* titles, axis titles, legends (vertical or horizontal, anywhere), annotations (``make_subplots``' titles,
  ``add_hline``'s labels), shapes (lines and rectangles in data, domain or paper coordinates) and images (data
  URIs placed on data axes, stretched to their box), with Plotly's text markup (``<b>``, ``<i>``, ``<br>``,
  ``<span style='color:...;font-size:...'>``, entities).

A trace of another kind (``pie``, ``scatter3d``, ...) is not drawn: the image says so in its plot area instead.
Dates are drawn as categories. The axes are in :mod:`.static_axes`, the traces in :mod:`.static_traces`, the reading
of colours, markup, numbers and arrays in :mod:`.static_style`.
Sizes are Plotly's CSS pixels; ``scale`` multiplies the image's pixels (PNG). A figure with no ``width`` or
``height`` gets :data:`DEFAULT_WIDTH` x :data:`DEFAULT_HEIGHT` (about what a notebook shows).
"""
from __future__ import annotations

import base64
import io
import threading
import warnings
from pathlib import Path

import numpy as np

from .static_axes import Axis
from .static_style import PX, array, dashes, markup, plain, rgba, title_text

FORMATS = ("png", "svg")
DEFAULT_WIDTH, DEFAULT_HEIGHT = 900, 450
MARGIN = {"l": 80, "r": 80, "t": 100, "b": 80}   # Plotly's default margins, px
COLORWAY = ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880", "#FF97FF",
            "#FECB52")
DRAWN = ("scatter", "scattergl", "bar", "contour", "heatmap")
_lock = threading.Lock()   # matplotlib's rcParams are global: one drawing at a time


# -- public API ----------------------------------------------------------------------------------------------------
def _check(fig, format: str, scale: float, width, height) -> dict:
    """The figure as a dict with its template applied; every argument checked once."""
    from plotly.basedatatypes import BaseFigure
    import plotly.graph_objects as go

    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 8:
        raise ValueError(f"scale must be a number in (0, 8], not {scale!r}")
    for name, value in (("width", width), ("height", height)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 10 <= value <= 20000):
            raise ValueError(f"{name} must be a number of pixels from 10 to 20000 (or None), not {value!r}")
    if isinstance(fig, BaseFigure):
        return fig.to_dict()
    if isinstance(fig, dict) and ("data" in fig or "layout" in fig):
        return go.Figure({k: fig[k] for k in ("data", "layout") if k in fig}, skip_invalid=True).to_dict()
    raise ValueError(f"fig must be a plotly Figure, FigureWidget or figure dict (with 'data' and 'layout'), "
                     f"not {type(fig).__name__}")


def render(fig, format: str = "png", *, scale: float = 1.0, width: float | None = None,
           height: float | None = None) -> bytes:
    """The image of a Plotly figure (a ``go.Figure``, a ``go.FigureWidget`` or a figure dict) as PNG or SVG bytes.

    Args:
        fig: the figure; its ``layout.width``/``height`` (px) size the image unless ``width``/``height`` are given.
        format: ``"png"`` or ``"svg"`` (text kept as text: searchable, small).
        scale: pixels of the PNG per CSS pixel of the figure (2 for a sharp image on a high-density screen).

    Example::

        import plotly.graph_objects as go
        from gdtuo_explore.engine.static import render
        png = render(go.Figure(go.Scatter(y=[3, 1, 2]), layout_title="<b>Loss</b>"))
    """
    d = _check(fig, format, scale, width, height)
    with _lock:
        import matplotlib
        with matplotlib.rc_context(_RC), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # matplotlib's notes on odd data (a log axis with none > 0)
            drawing = _Drawing(d, width, height)
            return drawing.save(format, scale)


def write(fig, path, *, scale: float = 1.0, width: float | None = None, height: float | None = None) -> Path:
    """Write :func:`render`'s image to ``path``; its suffix (``.png`` or ``.svg``) picks the format."""
    path = Path(path)
    format = path.suffix.lower().lstrip(".")
    if format not in FORMATS:
        raise ValueError(f"path must end in .png or .svg, not {path.name!r}")
    data = render(fig, format, scale=scale, width=width, height=height)
    path.write_bytes(data)
    return path


def mimebundle(fig, format: str = "png", *, scale: float = 1.0, width: float | None = None,
               height: float | None = None) -> tuple[dict, dict]:
    """``(data, metadata)`` of a notebook output showing ``fig``: Plotly's interactive form
    (``application/vnd.plotly.v1+json``, what ``fig.show()`` stores), its static image (``image/png`` or
    ``image/svg+xml``, from :func:`render`) and a line of text. JupyterLab, Notebook 7 and VS Code draw the
    interactive figure; viewers with no JavaScript (GitHub, nbviewer, ``nbconvert --to html``) show the image."""
    import plotly.io as pio

    d = _check(fig, format, scale, width, height)
    data = pio.renderers["plotly_mimetype"].to_mimebundle(d)
    image = render(d, format, scale=scale, width=width, height=height)
    metadata = {}
    if format == "png":
        data["image/png"] = base64.b64encode(image).decode("ascii")
        if scale != 1:
            size = _Drawing.size(d, width, height)
            metadata["image/png"] = {"width": round(size[0]), "height": round(size[1])}
    else:
        data["image/svg+xml"] = image.decode("utf-8")
    title = plain((d.get("layout", {}).get("title") or {}).get("text")).replace("\n", " ")
    data["text/plain"] = f"<plotly figure{': ' + title if title else ''}>"
    return data, metadata


def show(fig, format: str = "png", *, scale: float = 1.0, width: float | None = None,
         height: float | None = None) -> None:
    """Display ``fig`` in a notebook with a static image beside its interactive form (:func:`mimebundle`), so
    that the saved notebook shows the figure wherever it is opened."""
    from IPython.display import display

    data, metadata = mimebundle(fig, format, scale=scale, width=width, height=height)
    display(data, metadata=metadata, raw=True)


# -- drawing -------------------------------------------------------------------------------------------------------
_RC = {"svg.fonttype": "none", "svg.hashsalt": "gdtuo-explore", "lines.scale_dashes": False,
       "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
       "axes.unicode_minus": True, "path.simplify": True}


def _merge(base, over):
    """``over`` laid on ``base`` (nested dicts merged, anything else replaced)."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over if over is not None else base
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base.get(k), v) if isinstance(v, dict) else v
    return out




class _Drawing:
    """One figure drawn with matplotlib: :meth:`save` gives its bytes."""

    @staticmethod
    def size(d: dict, width=None, height=None) -> tuple[float, float]:
        layout = d.get("layout", {})
        return (float(width or layout.get("width") or DEFAULT_WIDTH),
                float(height or layout.get("height") or DEFAULT_HEIGHT))

    def __init__(self, d: dict, width=None, height=None):
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.transforms import Affine2D

        layout = dict(d.get("layout") or {})
        template = layout.pop("template", None) or {}
        self.layout = _merge(template.get("layout") or {}, layout)
        self.template_layout = template.get("layout") or {}
        self.W, self.H = self.size(d, width, height)
        margin = {**MARGIN, **{k: v for k, v in (self.layout.get("margin") or {}).items() if k in MARGIN}}
        self.margin = {k: float(v) for k, v in margin.items()}
        self.font = {"size": 12, "color": "#444", **(self.layout.get("font") or {})}
        self.colorway = self.layout.get("colorway") or COLORWAY
        per_type: dict[str, int] = {}
        self.traces = []
        for i, trace in enumerate(d.get("data") or []):
            kind = trace.get("type") or "scatter"
            defaults = (template.get("data") or {}).get(kind) or [{}]
            k = per_type[kind] = per_type.get(kind, -1) + 1
            self.traces.append((i, kind, _merge(defaults[k % len(defaults)], trace)))
        self.fig = Figure(figsize=(self.W / 96, self.H / 96), dpi=96)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.patch.set_facecolor(rgba(self.layout.get("paper_bgcolor")) or (1, 1, 1, 1))
        self.paper = Affine2D()                # plot-area fractions -> figure fractions (see _place)
        self.to_paper = self.paper + self.fig.transFigure
        self.axes: dict[str, Axis] = {}
        self.panels: list[tuple[object, Axis, Axis]] = []   # (matplotlib axes, x axis, y axis)
        self.overlays: dict[str, object] = {}                  # y axis id -> matplotlib axes laid over its base
        self.colorbars: list[tuple[object, dict]] = []
        self.legend_entries: list[tuple[object, str, str]] = []   # (handle, label, group)
        self.missing: list[dict] = []   # traces not drawn
        self._previous: dict[int, tuple] = {}   # id(matplotlib axes) -> the last scatter's (x, y), for tonexty
        self._draw()

    # -- axes --------------------------------------------------------------------------------------------------
    def _axis(self, id: str) -> Axis:
        if id not in self.axes:
            key = id[0] + "axis" + id[1:]
            cfg = _merge(self.template_layout.get(id[0] + "axis") or {}, self.layout.get(key) or {})
            self.axes[id] = Axis(id, cfg)
        return self.axes[id]

    def _layout_axes(self) -> None:
        for key, cfg in self.layout.items():   # an axis with no trace is drawn if placed (make_subplots' empty cells)
            if key[1:5] == "axis" and key[0] in "xy" and (key[5:] == "" or key[5:].isdigit()) and (
                    key[5:] == "" or isinstance(cfg, dict) and {"anchor", "domain", "overlaying"} & set(cfg)):
                self._axis(key[0] + key[5:])
        cartesian = [t for _, kind, t in self.traces if kind in DRAWN and t.get("visible", True) is not False]
        for t in cartesian:
            self._axis(t.get("xaxis") or "x")
            self._axis(t.get("yaxis") or "y")
        if not self.axes and not self.traces:
            self._axis("x"), self._axis("y")
        for kind_trace in cartesian:
            x, y = self._axis(kind_trace.get("xaxis") or "x"), self._axis(kind_trace.get("yaxis") or "y")
            horizontal = kind_trace.get("type") == "bar" and kind_trace.get("orientation") == "h"
            xs, ys = array(kind_trace.get("x")), array(kind_trace.get("y"))
            if kind_trace.get("type") == "bar" and not horizontal and xs is None and ys is not None:
                xs = np.arange(len(ys), dtype=float)
            if x.cfg.get("categoryorder") == "array" and x.cfg.get("categoryarray"):
                x.type, x.categories = "category", list(x.cfg["categoryarray"])
            if y.cfg.get("categoryorder") == "array" and y.cfg.get("categoryarray"):
                y.type, y.categories = "category", list(y.cfg["categoryarray"])
            x.see(xs if xs is None or xs.ndim == 1 else None)
            y.see(ys if ys is None or ys.ndim == 1 else None)
        for axis in self.axes.values():
            axis.type = axis.type or "linear"
        self._make_panels()

    def _make_panels(self) -> None:
        ys = [a for a in self.axes.values() if a.letter == "y"]
        xs = [a for a in self.axes.values() if a.letter == "x"]
        if not xs or not ys:
            return
        pairs = {}
        for _, kind, t in self.traces:
            pairs.setdefault(t.get("yaxis") or "y", t.get("xaxis") or "x")
        for y in ys:
            if y.cfg.get("overlaying") in self.axes:
                continue
            anchor = y.cfg.get("anchor")
            xid = anchor if anchor in self.axes and anchor[0] == "x" else pairs.get(y.id, xs[0].id)
            x = self._axis(xid)
            ax = self.fig.add_axes((0, 0, 1, 1))
            ax.set_facecolor(rgba(self.layout.get("plot_bgcolor")) or (1, 1, 1, 1))
            self.panels.append((ax, x, y))
            x.axes.append(ax)
            y.axes.append(ax)
            y.labelled = ax
        for y in ys:
            base = y.cfg.get("overlaying")
            if base in self.axes:
                owner = next((p for p in self.panels if p[2].id == base), None)
                if owner is None:
                    continue
                ax = owner[0].twinx()
                ax.patch.set_visible(False)
                for spine in ax.spines.values():
                    spine.set_visible(False)
                self.overlays[y.id] = ax
                y.axes.append(ax)
                y.labelled = ax
        for x in xs:   # a shared x axis is labelled on its anchor's panel, else on its lowest
            mine = [p for p in self.panels if p[1] is x]
            if not mine:
                continue
            anchor = x.cfg.get("anchor")
            chosen = next((p for p in mine if p[2].id == anchor), None)
            if chosen is None:
                chosen = min(mine, key=lambda p: (p[2].cfg.get("domain") or [0, 1])[0])
            x.labelled = chosen[0]

    def _ax_for(self, t) -> tuple[object, Axis, Axis] | None:
        xid, yid = t.get("xaxis") or "x", t.get("yaxis") or "y"
        x, y = self.axes.get(xid), self.axes.get(yid)
        if x is None or y is None:
            return None
        if yid in self.overlays:
            return self.overlays[yid], x, y
        panel = next((p for p in self.panels if p[2] is y), None)
        return (panel[0], x, y) if panel else None

    # -- the whole figure ------------------------------------------------------------------------------------------
    def _draw(self) -> None:
        from . import static_axes, static_traces

        self._layout_axes()
        bars: dict[int, list] = {}
        for i, kind, t in self.traces:
            if t.get("visible", True) is False:
                continue
            if t.get("visible") == "legendonly":   # hidden until clicked in the legend: only its entry, greyed
                from matplotlib.lines import Line2D

                self.add_legend(i, t, Line2D([], [], color="#c8c8c8", linewidth=2 * PX))
                continue
            where = self._ax_for(t) if kind in DRAWN else None
            if where is None:
                self.missing.append(t)
                continue
            if kind == "bar":
                bars.setdefault(id(where[0]), []).append((i, t, where))
                continue
            getattr(static_traces, kind.replace("scattergl", "scatter"))(self, i, t, *where)
        for group in bars.values():
            static_traces.bars(self, group)
        self._images()
        self._shapes_and_annotations(extents_only=True)
        static_axes.ranges(self)
        static_axes.draw(self)
        self._shapes_and_annotations()
        self._title()
        self._legend()
        self._placeholder()
        self._fit()

    def default_color(self, i: int) -> str:
        return self.colorway[i % len(self.colorway)]

    def add_legend(self, i: int, t: dict, handle) -> None:
        """A legend entry for trace ``i`` unless its ``showlegend`` is false (Plotly names an unnamed one
        ``trace i``)."""
        if t.get("showlegend", True):
            name = t.get("name")
            self.legend_entries.append((handle, plain(name) if name else f"trace {i}", t.get("legendgroup") or ""))

    # -- ranges and ticks ------------------------------------------------------------------------------------------
    def _ref(self, ref: str | None, letter: str):
        """(transform of one coordinate, the axis) for a shape's or annotation's ``xref``/``yref``."""
        ref = ref or "paper"
        if ref == "paper" or not ref.startswith(letter):
            return None, None
        id, _, domain = ref.partition(" ")
        axis = self.axes.get(id)
        if axis is None or not axis.axes:
            return None, None
        ax = self.overlays.get(id) or axis.axes[0]
        return (ax.transAxes if domain else ax.transData), (None if domain else axis)

    def _transform(self, xref, yref):
        from matplotlib.transforms import blended_transform_factory

        (tx, xa), (ty, ya) = self._ref(xref, "x"), self._ref(yref, "y")
        return (blended_transform_factory(tx or self.to_paper, ty or self.to_paper), xa, ya)

    def _images(self) -> None:
        """Layout images whose ``source`` is a data URI (PNG or JPEG) placed on two data axes (``xref``/``yref``
        naming axes), stretched to their box from ``(x, y)`` by ``sizex`` x ``sizey`` (Plotly's ``sizing``
        "stretch"; its anchors ``xanchor``/``yanchor``), under the traces (``layer`` "below") or over them."""
        from matplotlib.image import imread

        for im in self.layout.get("images") or []:
            source = im.get("source")
            if im.get("visible", True) is False or not isinstance(source, str) or not source.startswith("data:"):
                continue
            xa, ya = self.axes.get(im.get("xref") or "paper"), self.axes.get(im.get("yref") or "paper")
            if xa is None or ya is None or not xa.axes:
                continue
            head, _, data = source.partition(",")
            picture = imread(io.BytesIO(base64.b64decode(data) if head.endswith(";base64") else data.encode()),
                             format="jpeg" if "jpeg" in head or "jpg" in head else "png")
            x, y = float(im.get("x", 0)), float(im.get("y", 1))
            w, h = float(im.get("sizex", 0)), float(im.get("sizey", 0))
            x0 = x - {"center": w / 2, "right": w}.get(im.get("xanchor"), 0.0)
            y1 = y + {"middle": h / 2, "bottom": h}.get(im.get("yanchor"), 0.0)
            ax = self.overlays.get(im.get("yref")) or xa.axes[0]
            ax.imshow(picture, extent=(x0, x0 + w, y1 - h, y1), aspect="auto", origin="upper",
                      zorder=0.5 if im.get("layer") == "below" else 5, interpolation="antialiased")

    def _shapes_and_annotations(self, extents_only: bool = False) -> None:
        from matplotlib.patches import Ellipse, Rectangle
        from matplotlib.lines import Line2D

        defaults = self.layout.get("shapedefaults") or {}
        for s in self.layout.get("shapes") or []:
            s = _merge(defaults, s)
            if s.get("visible", True) is False:
                continue
            transform, xa, ya = self._transform(s.get("xref"), s.get("yref"))
            kind = s.get("type") or "rect"
            x0, x1 = (xa.paper_value(s.get(k)) if xa else s.get(k) for k in ("x0", "x1"))
            y0, y1 = (ya.paper_value(s.get(k)) if ya else s.get(k) for k in ("y0", "y1"))
            if None in (x0, x1, y0, y1):
                continue
            if extents_only:
                half = float((s.get("line") or {}).get("width", 2)) / 2
                if xa:
                    xa.extent([x0, x1], pad=False, px=(half, half))
                if ya:
                    ya.extent([y0, y1], pad=False, px=(half, half))
                continue
            line = s.get("line") or {}
            width = float(line.get("width", 2))
            color = rgba(line.get("color")) or (0.16, 0.25, 0.37, 1)
            zorder = 0.9 if s.get("layer") == "below" else 5
            alpha = float(s.get("opacity", 1))
            if kind == "line":
                artist = Line2D([x0, x1], [y0, y1], transform=transform, color=color, linewidth=width * PX,
                                alpha=alpha, zorder=zorder)
                dash = dashes(line.get("dash"), width)
                if dash:
                    artist.set_dashes(dash[1])
            else:
                fill = rgba(s.get("fillcolor")) or (0, 0, 0, 0)
                cls = Ellipse if kind == "circle" else Rectangle
                artist = (cls(((x0 + x1) / 2, (y0 + y1) / 2), x1 - x0, y1 - y0) if kind == "circle" else
                          cls((x0, y0), x1 - x0, y1 - y0))
                artist.set(transform=transform, facecolor=fill, edgecolor=color if width else "none",
                           linewidth=width * PX, alpha=alpha, zorder=zorder)
            artist.set_clip_on(False)
            artist.set_in_layout(False)
            self.fig.add_artist(artist)
        defaults = self.layout.get("annotationdefaults") or {}
        for a in self.layout.get("annotations") or []:
            a = _merge(defaults, a)
            if a.get("visible", True) is False or a.get("text") in (None, ""):
                continue
            transform, xa, ya = self._transform(a.get("xref"), a.get("yref"))
            x = xa.paper_value(a.get("x", 0.5)) if xa else float(a.get("x", 0.5))
            y = ya.paper_value(a.get("y", 0.5)) if ya else float(a.get("y", 0.5))
            if extents_only:   # Plotly's autorange keeps a data-placed annotation's text inside the plot
                font = {**self.font, **(a.get("font") or {})}
                lines = markup(a.get("text"))
                tall = len(lines) * float(font["size"]) * 1.3 + abs(float(a.get("yshift", 0)))
                wide = max(len("".join(t for t, _ in line)) for line in lines) * float(font["size"]) * 0.6
                arrow = a.get("showarrow", True)
                for axis, v, size, anchor, names in ((xa, x, wide, a.get("xanchor"), ("left", "right")),
                                                     (ya, y, tall, a.get("yanchor"), ("bottom", "top"))):
                    if axis is None:
                        continue
                    if arrow:
                        pads = (0.0, 0.0)
                    elif anchor == names[0]:
                        pads = (0.0, size)
                    elif anchor == names[1]:
                        pads = (size, 0.0)
                    else:
                        pads = (size / 2, size / 2)
                    axis.extent([v], pad=False, px=pads)
                continue
            arrow = a.get("showarrow", True)
            paper = xa is None and ya is None
            hx = self._anchor(a.get("xanchor"), x if (paper and not arrow) else 0.5, "x")
            vy = self._anchor(a.get("yanchor"), y if (paper and not arrow) else 0.5, "y")
            font = {**self.font, **(a.get("font") or {})}
            offset = (float(a.get("xshift", 0)) * PX, float(a.get("yshift", 0)) * PX)
            arrowprops = None
            if arrow:
                offset = (offset[0] + float(a.get("ax", -10)) * PX, offset[1] - float(a.get("ay", -30)) * PX)
                arrowprops = dict(arrowstyle="-|>" if a.get("arrowhead", 1) else "-",
                                  color=rgba(a.get("arrowcolor")) or (0.27, 0.27, 0.27, 1),
                                  linewidth=float(a.get("arrowwidth", 1)) * PX, shrinkA=2, shrinkB=2)
            self._text(a.get("text"), font, (x, y), transform, hx, vy, offset, arrowprops,
                       bgcolor=a.get("bgcolor"), align=a.get("align"))

    @staticmethod
    def _anchor(value, position: float, letter: str) -> float:
        """A box alignment (0 left/bottom .. 1 right/top) from Plotly's ``xanchor``/``yanchor``; ``auto`` (or
        none) picks by thirds of ``position`` (paper coordinates), as Plotly does."""
        names = {"left": 0.0, "center": 0.5, "right": 1.0, "bottom": 0.0, "middle": 0.5, "top": 1.0}
        if value in names:
            return names[value]
        return 0.0 if position <= 1 / 3 else (1.0 if position >= 2 / 3 else 0.5)

    def _text(self, text, font: dict, xy, transform, hx: float, vy: float, offset=(0.0, 0.0), arrowprops=None,
              bgcolor=None, align=None, gid: str | None = None):
        """Plotly markup drawn at ``xy`` (in ``transform``'s coordinates), its box aligned by ``(hx, vy)``."""
        from matplotlib.offsetbox import AnnotationBbox, HPacker, TextArea, VPacker

        size = float(font.get("size", 12))
        color = font.get("color")
        rows = []
        for line in markup(text) or [[(" ", {})]]:
            runs = []
            for run, style in line or [(" ", {})]:
                props = dict(fontsize=float(style.get("size", size)) * PX * (0.7 if style.get("small") else 1),
                             color=rgba(style.get("color") or color) or (0.27, 0.27, 0.27, 1),
                             fontweight="bold" if style.get("bold") else "normal",
                             fontstyle="italic" if style.get("italic") else "normal")
                runs.append(TextArea(run, textprops=props))
            rows.append(HPacker(children=runs, align="baseline", pad=0, sep=0))
        how = align or {0.0: "left", 0.5: "center", 1.0: "right"}.get(hx, "center")
        box = VPacker(children=rows, align=how, pad=0, sep=size * 0.3 * PX) if len(rows) > 1 else rows[0]
        artist = AnnotationBbox(box, xy, xycoords=transform, xybox=offset, boxcoords="offset points",
                                box_alignment=(hx, vy), frameon=bgcolor is not None, pad=0.2,
                                annotation_clip=False, arrowprops=arrowprops)
        if bgcolor is not None:
            artist.patch.set(facecolor=rgba(bgcolor) or "none", edgecolor="none")
        artist.set_in_layout(False)
        artist.set_zorder(6)
        if gid:
            artist.set_gid(gid)
        self.fig.add_artist(artist)
        return artist

    def _title(self) -> None:
        title = self.layout.get("title") or {}
        text = title_text(title)
        if not text:
            return
        font = {**self.font, "size": round(float(self.font["size"]) * 1.4), **(title.get("font") or {})}
        x = float(title.get("x", 0.5)) if title.get("x") is not None else 0.5
        hx = self._anchor(title.get("xanchor"), x, "x")
        if title.get("y") in (None, "auto"):
            y, vy = 1 - self.margin["t"] / 2 / self.H, 0.5
        else:
            y = float(title["y"])
            vy = self._anchor(title.get("yanchor"), y, "y")
        if title.get("xref") == "paper":
            l, _, r, _ = self.area()
            x = (l + x * (r - l)) / self.W
        self._text(text, font, (x, y), self.fig.transFigure, hx, vy, gid="title")

    def _legend(self) -> None:
        legend = self.layout.get("legend") or {}
        entries = self.legend_entries
        show = self.layout.get("showlegend")
        if not entries or show is False or (show is None and len(entries) < 2):
            return
        order = {}
        for _, _, group in entries:
            order.setdefault(group, len(order))
        entries = sorted(entries, key=lambda e: order[e[2]])
        if legend.get("traceorder") and "reversed" in legend["traceorder"]:
            entries = entries[::-1]
        horizontal = legend.get("orientation") == "h"
        font = {**self.font, **(legend.get("font") or {})}
        size = float(font["size"])
        x = float(legend.get("x", 0 if horizontal else 1.02))
        y = float(legend.get("y", -0.1 if horizontal else 1))
        hx = self._anchor(legend.get("xanchor") or "left", x, "x")
        default_y = "top" if horizontal else None
        vy = self._anchor(legend.get("yanchor") if legend.get("yanchor") not in (None, "auto") else default_y, y,
                          "y")
        ncol = 1
        if horizontal:
            l, _, r, _ = self.area()
            widths = [size * 0.6 * len(label) + 40 + 5 + 10 for _, label, _ in entries]
            room = self.W - (l + x * (r - l)) if hx == 0 else (r - l)
            ncol = max(1, min(len(entries), int(room // max(widths))))
        loc = {1.0: "upper", 0.5: "center", 0.0: "lower"}[vy] + " " + {0.0: "left", 0.5: "center",
                                                                       1.0: "right"}[hx]
        loc = "center" if loc == "center center" else loc
        bg = rgba(legend.get("bgcolor")) or rgba(self.layout.get("paper_bgcolor")) or (1, 1, 1, 1)
        border = rgba(legend.get("bordercolor"))
        width = float(legend.get("borderwidth", 0))
        handle_px, line_px = 40.0, size * 1.6
        leg = self.fig.legend([e[0] for e in entries], [e[1] for e in entries], loc=loc,
                              bbox_to_anchor=(x, y), bbox_transform=self.to_paper, ncol=ncol, frameon=True,
                              fontsize=size * PX, labelcolor=rgba(font.get("color")) or (0.27, 0.27, 0.27, 1),
                              handlelength=handle_px / size, handletextpad=5 / size, columnspacing=10 / size,
                              labelspacing=max(0.1, (line_px - size * 1.2) / size), borderaxespad=0,
                              borderpad=0.4, facecolor=bg, edgecolor=border if width else "none",
                              fancybox=False, title=plain(title_text(legend.get("title"))) or None,
                              title_fontsize=size * PX)
        leg.get_frame().set_linewidth(width * PX)
        leg.set_gid("legend")
        leg.set_zorder(7)

    def _placeholder(self) -> None:
        """Say in the image which traces it does not draw (see the module docstring): in the middle of their
        ``domain`` (a pie's), else of the first subplot, else of the image."""
        places: dict[tuple, list[str]] = {}
        for t in self.missing:
            kind = t.get("type") or "scatter"
            domain = t.get("domain") or {}
            dx, dy = domain.get("x") or [0, 1], domain.get("y") or [0, 1]
            where = ("paper", (dx[0] + dx[1]) / 2, (dy[0] + dy[1]) / 2) if t.get("domain") else \
                (("panel", 0.5, 0.5) if self.panels else ("figure", 0.5, 0.5))
            places.setdefault(where, []).append(kind)
        for i, ((frame, x, y), kinds) in enumerate(places.items()):
            names = ", ".join(sorted(set(kinds)))
            text = f"\u26a0 not drawn in this static image: {names} trace{'s' if len(kinds) > 1 else ''}"
            transform = {"paper": self.to_paper, "figure": self.fig.transFigure}.get(frame) or \
                self.panels[0][0].transAxes
            self.fig.text(x, y, text, transform=transform, ha="center", va="center", fontsize=12 * PX,
                          color="#8a6d00", zorder=8, gid=f"placeholder{i}", in_layout=False,
                          bbox=dict(facecolor="#fff8e1", edgecolor="#e0c060", boxstyle="round,pad=0.5"))

    # -- placement ---------------------------------------------------------------------------------------------
    def area(self) -> tuple[float, float, float, float]:
        """The plot area in figure pixels from the bottom left: (left, bottom, right, top)."""
        m = self.margin
        return m["l"], m["b"], self.W - m["r"], self.H - m["t"]

    def _place(self) -> None:
        l, b, r, t = self.area()
        W, H = self.W, self.H
        self.paper.clear().scale((r - l) / W, (t - b) / H).translate(l / W, b / H)
        for ax, x, y in self.panels:
            dx, dy = x.cfg.get("domain") or [0, 1], y.cfg.get("domain") or [0, 1]
            rect = ((l + dx[0] * (r - l)) / W, (b + dy[0] * (t - b)) / H,
                    (dx[1] - dx[0]) * (r - l) / W, (dy[1] - dy[0]) * (t - b) / H)
            ax.set_position(rect)
            for overlay_id, overlay in self.overlays.items():
                if self.axes[overlay_id].cfg.get("overlaying") == y.id:
                    overlay.set_position(rect)
        for cax, cb in self.colorbars:
            cax.set_position(self._colorbar_rect(cb))

    def _colorbar_rect(self, cb: dict) -> tuple[float, float, float, float]:
        l, b, r, t = self.area()
        thickness = float(cb.get("thickness", 30))
        if cb.get("thicknessmode") == "fraction":
            thickness *= r - l
        length = float(cb.get("len", 1)) * ((t - b) if cb.get("lenmode", "fraction") == "fraction" else 1)
        x = l + float(cb.get("x", 1.02)) * (r - l) + 10   # 10 px of padding inside the bar's box
        y = b + float(cb.get("y", 0.5)) * (t - b)
        vy = self._anchor(cb.get("yanchor"), float(cb.get("y", 0.5)), "y")
        y0 = y - vy * length
        return x / self.W, y0 / self.H, thickness / self.W, length / self.H

    def _fit(self) -> None:
        """Grow the margins where tick labels, axis titles, a legend or a colour bar stick out of the image (Plotly's
        automargin), twice at most, keeping at least a fifth of the image for the plot area."""
        self._place()
        renderer = self.canvas.get_renderer()
        for _ in range(2):
            box = self.fig.get_tightbbox(renderer)
            over = {"l": -box.x0 * 96, "b": -box.y0 * 96, "r": box.x1 * 96 - self.W, "t": box.y1 * 96 - self.H}
            grown = False
            for side, amount in over.items():
                if amount > 0.5:
                    limit = (self.W if side in "lr" else self.H) * 0.4
                    self.margin[side] = min(limit, self.margin[side] + amount + 2)
                    grown = True
            if not grown:
                break
            self._place()

    def save(self, format: str, scale: float) -> bytes:
        buffer = io.BytesIO()
        face = self.fig.patch.get_facecolor()
        if format == "svg":
            self.fig.savefig(buffer, format="svg", dpi=96, facecolor=face, metadata={"Date": None})
            return buffer.getvalue()
        self.fig.savefig(buffer, format="png", dpi=96 * scale, facecolor=face, metadata={"Software": None})
        return _small_png(buffer.getvalue())


def _small_png(data: bytes) -> bytes:
    """The PNG with at most 256 colours if that is smaller (charts have few colours: 2-4 times smaller)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        reduced = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                                dither=Image.Dither.NONE)
        out = io.BytesIO()
        reduced.save(out, format="png", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data
