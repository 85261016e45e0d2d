"""Self-contained HTML reports with Plotly charts: one for a run (:func:`report_html`), one for a sweep
(:func:`sweep_report_html`). Each page inlines plotly.js once and works offline.

Long series are thinned to at most ``MAX_POINTS`` points per trace, keeping each bucket's lowest and highest value,
so spikes and negative values stay visible.
"""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from ..core.spec import parse_tower
from .series import axis_of, by_level, sweep_traces, value_axis
from .thinning import smooth, thin_indices

MAX_POINTS = 4000


def _line(x, y, name, **kwargs) -> go.Scatter:
    x, y = np.asarray(x), np.asarray(y, dtype=float)
    idx = thin_indices(y, MAX_POINTS)
    return go.Scatter(x=x[idx], y=y[idx], name=name, mode=kwargs.pop("mode", "lines"), **kwargs)


def _figure(title: str, xtitle: str, ytitle: str, height: int = 360) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=xtitle, yaxis_title=ytitle, height=height, template="plotly_white",
                      showlegend=True,
                      margin=dict(l=60, r=20, t=50, b=45), legend=dict(orientation="h", y=-0.2))
    return fig


def _symlog(fig: go.Figure, axis) -> None:
    """Draw ``fig``'s left-axis traces on ``axis`` (a :class:`~.series.ValueAxis`), real values in the hover."""
    fig.update_layout(yaxis={k: v for k, v in axis.layout.items() if v is not None})
    if axis.kind == "symlog":
        for trace in fig.data:
            if trace.yaxis in (None, "y"):
                trace.customdata, trace.y = trace.y, axis.transform(trace.y)
                trace.hovertemplate = "%{x}: %{customdata:.4g}"


def _loss_figure(steps: dict, evals: dict) -> go.Figure:
    fig = _figure("Loss", "step", "loss")
    loss = np.asarray(steps.get("train_loss", []), dtype=float)
    fig.add_trace(_line(steps["step"], loss, "train loss", opacity=0.35))
    fig.add_trace(_line(steps["step"], smooth(loss), "train loss (smoothed)"))
    if len(evals.get("step", [])):
        fig.add_trace(_line(evals["step"], evals["test_loss"], "test loss", mode="lines+markers"))
    _symlog(fig, value_axis([loss, evals.get("test_loss", [])]))
    return fig


def landscape_figure(surface, xs, ys, title: str = "The path on the landscape") -> go.Figure:
    """A :class:`~.tasks.surface.Surface` as filled contours of ``log10(f + 1e-3)`` (its minima marked) with the path
    ``(xs, ys)`` drawn on it (at most ``MAX_POINTS`` points, evenly spaced, the last one kept)."""
    x, y, z = surface.grid(200)
    fig = _figure(title, "x", "y", height=480)
    fig.add_trace(go.Contour(x=x, y=y, z=np.log10(z + 1e-3), colorscale="Viridis", ncontours=30, name="f",
                             colorbar=dict(title="log10(f + 0.001)"), hoverinfo="skip", showlegend=False))
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) > MAX_POINTS:
        idx = np.unique(np.append(np.linspace(0, len(xs) - 1, MAX_POINTS).astype(int), len(xs) - 1))
        xs, ys = xs[idx], ys[idx]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="path", line=dict(color="#d62728", width=2)))
    if len(xs):
        fig.add_trace(go.Scatter(x=xs[:1], y=ys[:1], mode="markers", name="start",
                                 marker=dict(color="white", size=10, line=dict(color="black", width=1.5))))
    mx, my = zip(*surface.minima)
    fig.add_trace(go.Scatter(x=mx, y=my, mode="markers", name="minimum",
                             marker=dict(symbol="x", color="white", size=11, line=dict(color="black", width=1))))
    (x0, x1), (y0, y1) = surface.bounds
    fig.update_xaxes(range=[x0, x1])
    fig.update_yaxes(range=[y0, y1])
    return fig


def _path(run) -> tuple[np.ndarray, np.ndarray]:
    """The points a surface run's losses were computed at, and its current point while the run still has it."""
    steps = run.metrics()
    xs, ys = list(steps["x"]), list(steps["y"])
    model = run.model
    if model is not None and run.steps_done == len(xs):
        x, y = model.point.detach().double().cpu().tolist()
        xs.append(x)
        ys.append(y)
    return np.asarray(xs), np.asarray(ys)


def _accuracy_figure(evals: dict) -> go.Figure:
    fig = _figure("Test accuracy", "step", "accuracy")
    fig.add_trace(_line(evals["step"], evals["test_accuracy"], "test accuracy", mode="lines+markers"))
    return fig


def _level_names(spec: str | None, height: int) -> list[str]:
    """Each level's own spec (``adam``, ``sgd(1e-05)``, ...) or blanks if ``spec`` is not a tower spec."""
    try:
        return [level.level_spec() for level in parse_tower(spec).levels()]
    except (ValueError, TypeError):
        return [""] * height


def _level_figures(steps: dict, spec: str | None) -> list[tuple[str, go.Figure]]:
    """One chart per level: step sizes on the left axis (see :func:`~.series.value_axis`), the other
    hyperparameters on the right, except those that never changed, which the title lists instead."""
    levels = by_level(steps)
    names = _level_names(spec, max(levels, default=0))
    out = []
    for k, columns in levels.items():
        sizes = [c for c in columns if axis_of(c.split(".", 1)[1]) == "y"]
        others = [c for c in columns if c not in sizes]
        constant = [c for c in others if len(steps[c]) and np.all(np.asarray(steps[c]) == steps[c][0])]
        others = [c for c in others if c not in constant]
        label = f" ({names[k - 1]})" if k - 1 < len(names) and names[k - 1] else ""
        title = f"Level {k}{label}: hyperparameters"
        if constant:
            title += "; constant: " + ", ".join(f"{c.split('.', 1)[1]}={steps[c][0]:g}" for c in constant)
        axis = value_axis([steps[c] for c in sizes])
        if sizes and not axis.positive:
            title += " (a step size went negative or zero: symmetric log axis)"
        fig = _figure(title, "step", "step size" if sizes else "value")
        for c in sizes:
            fig.add_trace(_line(steps["step"], steps[c], c))
        for c in others:
            fig.add_trace(_line(steps["step"], steps[c], c, yaxis="y2" if sizes else "y", line=dict(dash="dot")))
        if sizes and others:
            fig.update_layout(yaxis2=dict(title="other hyperparameters", overlaying="y", side="right",
                                          showgrid=False, nticks=6))
        if sizes:
            _symlog(fig, axis)
        out.append((f"level{k}", fig))
    return out


def _page(title: str, lines: list[str], figures: list[tuple[str, go.Figure]]) -> str:
    parts = []
    for i, (div_id, fig) in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=div_id))
    paragraphs = "\n".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>\n"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}"
            "p{margin:.3em 0;color:#333}</style></head><body>\n"
            f"<h1>{html.escape(title)}</h1>\n{paragraphs}\n" + "\n".join(parts) + "\n</body></html>\n")


def _write(text: str, path) -> str:
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def _read(run_or_histories) -> tuple[dict, dict, str, str | None, list[str]]:
    """(per-step columns, evaluations, title, tower spec or None, lines of text) of a Run or a histories dict."""
    source = run_or_histories
    if isinstance(source, dict):
        return (source["steps"], source.get("evaluations", {}), source.get("title", "gdtuo-explore run"),
                source.get("tower"), list(source.get("lines", [])))
    config, final = source.config, source.final()
    lines = [f"Task: {source.task.source}", f"Status: {source.status} ({source.message})",
             f"Steps: {source.steps_done} of {source.total_steps}, {source.steps_per_second:.1f} steps/s, "
             f"device {source.device}"]
    if final["test_accuracy"] is not None:
        lines.append(f"Final test accuracy {final['test_accuracy']:.4f}, test loss {final['test_loss']:.4g}")
    if final.get("distance_to_minimum") is not None:
        lines.append(f"Final loss f(x, y) {final['test_loss']:.4g}, distance to the nearest minimum "
                     f"{final['distance_to_minimum']:.4g}")
    return (source.metrics(), source.evaluations(), config.summary(), None if config.baseline else config.tower,
            lines)


def run_figures(run_or_histories) -> list[tuple[str, go.Figure]]:
    """The report's charts as ``(id, figure)``: ``landscape`` (a run of the surface task: its path on the
    function), ``loss``, ``accuracy`` (if measured), ``level1``, ``level2``, ...

    ``run_or_histories``: a :class:`~gdtuo_explore.engine.run.Run`, or a dict ``{"steps": {...}, "evaluations": {...}}``
    of columns (as ``Run.history``) with optional ``"title"``, ``"tower"`` and ``"lines"`` (text under the title).
    """
    steps, evals, _, spec, _ = _read(run_or_histories)
    figures = []
    surface = getattr(getattr(run_or_histories, "task", None), "surface", None)
    if surface is not None:
        figures.append(("landscape", landscape_figure(surface, *_path(run_or_histories))))
    figures.append(("loss", _loss_figure(steps, evals)))
    if "test_accuracy" in evals and len(evals["test_accuracy"]):
        figures.append(("accuracy", _accuracy_figure(evals)))
    return figures + _level_figures(steps, spec)


def report_html(run_or_histories, path=None) -> str:
    """An HTML page with the run's loss, test accuracy and every level's hyperparameters over steps (see
    :func:`run_figures`), titled with the config's summary. Writes it to ``path`` if given; returns it."""
    _, _, title, _, lines = _read(run_or_histories)
    return _write(_page(title, lines, run_figures(run_or_histories)), path)


def sweep_report_html(rows: list[dict], path=None, title: str = "Sensitivity to the initial step size") -> str:
    """A page with final test loss and accuracy against the initial step size (log axis), one line per height (and
    kappa).

    ``rows``: dicts with ``height``, ``alpha``, ``final_test_loss``, ``final_test_accuracy``, ``status`` and
    optionally ``kappa`` (one line per height and kappa where there are several), as
    :func:`gdtuo_explore.engine.sweep.sweep` returns. The accuracy figure is left out where no row has an accuracy.
    Runs that did not finish normally are marked by their status in the hover text. Writes the page to ``path`` if
    given; returns it.
    """
    figures = []
    keys = [("final_test_loss", "final test loss"), ("final_test_accuracy", "final test accuracy")]
    if not any(row.get("final_test_accuracy") is not None for row in rows):   # a task without accuracy
        keys = keys[:1]
    for key, label in keys:
        fig = _figure(label.capitalize() + " vs initial step size", "initial step size (alpha)", label, height=420)
        fig.add_traces(sweep_traces(rows, key))
        fig.update_xaxes(type="log")
        figures.append((key, fig))
    heights = ", ".join(str(h) for h in sorted({row["height"] for row in rows}))
    kappas = sorted({row["kappa"] for row in rows if row.get("kappa") is not None})
    lines = [f"{len(rows)} runs; heights {heights}. Height h: sgd(alpha) with h SGD levels of step size kappa above it"
             + (f"; kappa {', '.join(f'{k:g}' for k in kappas)}." if kappas else ".")]
    return _write(_page(title, lines, figures), path)
