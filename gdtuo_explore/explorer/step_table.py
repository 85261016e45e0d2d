"""The step table: what the last step of a paused run did to each level of its tower, in numbers.

Press Step (or Pause) and the Train tab shows, per level whose hyperparameters learn, a small table: each learned
hyperparameter's value before the step, the hypergradient the level above moved it with, and its value after; and
for a level that keeps its last update's direction (SGD), the two vectors whose dot product made its step size's
hypergradient: the gradient at the new point and the previous update's direction (their norms and first entries).
Under a plain SGD level above, ``after == before - kappa * hypergradient``.

It reads :meth:`Run.last_update <gdtuo_explore.engine.run.Run.last_update>`, which needs a run made with
``record_hypergrads=True``: the explorer's runs record hypergradients (:meth:`ExplorerState.config`).
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from ..engine.status import Status

HINT = ("<div class='gd-hint'>Pause the run, or press Step, to see what one update did to each level: the values "
        "before and after it and the hypergradients that moved them.</div>")


def _vector(v: dict) -> str:
    head = ", ".join(f"{x:.4g}" for x in v["head"])
    return f"norm {v['norm']:.4g}; [{head}{', ...' if len(v['head']) >= 5 else ''}]"


def level_table(level: dict) -> str:
    """The HTML table of one level of :meth:`Run.last_update`'s ``levels``."""
    title = (f"<b>Level {level['level']}</b> · {html.escape(level['kind'])}, moved by level {level['level'] + 1} "
             f"({html.escape(level['moved_by'])})")
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{v['before']:.6g}</td><td>{v['hypergrad']:.6g}</td>"
                   f"<td>{v['after']:.6g}</td></tr>" for name, v in level["values"].items())
    out = (f"<div class='gd-step-level'>{title}<table class='gd-step'><tr><th></th><th>before</th>"
           f"<th>hypergradient</th><th>after</th></tr>{rows}</table>")
    product = level.get("product")
    if product:
        out += (f"<div class='gd-about'>the step size's hypergradient comes from the dot product of "
                f"<br>&nbsp;gradient at the new point: {html.escape(_vector(product['gradient']))}"
                f"<br>&nbsp;previous update's direction: {html.escape(_vector(product['direction']))}"
                f"<br>&nbsp;dot product: <b>{product['dot']:.6g}</b></div>")
    return out + "</div>"


def step_html(update: dict) -> str:
    """The step table of :meth:`Run.last_update`'s result (one table per level)."""
    if not update["levels"]:
        return "<div class='gd-hint'>No level of this tower learns anything: there is no hypergradient.</div>"
    return (f"<div class='gd-section'>Step {update['step']:,}, one update</div>"
            + "".join(level_table(level) for level in update["levels"]))


class StepTable:
    """The step table of the paused run on the charts, as ``widget`` (an HTML widget); redrawn whenever that run
    pauses or its step count changes while paused."""

    def __init__(self, state):
        self.state = state
        self.widget = widgets.HTML(HINT)
        self.widget.add_class("gd-step-table")
        state.observe(lambda _: self.redraw(), ["status", "steps_done", "current"])

    def redraw(self) -> None:
        shown = self.state.current
        run = shown.run if shown is not None else None
        if run is None or self.state.status != Status.PAUSED or run.steps_done == 0:
            value = HINT
        else:
            try:
                value = step_html(run.last_update())
            except ValueError as err:   # a run without recorded hypergradients, a baseline, a closed run
                value = f"<div class='gd-hint'>{html.escape(str(err))}</div>"
        if self.widget.value != value:
            self.widget.value = value
