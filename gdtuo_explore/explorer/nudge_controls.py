"""The nudge row of a level card: set a hyperparameter of the run on the charts while it trains or is paused.

A teacher's move is one click: "×30" or "÷30" multiplies the chosen step size of the running run by 30 or divides
it (the paper's claim, shown live: kick level 1's alpha and watch the level above pull it back, or not); the field
with "Set" sets any value. Every button calls :meth:`ExplorerState.nudge` / :meth:`~ExplorerState.nudge_by`;
the row's line says what happened (``level1.alpha: 0.001 → 0.03 at step 120``) or, for a refused value, the
``ValueError``'s message, and then nothing changed. The level charts mark each nudge with a vertical line
(:mod:`.charts`).

The row acts on the run on the charts: its hyperparameter ``levelK.NAME`` for the card of level K of the setup.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from ..core.columns import column
from ..engine.series import is_step_size
from . import tower_edits

_L = widgets.Layout
FACTOR = 30.0   # what the "×30" and "÷30" buttons multiply and divide by


class NudgeControls:
    """The nudge row of the card of level ``index`` (from 0) showing ``level``, as ``widget``."""

    def __init__(self, state, index: int, level):
        self.state, self.index = state, index
        names = tower_edits.shown_hypers(level)
        self.name = widgets.Dropdown(options=names, value=names[0], layout=_L(width="86px"),
                                     tooltip="the hyperparameter to nudge in the run on the charts")
        self.down = widgets.Button(description=f"÷{FACTOR:g}", layout=_L(width="44px"),
                                   tooltip=f"divide it by {FACTOR:g} in the running run")
        self.up = widgets.Button(description=f"×{FACTOR:g}", layout=_L(width="44px"),
                                 tooltip=f"multiply it by {FACTOR:g} in the running run")
        self.value = widgets.Text(placeholder="value", continuous_update=False, layout=_L(width="70px"))
        self.value.add_class("gd-value")
        self.set = widgets.Button(description="Set", layout=_L(width="42px"),
                                  tooltip="set it to this value in the running run")
        self.message = widgets.HTML()
        for button in (self.down, self.up, self.set):
            button.add_class("gd-small")
        self.down.on_click(lambda _: self.by(1 / FACTOR))
        self.up.on_click(lambda _: self.by(FACTOR))
        self.set.on_click(lambda _: self.to(self.value.value))
        self.name.observe(lambda _: self._chosen(), "value")
        label = widgets.HTML("<span class='gd-nudge-label' title='change it in the run on the charts, now'>"
                             "nudge</span>", layout=_L(width="40px"))
        self.widget = widgets.VBox([widgets.HBox([label, self.name, self.down, self.up, self.value, self.set],
                                                 layout=_L(align_items="center")), self.message])
        self.widget.add_class("gd-nudge")
        self._chosen()

    @property
    def column(self) -> str:
        """The chosen hyperparameter's column in the run, e.g. ``level1.alpha``."""
        return column(self.index + 1, self.name.value)

    def _chosen(self) -> None:
        step_size = is_step_size(self.name.value)
        for button in (self.down, self.up):
            button.layout.display = None if step_size else "none"   # ×30 means nothing for a beta

    def by(self, factor: float) -> bool:
        """Multiply the chosen hyperparameter of the run on the charts by ``factor``; returns whether it did."""
        return self._do(lambda: self.state.nudge_by(self.column, factor))

    def to(self, value) -> bool:
        """Set the chosen hyperparameter of the run on the charts to ``value`` (a number or its text)."""
        def nudge():
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"cannot nudge {self.column}: {value!r} is not a number") from None
            return self.state.nudge(self.column, number)
        return self._do(nudge)

    def _do(self, nudge) -> bool:
        try:
            record = nudge()
        except ValueError as err:
            self.message.value = f"<div class='gd-error'>{html.escape(str(err))}</div>"
            return False
        self.message.value = (f"<div class='gd-about'>{html.escape(record['column'])}: {record['old']:.4g} &rarr; "
                              f"{record['new']:.4g} at step {record['step']:,}</div>")
        return True


MARK_COLOR = "#e377c2"


def nudge_marks(nudges, k: int, charted: int) -> tuple:
    """The vertical lines that mark ``nudges`` (records of :meth:`Run.nudge <gdtuo_explore.engine.run.Run.nudge>`)
    on the chart of level ``k`` of ``charted`` level charts: the nudges of level ``k``'s hyperparameters, and on the
    top chart also those of the levels above it (a fixed top level has no chart). Each line stands at the step of
    the first row the new value made, labelled with the column and the new value."""
    marks = []
    for n in nudges:
        level = int(n["column"].split(".")[0][len("level"):])
        if min(level, charted) != k:
            continue
        marks.append(dict(type="line", xref="x", yref="paper", x0=n["step"] + 1, x1=n["step"] + 1, y0=0, y1=1,
                          line=dict(color=MARK_COLOR, width=1.5, dash="dot"),
                          label=dict(text=f"{n['column']} → {n['new']:.3g}", textposition="end",
                                     font=dict(size=9, color=MARK_COLOR))))
    return tuple(marks)
