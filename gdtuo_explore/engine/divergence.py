"""When a run has diverged, as data: :class:`Divergence` (the step, the kind, the values) and the two rules that
find one in the losses and hyperparameters fetched from the device.

* **non-finite**: a train loss that is not finite, or a step the tower refused (:meth:`HyperOptimizer.nonfinite`:
  a hyperparameter, the weights' update or the gradient went non-finite);
* **exploding loss** (:class:`ExplodingLoss`): the smoothed train loss, the mean of the last ``WINDOW`` steps' losses
  (of all steps so far before step ``WINDOW``), rose above ``factor`` times its start, the first step's loss: the
  loss of the initial weights, the one loss no update has touched (a mean over the first few steps would already
  hold the explosion of a large step size, which can start at the second step). Checked from step 2 on, for a
  positive start only. ``RunConfig.divergence_factor`` sets ``factor``.

Both work on host arrays already fetched, so they cost no device synchronisation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..core.nonfinite import NonFinite

WINDOW = 20       # the smoothed loss: the mean over this many last steps


@dataclass(frozen=True)
class Divergence:
    """Where and why a run diverged.

    ``kind`` ``"non-finite"``: ``values`` holds ``(name, value)`` for each value that went non-finite at ``step``
    (``train loss``, ``level1.alpha``, ...; value None for ``weights' update`` and ``gradient``, which are not
    recorded). ``kind`` ``"exploding loss"``: ``smoothed`` exceeded ``factor`` times ``start``.
    """

    step: int
    kind: Literal["non-finite", "exploding loss"]
    values: tuple[tuple[str, float | None], ...] = ()
    smoothed: float | None = None
    start: float | None = None
    factor: float | None = None

    @property
    def message(self) -> str:
        """E.g. ``diverged at step 412: non-finite level1.alpha (inf)`` or ``diverged at step 412: the train loss
        (smoothed 8.1e+05) exceeded 100x its start (2.3)``."""
        if self.kind == "non-finite":
            what = ", ".join(name if value is None else f"{name} ({value:g})" for name, value in self.values)
            return f"diverged at step {self.step}: non-finite {what}"
        return (f"diverged at step {self.step}: the train loss (smoothed {self.smoothed:.3g}) exceeded "
                f"{self.factor:g}x its start ({self.start:.3g})")

    def __str__(self) -> str:
        return self.message


def nonfinite(first: int, losses: np.ndarray, history: dict | None,
              report: NonFinite | None) -> Divergence | None:
    """The first non-finite train loss or refused tower step among the fetched steps ``first + 1 ...`` (``losses``
    and the tower's ``history`` of them; ``report``: the tower's :class:`NonFinite`, None for a baseline or while
    every step was finite); None if there is none."""
    found: list[tuple[int, str, float | None]] = []
    bad_loss = np.flatnonzero(~np.isfinite(losses))
    if len(bad_loss):
        i = int(bad_loss[0])
        found.append((first + i + 1, "train loss", float(losses[i])))
    if report is not None and report.step is not None:
        step = report.step
        if report.kind == "hyperparameter":
            found += [(step, name, float(history[name][step - 1 - first])) for name in report.values]
        elif report.kind == "update":
            found.append((step, "weights' update", None))
        elif all(s != step for s, _, _ in found):  # a bad gradient with a finite loss
            found.append((step, "gradient", None))
    if not found:
        return None
    step = min(s for s, _, _ in found)
    return Divergence(step, "non-finite", tuple((name, value) for s, name, value in found if s == step))


class ExplodingLoss:
    """The exploding-loss rule over the train losses of consecutive fetches (see the module's docstring)."""

    def __init__(self, factor: float, window: int = WINDOW):
        self.factor, self.window = factor, window
        self.start: float | None = None       # the first step's loss
        self._tail = np.zeros(0)               # the last window - 1 losses before the next fetch

    def check(self, first: int, losses: np.ndarray) -> Divergence | None:
        """The first step among ``first + 1 ...`` (the fetched, finite ``losses``) whose smoothed loss exceeds
        ``factor`` times the start; None if none does."""
        if not len(losses):
            return None
        if self.start is None and first == 0:
            self.start = float(losses[0])
        values = np.concatenate([self._tail, losses])
        self._tail = values[max(0, len(values) - (self.window - 1)):]
        if self.start is None or self.start <= 0:
            return None
        sums = np.cumsum(np.concatenate([[0.0], values]))
        end = np.arange(len(values) - len(losses), len(values)) + 1   # prefix positions of the fetched steps
        begin = np.maximum(end - self.window, 0)
        steps = first + np.arange(1, len(losses) + 1)
        smoothed = (sums[end] - sums[begin]) / (end - begin)
        above = np.flatnonzero((smoothed > self.factor * self.start) & (steps > 1))
        if not len(above):
            return None
        i = int(above[0])
        return Divergence(int(steps[i]), "exploding loss", smoothed=float(smoothed[i]), start=self.start,
                          factor=self.factor)
