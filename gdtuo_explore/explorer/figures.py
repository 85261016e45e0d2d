"""Figures for slides: each of the explorer's charts as a PNG and as one standalone HTML file that works offline.

:func:`save_figures` (``explorer.save_figures(folder)``) writes, for every chart the explorer shows (the Train tab's,
and the Sweep tab's once a sweep has results), ``NAME.png`` (drawn by :mod:`gdtuo_explore.engine.static`: no browser)
and ``NAME.html``: the interactive chart with Plotly's JavaScript inlined once in the file, so it opens anywhere with
no internet and no kernel. :class:`FiguresPanel` is the Export tab's button for it.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import ipywidgets as widgets
import plotly.graph_objects as go

from ..engine import static

_L = widgets.Layout


def named_charts(explorer) -> dict:
    """``{file name: figure}`` of the charts the explorer shows, in the page's order: ``landscape`` and ``loss`` on
    the surface task (the landscape takes the accuracy chart's place), else ``loss`` and ``accuracy``; ``level-K``
    per level chart, and ``sweep-loss``, ``sweep-accuracy`` once the sweep has results."""
    charts = explorer.charts
    if explorer.landscape.shown:
        out = {"landscape": explorer.landscape.fig, "loss": charts.loss}
    else:
        out = {"loss": charts.loss, "accuracy": charts.accuracy}
    out.update({f"level-{k}": fig for k, fig in enumerate(charts.levels, 1)})
    sweep = explorer.sweep_panel
    if any(t.x is not None and len(t.x) for fig in (sweep.loss, sweep.accuracy) for t in fig.data):
        out.update({"sweep-loss": sweep.loss, "sweep-accuracy": sweep.accuracy})
    return out


def save_figures(explorer, folder, scale: float = 2.0) -> dict[str, Path]:
    """Write each chart of ``explorer`` into ``folder`` (``~`` expanded, created if needed) as ``NAME.png`` (``scale``
    times the chart's pixels, for slides) and ``NAME.html`` (standalone, offline). Returns ``{"NAME.png": path,
    "NAME.html": path, ...}``."""
    if not isinstance(folder, (str, Path)) or not str(folder).strip():
        raise ValueError(f"folder must be a path, not {folder!r}")
    if not (isinstance(scale, (int, float)) and 0 < scale <= 8):
        raise ValueError(f"scale={scale!r} is out of range: it must be a number in (0, 8]")
    out = Path(folder).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fig in named_charts(explorer).items():
        paths[f"{name}.png"] = static.write(fig, out / f"{name}.png", scale=scale)
        figure = go.Figure(fig)
        title = re.sub(r"<[^>]+>", "", figure.layout.title.text or name)
        page = figure.to_html(full_html=True, include_plotlyjs=True, config={"displaylogo": False})
        page = page.replace("<head>", f"<head><title>{html.escape(title)}</title>", 1)
        path = out / f"{name}.html"
        path.write_text(page, encoding="utf-8")
        paths[f"{name}.html"] = path
    return paths


class FiguresPanel:
    """A "Save figures" button that writes every chart into ``figures/`` under the Export tab's folder, as
    ``widget``; then the folder and the files written, or why it failed."""

    def __init__(self, explorer):
        self.explorer = explorer
        self.button = widgets.Button(description="Save figures", tooltip="Each chart as PNG and as offline HTML",
                                     layout=_L(width="auto", flex="0 0 auto"))
        self.result = widgets.HTML()
        self.button.on_click(lambda _: self.save())
        about = widgets.HTML("<div class='gd-about'><b>Figures for slides</b>: each chart as a PNG and as a "
                             "standalone HTML file that works offline, into <code>figures/</code> in the folder "
                             "above (<code>explorer.save_figures(folder)</code> from code).</div>")
        self.widget = widgets.VBox([about, self.button, self.result])

    def save(self) -> dict | None:
        folder = self.explorer.exporter.folder.strip()
        if not folder:
            self.result.value = "<div class='gd-error'>Save figures needs a folder: type one above.</div>"
            return None
        try:
            paths = save_figures(self.explorer, Path(folder).expanduser() / "figures")
        except (OSError, ValueError) as err:
            self.result.value = f"<div class='gd-error'>Saving the figures failed: {html.escape(str(err))}</div>"
            return None
        where = Path(folder).expanduser().resolve() / "figures"
        names = ", ".join(f"<code>{html.escape(name)}</code>" for name in paths)
        self.result.value = (f"<div class='gd-about'>Wrote {len(paths)} files to <code class='gd-written'>"
                             f"{html.escape(str(where))}</code>: {names}</div>")
        return paths
