"""``RunSeries``: what the charts draw of one run, kept as its updates push new rows. Every step column (the train
loss, each hyperparameter) and every evaluation column is thinned as it grows, and the train loss is also smoothed
(:mod:`gdtuo_explore.engine.thinning`), so that a redraw costs the same after 200,000 steps as after 2,000: it reads
at most about ``max_points`` points per line, never the run's whole history."""
from __future__ import annotations

import numpy as np

from ..engine.thinning import Smoothed, Thinned

STEPS, EVALUATIONS = "steps", "evaluations"
SMOOTHED = "train_loss (smoothed)"   # the column of the smoothed train loss
_NOT_DRAWN = ("step", "epoch")       # the x of every line, and a column no chart draws


class RunSeries:
    """The thinned lines of one run. :meth:`add` takes an update's rows, :meth:`line` gives a line's points.

    Each table (``steps``, ``evaluations``) is one :class:`Thinned` over all its columns; a line's version is the
    number of rows its table took in, so a chart sends a line again only when it grew.
    """

    def __init__(self, max_points: int):
        self.max_points = max_points
        self.rows = {STEPS: 0, EVALUATIONS: 0}     # rows taken in, per table
        self._thinned: dict = {STEPS: None, EVALUATIONS: None}
        self._columns: dict = {STEPS: [], EVALUATIONS: []}
        self._smoothed = Smoothed()

    @classmethod
    def of(cls, run, max_points: int) -> "RunSeries":
        """The series of everything ``run`` (a :class:`~gdtuo_explore.engine.run.Run`, or None: nothing yet)
        recorded so far: the one time its records are read."""
        series = cls(max_points)
        if run is not None:
            series.add(run.metrics(), run.evaluations())
        return series

    def add(self, rows: dict, evaluations: dict, first_row: int = 0, first_evaluation: int = 0) -> bool:
        """Take in the step ``rows`` from row number ``first_row`` on and the ``evaluations`` from
        ``first_evaluation`` on (as an :class:`~gdtuo_explore.engine.dispatch.Update` carries them); rows already
        taken in are skipped. Returns whether a line grew."""
        grew = self._take(STEPS, rows, first_row)
        return self._take(EVALUATIONS, evaluations, first_evaluation) or grew

    def _take(self, table: str, columns: dict, first: int) -> bool:
        steps = columns.get("step")
        n = 0 if steps is None else len(steps)
        skip = self.rows[table] - first
        if skip < 0:
            raise RuntimeError(f"{table} rows {self.rows[table]} to {first - 1} never reached the charts")
        if skip >= n:
            return False
        thinned = self._thinned[table]
        if thinned is None:
            names = [c for c in columns if c not in _NOT_DRAWN]
            self._columns[table] = names + ([SMOOTHED] if table == STEPS and "train_loss" in columns else [])
            thinned = self._thinned[table] = Thinned(self.max_points)
        values = [np.asarray(columns[c][skip:], dtype=float) for c in self._columns[table] if c != SMOOTHED]
        if SMOOTHED in self._columns[table]:
            values.append(self._smoothed.extend(columns["train_loss"][skip:]))
        if values:
            thinned.extend(steps[skip:], np.stack(values, axis=1))
        self.rows[table] += n - skip
        return True

    def line(self, column: str, evaluation: bool = False):
        """``(version, x, y)`` of the column ``column`` of the step table (``SMOOTHED`` for the smoothed train loss)
        or, with ``evaluation``, of the evaluation table; None if it has no such column (yet)."""
        table = EVALUATIONS if evaluation else STEPS
        thinned = self._thinned[table]
        if thinned is None or column not in self._columns[table]:
            return None
        return (self.rows[table], *thinned.points(self._columns[table].index(column)))
