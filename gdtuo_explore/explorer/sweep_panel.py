"""The Sweep panel: the paper's sensitivity experiment. SGD towers of several heights are trained from several
initial step sizes in background processes; the charts show final test loss and accuracy against the initial step
size (log axis), one line per height, or per height and kappa where the sweep varies the upper levels' step size
too (the kappas field). Taller towers should care less about the initial choice."""
from __future__ import annotations

import html
import ipywidgets as widgets
import plotly.graph_objects as go

from ..engine.series import sweep_traces
from ..engine.status import Status
from .charts import CHART_HEIGHT, CHART_WIDTH
from .figure import Figure

_L = widgets.Layout


def _figure(title: str, ytitle: str) -> go.FigureWidget:
    fig = Figure()
    fig.update_layout(title=dict(text=title, font=dict(size=13), x=0.02, xanchor="left"), template="plotly_white",
                      width=CHART_WIDTH, height=CHART_HEIGHT + 30, margin=dict(l=58, r=20, t=36, b=40),
                      xaxis=dict(type="log", title="initial step size (alpha)", tickformat="~g", dtick=1),
                      yaxis=dict(title=ytitle, tickformat="~g"),
                      legend=dict(font=dict(size=10)),
                      font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=11))
    fig.publish()   # every view, also one made later (a page reload, Voila), draws the title, size and log axis
    return fig


class SweepPanel:
    """Settings, Start/Stop, progress and the two result charts, as ``widget``."""

    def __init__(self, state):
        self.state = state
        sweep = state.sweep
        style = {"description_width": "150px"}
        self.alphas = widgets.Text(description="Initial step sizes", style=style, layout=_L(width="420px"),
                                   continuous_update=False)
        self.heights = widgets.Text(description="Tower heights", style=style, layout=_L(width="420px"),
                                    continuous_update=False)
        self.kappa = widgets.BoundedFloatText(description="Upper levels' step", min=0.0, max=1e6, style=style,
                                              layout=_L(width="280px"))
        self.kappas = widgets.Text(description="or several steps", style=style, layout=_L(width="420px"),
                                   continuous_update=False, placeholder="e.g. 1e-6, 1e-5, 1e-4 (varies kappa too)",
                                   tooltip="step sizes of the levels above, comma-separated: a grid over kappa as "
                                           "well as over the initial step size (empty: the one step above)")
        self.steps = widgets.BoundedIntText(description="Steps per run", min=1, max=10_000_000, style=style,
                                            layout=_L(width="280px"))
        for name in ("alphas", "heights", "kappa", "kappas", "steps"):
            widgets.link((sweep, name), (getattr(self, name), "value"))
        self.start = widgets.Button(description="Start sweep", button_style="primary")
        self.stop = widgets.Button(description="Stop sweep")
        self.progress = widgets.IntProgress(min=0, max=1, layout=_L(width="220px"))
        self.status = widgets.HTML()
        self.loss = _figure("<b>Final test loss</b>", "test loss")
        self.accuracy = _figure("<b>Final test accuracy</b>", "test accuracy")
        self.start.on_click(lambda _: state.start_sweep())
        self.stop.on_click(lambda _: sweep.stop())
        sweep.observe(self._status_changed, ["status", "message", "done", "total"])
        sweep.observe(self._rows_changed, "rows")
        self._status_changed(None)
        about = widgets.HTML(
            "<div class='gd-about'>The paper's sensitivity experiment: height <i>h</i> is <code>sgd(alpha)</code> "
            "with <i>h</i> levels <code>sgd(step)</code> above it, trained on the task, model, batch size, seed and "
            "device chosen on the left; with several upper levels' steps (kappa), one line per height and kappa. "
            "Runs go to background processes.</div>")
        self.widget = widgets.VBox([
            about, self.alphas, self.heights, widgets.HBox([self.kappa, self.steps]), self.kappas,
            widgets.HBox([self.start, self.stop, self.progress, self.status], layout=_L(align_items="center",
                                                                                       grid_gap="6px")),
            widgets.HBox([self.loss, self.accuracy], layout=_L(grid_gap="10px"))])

    def _status_changed(self, _) -> None:
        sweep = self.state.sweep
        self.start.disabled = sweep.status == Status.RUNNING
        self.stop.disabled = sweep.status != Status.RUNNING
        self.progress.max, self.progress.value = max(1, sweep.total), sweep.done
        css = "gd-error" if sweep.status == Status.ERROR else "gd-about"
        self.status.value = f"<span class='{css}'>{html.escape(sweep.message)}</span>"

    def _rows_changed(self, change) -> None:
        for fig, key in ((self.loss, "final_test_loss"), (self.accuracy, "final_test_accuracy")):
            with fig.batch_update():
                fig.data = ()
                fig.add_traces(sweep_traces(change["new"], key))
            fig.publish()   # a view made later (a page reload) draws the sweep so far
