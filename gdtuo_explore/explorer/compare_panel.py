"""The compare bar: add the frozen baseline (the same optimizer, hyperparameters fixed at their initial values) or a
learning-rate-free optimizer as an overlay on the charts, clear the overlays, and a table of the runs shown."""
from __future__ import annotations

import html

import ipywidgets as widgets

from ..engine.baselines import BASELINES
from ..engine.config import baseline_spec

_L = widgets.Layout


class ComparePanel:
    """Buttons and the runs table, as ``widget``. Buttons call the state; the table redraws when the runs shown
    change or one of them changes status."""

    def __init__(self, state):
        self.state = state
        self.baseline = widgets.Button(description="Add frozen baseline", layout=_L(width="auto"))
        self.references = {}
        for name, (_, _, human) in BASELINES.items():
            why_not = state.reference_available(name)
            button = widgets.Button(description=f"Add {human}", disabled=bool(why_not), layout=_L(width="auto"),
                                    tooltip=why_not or f"{human}: a learning-rate-free optimizer, on the same task")
            button.on_click(lambda _, name=name: state.add_reference(name))
            self.references[name] = button
        self.clear = widgets.Button(description="Clear overlays", layout=_L(width="auto"))
        for button in (self.baseline, *self.references.values(), self.clear):
            button.add_class("gd-small")
        self.table = widgets.HTML()
        self.baseline.on_click(lambda _: state.add_baseline())
        self.clear.on_click(lambda _: state.clear_compared())
        state.observe(self._tower_changed, "tower")
        state.observe(lambda _: self.redraw(), ["current", "compared"])
        state.on_update(self._on_update)
        self._statuses: dict[int, str] = {}
        self._tower_changed(None)
        self.redraw()
        self.widget = widgets.VBox([
            widgets.HBox([widgets.HTML("<b class='gd-section'>Compare</b>"), self.baseline,
                          *self.references.values(), self.clear],
                         layout=_L(align_items="center", flex_flow="row wrap", grid_gap="4px")),
            self.table])
        self.widget.add_class("gd-compare")

    def _tower_changed(self, _) -> None:
        self.baseline.tooltip = (f"Train {baseline_spec(self.state.tower)} alone: the same optimizer with its "
                                 "hyperparameters frozen at their initial values")

    def _on_update(self, shown, update) -> None:
        if update is None or self._statuses.get(shown.number) != shown.status:
            self.redraw()

    def redraw(self) -> None:
        """Redraw the runs table: colour, label, status, final test accuracy and loss."""
        s = self.state
        shown = [x for x in s.compared if x is not s.current] + ([s.current] if s.current is not None else [])
        self._statuses = {x.number: x.status for x in shown}
        if not shown:
            self.table.value = ("<div class='gd-hint'>Finished runs stay on the charts as dashed overlays; add the "
                                "frozen baseline or a learning-rate-free optimizer to compare.</div>")
            return
        rows = []
        for x in shown:
            final = x.final()
            acc = final.get("test_accuracy")
            loss = final.get("test_loss")
            what = html.escape(x.error or x.status)
            rows.append(f"<tr><td><span class='gd-swatch' style='background:{x.color}'></span></td>"
                        f"<td>{html.escape(x.label)}{' <i>(on the charts)</i>' if x is s.current else ''}</td>"
                        f"<td>{what}</td><td>{'' if acc is None else f'{acc:.2%}'}</td>"
                        f"<td>{'' if loss is None else f'{loss:.4g}'}</td></tr>")
        self.table.value = ("<table class='gd-table'><tr><th></th><th>run</th><th>status</th><th>test accuracy</th>"
                            "<th>test loss</th></tr>" + "".join(rows) + "</table>")
