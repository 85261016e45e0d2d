"""``StepSizeAlerts``: warnings about the run on the charts, read from the rows its updates push; the run bar shows
them. A step size that goes negative makes its level step uphill: the run keeps training (the charts show it, on a
symmetric log axis), and the alert says where it happened, once per step size."""
from __future__ import annotations

import threading

from traitlets import HasTraits, List, Unicode

from ..core.columns import parse_column
from ..engine.series import is_step_size


class StepSizeAlerts(HasTraits):
    """Observes an :class:`~.state.ExplorerState`: ``alerts`` lists the current run's warnings, cleared when
    another run comes onto the charts (or none)."""

    alerts = List(Unicode(), help="warnings about the current run, e.g. a step size that went negative")

    def __init__(self, state):
        super().__init__()
        self.state = state
        self._flagged: set[str] = set()
        self._lock = threading.Lock()
        state.observe(self._new_run, "current")
        state.on_update(self._on_update)

    def _new_run(self, _) -> None:
        with self._lock:
            self._flagged.clear()
            self.alerts = []

    def _on_update(self, shown, update) -> None:
        if update is None:
            return
        with self._lock:   # a run that is no longer current (Run, Reset) adds nothing
            if shown is self.state.current:
                self._check(update.rows)

    def _check(self, rows: dict) -> None:
        """Alert once per column when a step size goes negative."""
        for column, values in rows.items():
            parsed = parse_column(column)
            if (parsed is None or not is_step_size(parsed[1]) or column in self._flagged or not len(values)
                    or values.min() >= 0):
                continue
            self._flagged.add(column)
            first = int((values < 0).argmax())
            self.alerts = self.alerts + [
                f"Level {parsed[0]}'s {parsed[1]} went negative at step {int(rows['step'][first])} "
                f"({values[first]:.3g}): that level now steps uphill."]
