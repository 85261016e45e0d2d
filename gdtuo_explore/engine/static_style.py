"""What :mod:`.static` needs to read a Plotly figure's values: arrays (plain or base64 ``bdata``), colours and
colour scales, the text markup Plotly accepts (``<b>``, ``<i>``, ``<br>``, ``<span style=...>``, ``<sup>``,
``<sub>``, entities), number formats (``tickformat``, ``exponentformat``) and line dashes. Plain functions of
values, no drawing."""
from __future__ import annotations

import base64
import colorsys
import contextlib
import math
import re
from html.parser import HTMLParser

import numpy as np

PX = 0.75   # points per CSS pixel: a figure is drawn at 96 pixels per inch, Plotly's sizes are CSS pixels
DTYPES = {"f8": "<f8", "f4": "<f4", "i1": "i1", "u1": "u1", "i2": "<i2", "u2": "<u2", "i4": "<i4", "u4": "<u4",
          "u1c": "u1"}


# -- arrays --------------------------------------------------------------------------------------------------------
def array(value) -> np.ndarray | None:
    """A trace's data array as numpy: a list, a numpy array, or Plotly's base64 form ``{"dtype", "bdata",
    "shape"}``; strings stay objects; ``None`` entries become NaN where the rest is numeric. None if absent."""
    if value is None:
        return None
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=DTYPES.get(value.get("dtype", "f8"), "<f8"))
        shape = value.get("shape")
        if shape:
            out = out.reshape([int(s) for s in str(shape).split(",")])
        return out.astype(float)
    if isinstance(value, np.ndarray):
        return value.astype(float) if value.dtype.kind in "biuf" else value
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, dict, np.ndarray)):
        rows = [array(v) for v in value]
        return np.array([r if r is not None else [] for r in rows], dtype=float)
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        return np.array([np.nan if v is None else v for v in items], dtype=float)
    except (TypeError, ValueError):
        return np.array(items, dtype=object)


def numeric(values) -> bool:
    """Whether an array holds numbers (not category names)."""
    if values is None:
        return True
    if values.dtype.kind in "biuf":
        return True
    for v in values:
        if v is None:
            continue
        try:
            float(v)
        except (TypeError, ValueError):
            return False
    return True


# -- colours -----------------------------------------------------------------------------------------------------
_RGB = re.compile(r"rgba?\(\s*([\d.]+%?)\s*,\s*([\d.]+%?)\s*,\s*([\d.]+%?)\s*(?:,\s*([\d.]+)\s*)?\)", re.I)
_HSL = re.compile(r"hsla?\(\s*([\d.]+)\s*,\s*([\d.]+)%\s*,\s*([\d.]+)%\s*(?:,\s*([\d.]+)\s*)?\)", re.I)


def rgba(color, alpha: float = 1.0) -> tuple[float, float, float, float] | None:
    """A CSS colour (``#rgb``, ``#rrggbb``, ``rgb(...)``, ``rgba(...)``, ``hsl(...)``, a name) as an RGBA tuple,
    its alpha multiplied by ``alpha``; None for no colour or one that cannot be read."""
    from matplotlib.colors import to_rgba

    if color is None:
        return None
    if isinstance(color, (tuple, list)) and len(color) in (3, 4):
        r, g, b, *a = color
        return (r, g, b, (a[0] if a else 1.0) * alpha)
    text = str(color).strip()
    m = _RGB.fullmatch(text)
    if m:
        channels = [float(c[:-1]) * 2.55 if c.endswith("%") else float(c) for c in m.groups()[:3]]
        a = float(m.group(4)) if m.group(4) is not None else 1.0
        return (*(min(255.0, c) / 255 for c in channels), a * alpha)
    m = _HSL.fullmatch(text)
    if m:
        h, s, l_ = float(m.group(1)) / 360, float(m.group(2)) / 100, float(m.group(3)) / 100
        a = float(m.group(4)) if m.group(4) is not None else 1.0
        return (*colorsys.hls_to_rgb(h, l_, s), a * alpha)
    try:
        r, g, b, a = to_rgba(text.lower() if not text.startswith("#") else text)
    except ValueError:
        return None
    return (r, g, b, a * alpha)


def colorscale(scale, reverse: bool = False):
    """A matplotlib colormap from a Plotly colour scale: a name (``"Greys"``, ``"Viridis"``, ``"RdBu_r"``) or a list
    of ``[position, colour]``."""
    from matplotlib.colors import LinearSegmentedColormap
    import plotly.colors

    if scale is None:
        scale = plotly.colors.get_colorscale("Plasma")
    elif isinstance(scale, str):
        name, flip = (scale[:-2], True) if scale.endswith("_r") else (scale, False)
        try:
            scale = plotly.colors.get_colorscale(name)
        except Exception:   # plotly raises PlotlyError for a name it does not know
            scale = plotly.colors.get_colorscale("Plasma")
        reverse = reverse != flip
    stops = [(float(pos), rgba(col) or (0, 0, 0, 1)) for pos, col in scale]
    if reverse:
        stops = [(1 - pos, col) for pos, col in reversed(stops)]
    return LinearSegmentedColormap.from_list("plotly", stops)


def value_at(d, path: str, default=None):
    """``d["a"]["b"]`` for ``path`` ``"a.b"``, or ``default`` where a key is missing or None."""
    for key in path.split("."):
        if not isinstance(d, dict) or d.get(key) is None:
            return default
        d = d[key]
    return d

def title_text(value) -> str | None:
    """The text of a Plotly title: a dict's ``text``, or the value itself (a plain string)."""
    return value.get("text") if isinstance(value, dict) else value


# -- dashes ------------------------------------------------------------------------------------------------------
def dashes(dash, width: float) -> tuple[float, list[float]] | None:
    """A Plotly dash (``solid``, ``dot``, ``dash``, ``longdash``, ``dashdot``, ``longdashdot``, or a list of lengths
    such as ``"5px,10px,2px,2px"`` or ``"5%,10%"``) for a line ``width`` px wide, as matplotlib's ``(offset,
    [on, off, ...])`` in points; None for a solid line. Plotly's named dashes scale with the width (at least 3 px)."""
    if dash in (None, "", "solid"):
        return None
    unit = max(width, 3)
    named = {"dot": [1, 1], "dash": [3, 3], "longdash": [5, 5], "dashdot": [3, 1, 1, 1],
             "longdashdot": [5, 2, 1, 2]}
    if dash in named:
        return 0.0, [v * unit * PX for v in named[dash]]
    lengths = []
    for part in str(dash).replace(" ", "").split(","):
        if part.endswith("%"):
            lengths.append(float(part[:-1]) / 100 * width)
        else:
            try:
                lengths.append(float(part.removesuffix("px")))
            except ValueError:
                return None
    if len(lengths) % 2:
        lengths *= 2
    return (0.0, [v * PX for v in lengths]) if lengths and sum(lengths) > 0 else None


# -- text markup ---------------------------------------------------------------------------------------------------
class _Markup(HTMLParser):
    """Plotly's text markup as lines of runs ``(text, style)``; style keys: ``bold``, ``italic``, ``color``,
    ``size`` (px), ``small`` (a sub- or superscript)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list[list[tuple[str, dict]]] = [[]]
        self.stack: list[tuple[str, dict]] = []

    def style(self) -> dict:
        out: dict = {}
        for _, s in self.stack:
            out.update(s)
        return out

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.lines.append([])
            return
        style = {}
        if tag in ("b", "strong"):
            style["bold"] = True
        elif tag in ("i", "em"):
            style["italic"] = True
        elif tag in ("sup", "sub"):
            style["small"] = True
        for key, value in attrs:
            if key == "style" and value:
                for decl in value.split(";"):
                    name, _, val = decl.partition(":")
                    name, val = name.strip().lower(), val.strip()
                    if name == "color":
                        style["color"] = val
                    elif name == "font-size":
                        with contextlib.suppress(ValueError):
                            style["size"] = float(val.removesuffix("px").removesuffix("pt"))
                    elif name == "font-weight" and val in ("bold", "700", "800", "900"):
                        style["bold"] = True
                    elif name == "font-style" and val == "italic":
                        style["italic"] = True
        self.stack.append((tag, style))

    def handle_startendtag(self, tag, attrs):
        if tag == "br":
            self.lines.append([])

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if data:
            self.lines[-1].append((data, self.style()))


def markup(text) -> list[list[tuple[str, dict]]]:
    """Plotly's text markup as lines of ``(text, style)`` runs (see :class:`_Markup`); [] for no text."""
    if text is None or text == "":
        return []
    parser = _Markup()
    parser.feed(str(text).replace("\n", "<br>"))
    parser.close()
    return [[(t, s) for t, s in line if t] for line in parser.lines]


def plain(text) -> str:
    """The text of Plotly markup without its tags (``<br>`` as a line break)."""
    return "\n".join("".join(t for t, _ in line) for line in markup(text))


# -- numbers -------------------------------------------------------------------------------------------------------
_SI = {-24: "y", -21: "z", -18: "a", -15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G",
       12: "T", 15: "P", 18: "E", 21: "Z", 24: "Y"}
_FORMAT = re.compile(r"^(?P<comma>,)?(?:\.(?P<precision>\d+))?(?P<trim>~)?(?P<kind>[efgsdr%])?$")


def _trim(text: str) -> str:
    """``1.500`` -> ``1.5``, ``2.000e-05`` -> ``2e-05``."""
    if "." not in text:
        return text
    mantissa, e, exponent = text.partition("e")
    return mantissa.rstrip("0").rstrip(".") + e + exponent


def _si(v: float, digits: int = 3, trim: bool = True, billions: bool = False) -> str:
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    power = int(math.floor(math.log10(abs(v)) / 3) * 3)
    power = max(-24, min(24, power))
    scaled = v / 10.0 ** power
    text = f"{scaled:.{max(0, digits - 1 - int(math.floor(math.log10(abs(scaled)))))}f}"
    suffix = "B" if billions and power == 9 else _SI[power]
    return (_trim(text) if trim else text) + suffix


def number(v: float, tickformat: str | None = None, exponentformat: str | None = None, log: bool = False) -> str:
    """:func:`_number` with a minus sign (U+2212) for negative values, as Plotly writes them."""
    return _number(v, tickformat, exponentformat, log).replace("-", "\u2212") if v < 0 else \
        _number(v, tickformat, exponentformat, log)


def _number(v: float, tickformat: str | None = None, exponentformat: str | None = None, log: bool = False) -> str:
    """A tick label as Plotly writes it: a d3 ``tickformat`` (``~g``, ``.2f``, ``.0%``, ``,d``, ``.3s``, ``e``) or,
    without one, short decimals with SI suffixes for large and tiny values (``exponentformat``: ``B`` (default),
    ``SI``, ``e``, ``E``, ``power``, ``none``). On a log axis (``log``) ``power`` writes every power of ten but
    1 and 10 as ``10^k``."""
    if not math.isfinite(v):
        return str(v)
    if abs(v) < 1e-15:
        v = 0.0
    if tickformat:
        m = _FORMAT.match(tickformat)
        if m:
            kind, precision = m.group("kind") or "g", m.group("precision")
            trim = bool(m.group("trim")) or m.group("kind") is None
            comma = "," if m.group("comma") else ""
            if kind == "s":
                return _si(v, int(precision or 3), trim)
            if kind == "%":
                text = f"{v * 100:{comma}.{int(precision or 0)}f}"
                return (_trim(text) if trim else text) + "%"
            if kind in ("d", "r"):
                return f"{round(v):{comma}d}"
            text = f"{v:{comma}.{int(precision) if precision is not None else 6}{kind}}"
            return _trim(text) if trim or kind == "g" and precision is None else text
    mode = exponentformat or "B"
    big, tiny = abs(v) >= 1e4, 0 < abs(v) < 1e-3
    if log and mode == "power" and v > 0 and not 1 <= v < 100:
        big = True
    if not (big or tiny) or mode == "none":
        return _trim(f"{v:.12g}") if mode != "none" else np.format_float_positional(v, trim="-")
    if mode in ("B", "SI"):
        return _si(v, 3, True, billions=mode == "B")
    if mode in ("e", "E"):
        text = _trim(f"{v:.3g}")
        return text.upper() if mode == "E" else text
    exponent = int(math.floor(math.log10(abs(v))))
    mantissa = v / 10.0 ** exponent
    factor = "" if abs(mantissa - 1) < 1e-9 else _trim(f"{mantissa:.3g}") + "×"
    return f"{factor}10$^{{{exponent}}}$"
