"""Observers of a run: :class:`Update` (what an observer receives) and :class:`Dispatcher`, the thread that sends
updates.

Observers get the records from their own thread, at most every ``UPDATE_INTERVAL`` seconds plus a final update, so
an observer that blocks or sleeps never holds training up (observer code does share Python's GIL with the training
loop, hence the rate bound).
"""
from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from dataclasses import dataclass, field, fields

from .records import Records
from .status import Status

log = logging.getLogger(__name__)

UPDATE_INTERVAL = 0.25    # observers get at most one update per this many seconds (plus the final one)...
FIRST_INTERVAL = 0.02     # ...but until an observer has its first rows, it is asked this often (the first points of
                          # a run show at once: the trainer fetches the first step's loss right away)


@dataclass(frozen=True)
class Progress:
    """Where a run is: its status and message line, steps done (``step``) of ``total_steps`` (None: until stopped),
    the epoch, the fraction done, seconds trained and mean steps per second."""

    status: Status
    message: str
    step: int
    total_steps: int | None
    epoch: int
    progress: float
    elapsed: float
    steps_per_second: float


@dataclass(frozen=True)
class Update(Progress):
    """What an observer receives: the records that are new since its previous update, and the run's
    :class:`Progress` (its fields are the update's own: ``update.status``, ``update.step`` ...).

    ``rows`` holds per-step columns (``step``, ``epoch``, ``train_loss``, ``level1.alpha``, ...) and ``evaluations``
    per-evaluation columns (``step``, ``test_loss``, ``test_accuracy``), as numpy arrays (possibly empty).
    ``first_row`` and ``first_evaluation`` are the row numbers (from 0) of their first rows: an observer that also
    read the run's records itself can tell which rows it already has.
    ``nudges``: the run's nudges (``{"step", "column", "old", "new"}``, see :meth:`Run.nudge`) new since the previous
    update. ``final`` is True for the last update of the run (its status is then done, stopped, diverged or error).
    """

    rows: dict = field(default_factory=dict)
    evaluations: dict = field(default_factory=dict)
    first_row: int = 0
    first_evaluation: int = 0
    final: bool = False
    nudges: tuple = ()


@dataclass
class _Subscription:
    """An observer and how far its updates have gone: rows and evaluations sent, the (status, message) sent."""

    observer: object
    rows: int = 0
    evaluations: int = 0
    nudges: int = 0
    state: tuple = ()


class Dispatcher:
    """Sends :class:`Update`\\ s of ``records`` to observers from its own thread (:meth:`start`).

    ``progress()`` returns the run's :class:`Progress`; ``nudges()``, if given, the run's nudges so far (a list).
    Call :meth:`notify` at every change of status; after a finished one the thread sends the final updates and ends.
    """

    def __init__(self, records: Records, progress, observers=(), name: str = "gdtuo-run-observers", nudges=None):
        self._records, self._progress, self._name = records, progress, name
        self._nudges = nudges if nudges is not None else list
        self._lock = threading.Lock()       # guards the subscriptions
        self._subscriptions = [_Subscription(o) for o in observers]
        self._wake = threading.Event()
        self._finished = threading.Event()
        self.errors: list[str] = []         # what observers raised, with tracebacks
        self.thread: threading.Thread | None = None

    def start(self) -> threading.Thread:
        self.thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self.thread.start()
        return self.thread

    def notify(self, finished: bool = False) -> None:
        """Wake the thread: something changed (``finished``: the run ended)."""
        if finished:
            self._finished.set()
        self._wake.set()

    def add(self, observer) -> None:
        """Call ``observer(update)`` from now on; its first update holds every record so far."""
        with self._lock:
            self._subscriptions.append(_Subscription(observer))
        self._wake.set()

    def remove(self, observer) -> None:
        """Stop calling ``observer`` (no error if it was not added)."""
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s.observer != observer]

    def _interval(self) -> float:
        """``UPDATE_INTERVAL``, or ``FIRST_INTERVAL`` while an observer still waits for its first rows."""
        with self._lock:
            waiting = any(sub.rows == 0 for sub in self._subscriptions)
        return FIRST_INTERVAL if waiting else UPDATE_INTERVAL

    def _loop(self) -> None:
        last = -math.inf
        while True:
            interval = self._interval()
            self._wake.wait(interval)
            self._wake.clear()
            rest = interval - (time.monotonic() - last)
            if rest > 0:
                self._finished.wait(rest)
            final = self._finished.is_set()  # read before the records: a finished run has recorded everything
            last = time.monotonic()
            with self._lock:
                subscriptions = list(self._subscriptions)
            for sub in subscriptions:
                try:
                    update = self._update_for(sub, final)
                    if update is not None:
                        sub.observer(update)
                except Exception:
                    error = f"observer {sub.observer!r} raised:\n{traceback.format_exc()}"
                    self.errors.append(error)
                    log.warning(error)
            if final:
                return

    def _update_for(self, sub: _Subscription, final: bool) -> Update | None:
        """The update for a subscription since its previous one (None if nothing changed), advancing it."""
        before = self._progress()  # the state before the records, the numbers after them
        state = (before.status, before.message)
        nudges = self._nudges()
        if ((*self._records.sizes(), len(nudges), state) == (sub.rows, sub.evaluations, sub.nudges, sub.state)
                and not final):
            return None
        rows, evals = self._records.since(sub.rows, sub.evaluations)
        after = self._progress()
        first_row, first_evaluation = sub.rows, sub.evaluations
        sub.rows += len(rows["step"])
        sub.evaluations += len(evals["step"])
        new, sub.nudges = tuple(nudges[sub.nudges:]), len(nudges)
        sub.state = state
        numbers = {f.name: getattr(after, f.name) for f in fields(Progress)}
        return Update(**{**numbers, "status": before.status, "message": before.message}, rows=rows,
                      evaluations=evals, first_row=first_row, first_evaluation=first_evaluation, final=final,
                      nudges=new)
