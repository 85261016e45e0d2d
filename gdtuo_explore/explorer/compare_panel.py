"""The compare bar: add the frozen baseline (the same optimizer, hyperparameters fixed at their initial values), a
learning-rate-free optimizer or any tower (with a name such as "plain" or "tower") as an overlay on the charts, clear
the overlays, and a table of the runs shown with a remove button (x) on each overlay's row. Overlays train at the
explorer's pace (the Speed setting), so a race can be watched side by side; **Race** starts a new run and every
overlay that is a setup together, from step 0 (:meth:`ExplorerState.race`)."""
from __future__ import annotations

import html
import re
import threading

import ipywidgets as widgets

from ..engine.baselines import BASELINES
from ..engine.config import baseline_spec

_L = widgets.Layout


COLUMNS = ("", "run", "status", "test accuracy", "test loss", "")
RACE_TIP = "Start the run and every overlay together, from step 0, at the Speed setting"


class _Row:
    """The widgets of one run's row: swatch, label, status, accuracy, loss and the remove button."""

    def __init__(self, state, shown):
        self.shown = shown
        self.cells = [widgets.HTML() for _ in COLUMNS[:-1]]
        self.remove = widgets.Button(icon="times", tooltip=f"Remove {shown.label} from the charts (stops it)",
                                     layout=_L(width="28px", height="22px"))
        self.remove.add_class("gd-remove")
        self.remove.on_click(lambda _: state.remove_compared(shown))

    @property
    def widgets(self) -> list:
        return self.cells + [self.remove]

    def show(self, on_the_charts: bool) -> None:
        x = self.shown
        final = x.final()
        acc, loss = final.get("test_accuracy"), final.get("test_loss")
        values = (f"<span class='gd-swatch' style='background:{x.color}'></span>",
                  html.escape(x.label) + (" <i>(on the charts)</i>" if on_the_charts else ""),
                  html.escape(x.error or x.status), "" if acc is None else f"{acc:.2%}",
                  "" if loss is None else f"{loss:.4g}")
        for cell, value in zip(self.cells, values):
            if cell.value != value:
                cell.value = value
        self.remove.layout.visibility = "hidden" if on_the_charts else "visible"   # Reset forgets the current run

    def close(self) -> None:
        for w in self.widgets:
            w.close()


class ComparePanel:
    """Buttons and the runs table (``table``, a grid of one row per run), as ``widget``. Buttons call the state; the
    table redraws when the runs shown change or one of them changes status."""

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
        # any tower as an overlay, named as the user likes ("plain", "tower"): a race on the same task and pace
        self.spec = widgets.Text(placeholder="a tower, e.g. sgd(0.01)", continuous_update=False,
                                 layout=_L(width="170px"))
        self.spec.add_class("gd-spec")
        self.name = widgets.Text(placeholder="name (optional)", continuous_update=False, layout=_L(width="120px"))
        self.add = widgets.Button(description="Add tower", layout=_L(width="auto"),
                                  tooltip="train this tower too, on the same task, budget, seed and pace")
        self.error = widgets.HTML()
        self.add.on_click(lambda _: self.add_compare())
        self.race = widgets.Button(description="Race", layout=_L(width="auto"),
                                   tooltip=RACE_TIP)
        self.race.add_class("gd-race")
        self.race.on_click(lambda _: self.start_race())
        for button in (self.baseline, *self.references.values(), self.clear, self.add, self.race):
            button.add_class("gd-small")
        self.hint = widgets.HTML("<div class='gd-hint'>Finished runs stay on the charts as dashed overlays; add the "
                                 "frozen baseline or a learning-rate-free optimizer to compare.</div>")
        self.header = [widgets.HTML(f"<b>{name}</b>") for name in COLUMNS]
        self.table = widgets.GridBox(layout=_L(grid_template_columns="16px minmax(0, max-content) auto auto auto 30px",
                                               grid_gap="0 10px", align_items="center", max_width="100%"))
        self.table.add_class("gd-table")
        self.rows: dict[int, _Row] = {}   # shown.number -> its row
        self._lock = threading.RLock()
        self.baseline.on_click(lambda _: state.add_baseline())
        self.clear.on_click(lambda _: state.clear_compared())
        state.observe(self._tower_changed, "tower")
        state.observe(lambda _: self.redraw(), ["current", "compared"])
        state.observe(lambda _: self._race_possible(), ["compared", "setup_error"])
        state.on_update(self._on_update)
        self._statuses: dict[int, str] = {}
        self._tower_changed(None)
        self._race_possible()
        self.redraw()
        self.widget = widgets.VBox([
            widgets.HBox([widgets.HTML("<b class='gd-section'>Compare</b>"), self.baseline,
                          *self.references.values(), self.clear],
                         layout=_L(align_items="center", flex_flow="row wrap", grid_gap="4px")),
            widgets.HBox([self.spec, self.name, self.add, self.race],
                         layout=_L(align_items="center", flex_flow="row wrap", grid_gap="4px")),
            self.error, self.hint, self.table])
        self.widget.add_class("gd-compare")

    def add_compare(self) -> bool:
        """Add the typed tower (and name) as an overlay; a refused spec or name shows its error."""
        return self._shown(lambda: self.state.add_compare(self.spec.value, self.name.value.strip() or None))

    def start_race(self) -> bool:
        """Race (see :meth:`ExplorerState.race`); a refusal shows why."""
        return self._shown(self.state.race)

    def _shown(self, action) -> bool:
        """Do ``action``; whether it was done. A ``ValueError`` it raises shows in the bar's error line."""
        try:
            action()
        except ValueError as err:
            self.error.value = f"<div class='gd-error'>{html.escape(str(err))}</div>"
            return False
        self.error.value = ""
        return True

    def _race_possible(self) -> None:
        """Race is off with nothing to race beside the run (no overlay that is a setup) or a setup that cannot run."""
        s = self.state
        why_not = (f"The setup cannot run: {s.setup_error}" if s.setup_error else
                   "Add an overlay (the frozen baseline, a reference or a tower) to race it against the run"
                   if not s.race_overlays() else "")
        self.race.disabled, self.race.tooltip = bool(why_not), why_not or RACE_TIP

    def _tower_changed(self, _) -> None:
        self.baseline.tooltip = (f"Train {baseline_spec(self.state.tower)} alone: the same optimizer with its "
                                 "hyperparameters frozen at their initial values")

    def _on_update(self, shown, update) -> None:
        if update is None or self._statuses.get(shown.number) != shown.status:
            self.redraw()

    def redraw(self) -> None:
        """Redraw the runs table: colour, label, status, final test accuracy and loss, and x for each overlay."""
        s = self.state
        with self._lock:
            current = s.current
            shown = [x for x in s.compared if x is not current] + ([current] if current is not None else [])
            self._statuses = {x.number: x.status for x in shown}
            for number in [n for n in self.rows if n not in self._statuses]:
                self.rows.pop(number).close()
            for x in shown:
                if x.number not in self.rows:
                    self.rows[x.number] = _Row(s, x)
                self.rows[x.number].show(x is current)
            children = tuple(self.header if shown else ()) + tuple(
                w for x in shown for w in self.rows[x.number].widgets)
            if self.table.children != children:
                self.table.children = children
            self.hint.layout.display = "none" if shown else None

    def text(self) -> str:
        """The table's visible text, one line per row (for tests and scripts)."""
        rows = [[re.sub(r"<[^>]+>", "", c.value) for c in self.header]] if self.rows else []
        rows += [[re.sub(r"<[^>]+>", "", c.value) for c in row.cells] for row in self.rows.values()]
        return "\n".join(html.unescape(" | ".join(cells)) for cells in rows)
