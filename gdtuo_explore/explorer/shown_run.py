"""``ShownRun``: a run on the explorer's charts -- its label, colour and config, and the engine's :class:`Run` once
it is built. Building a run (loading data, making the model) happens in a short-lived thread, so a click never
blocks the notebook; the run then trains in the engine's own thread. :func:`launch_together` builds several runs and
starts them at the same instant, once the slowest is built (a race).

The explorer calls the engine's run controls ``Run.pace``, ``Run.close`` and :func:`~..engine.run.race` from here
only."""
from __future__ import annotations

import itertools
import threading

from ..engine.config import RunConfig
from ..engine.run import Run, race
from ..engine.status import Status
from . import tower_edits

#: Line colours, one per run shown (plotly's default cycle).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_numbers = itertools.count(1)


class ShownRun:
    """A run the explorer shows. ``observer(shown, update)`` gets the run's updates once it trains. ``label``
    defaults to ``run N: TOWER``, numbered in the order runs were made, with the tower's full spec (every step size
    written out, defaults included: :func:`.tower_edits.full_spec`). ``color``: its lines' colour (default: by
    number, from :data:`COLORS`).

    ``status`` is ``starting`` while the run is being built, ``error`` if building it failed (``error`` then holds
    the reason), and the run's own status after that. ``pace``: at most that many steps per second (None: as fast
    as it goes), see :meth:`set_pace`. ``key``: what its colour is kept under (a name, a role such as "frozen"), for
    an overlay that is a setup a race trains again; None for the run on the charts and the finished runs it leaves.
    """

    def __init__(self, config: RunConfig, observer, label: str | None = None, pace: float | None = None,
                 color: str | None = None, key: str | None = None):
        self.number = next(_numbers)
        self.label = label or f"run {self.number}: {tower_edits.full_spec(config.tower)}"
        self.color = color or COLORS[(self.number - 1) % len(COLORS)]
        self.config = config
        self.run: Run | None = None
        self.error = ""
        self.pace = pace
        self.key = key
        self._observer = observer
        self._cancelled = False
        self._lock = threading.Lock()
        self._builder: threading.Thread | None = None

    @property
    def status(self) -> Status:
        if self.error:
            return Status.ERROR
        return Status.STARTING if self.run is None else self.run.status

    def launch(self, steps: int | None = None, on_error=None, start_line: "_StartLine | None" = None) -> None:
        """Build the run in a background thread, then start it (or, with ``steps``, train that many steps and
        pause). ``on_error(shown)`` is called if the run cannot be built. With ``start_line`` (see
        :func:`launch_together`) the run waits there for the others and starts with them."""
        self._builder = threading.Thread(target=self._build, args=(steps, on_error, start_line),
                                         name="gdtuo-explorer-build", daemon=True)
        self._builder.start()

    def _build(self, steps, on_error, start_line) -> None:
        try:
            run = Run(self.config, observers=[lambda update: self._observer(self, update)])
        except Exception as err:  # noqa: BLE001 - bad input, missing data, no device: shown, never raised
            self.error = f"could not start: {err}"
            if on_error is not None:
                on_error(self)
            if start_line is not None:
                start_line.arrive(self, None)
            return
        if start_line is not None:
            start_line.arrive(self, run)   # the run stays "starting" until every run of the race is built
            return
        with self._lock:
            run.pace = self.pace
            self.run = run
            if self._cancelled:
                run.stop(wait=False)
                return
        if steps is None:
            run.start()
        else:
            run.step(steps, wait=False)

    def cancel(self) -> None:
        """Stop the run (or keep it from starting if it is still being built)."""
        with self._lock:
            self._cancelled = True
            run = self.run
        if run is not None:
            run.stop(wait=False)

    def set_pace(self, pace: float | None) -> None:
        """At most ``pace`` steps per second from now on (None: as fast as it goes), also while it trains."""
        with self._lock:
            self.pace = pace
            if self.run is not None:
                self.run.pace = pace

    def close(self) -> None:
        """Stop the run (or keep it from starting), wait until its threads and the builder's have ended and release
        its model; what it recorded stays readable. Safe to call twice. Never call it from one of the run's own
        threads, nor while holding a lock an observer of the run takes."""
        self.cancel()
        if self._builder is not None and self._builder is not threading.current_thread():
            self._builder.join()
        run = self.run
        if run is None:
            return
        run.close()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run is built and has finished (or was never built); returns the status."""
        if self._builder is not None:
            self._builder.join(timeout)
        if self.run is not None:
            self.run.wait(timeout)
        return self.status

    def final(self) -> dict:
        """The run's latest evaluation (see :meth:`Run.final`), or an empty dict before it is built."""
        return self.run.final() if self.run is not None else {}

    def __repr__(self) -> str:
        return f"ShownRun({self.label!r}, status={self.status!r})"


def launch_together(shown_runs, on_error=None) -> None:
    """Build every run of ``shown_runs`` (none launched yet) in its own background thread, and start them at the same
    instant once the last one is built, on one schedule at the first one's pace (the engine's
    :func:`~..engine.run.race`): step k of every run is due at the same moment. Each stays ``starting`` until then; a
    run that cannot be built shows its error (``on_error(shown)``) and the others race without it; one cancelled
    meanwhile never starts. Returns at once."""
    shown_runs = list(shown_runs)
    line = _StartLine(len(shown_runs))
    for shown in shown_runs:
        shown.launch(on_error=on_error, start_line=line)


class _StartLine:
    """Where the builders of a race wait for each other: the last one to arrive starts every run built, the others
    return once it did (so a builder's thread ends only once its run started, and :meth:`ShownRun.wait` holds)."""

    def __init__(self, count: int):
        self._cond = threading.Condition()
        self._waiting = count
        self._arrived: list[tuple[ShownRun, Run | None]] = []
        self._started = False

    def arrive(self, shown: ShownRun, run: Run | None) -> None:
        with self._cond:
            self._arrived.append((shown, run))
            self._waiting -= 1
            if self._waiting > 0:
                self._cond.wait_for(lambda: self._started)
                return
        try:
            self._start([(s, r) for s, r in self._arrived if r is not None])
        finally:
            with self._cond:
                self._started = True
                self._cond.notify_all()

    @staticmethod
    def _start(built: list[tuple[ShownRun, Run]]) -> None:
        # every run's lock held: a cancel in between would leave the engine's race a stopped run to refuse
        for shown, _ in built:
            shown._lock.acquire()
        cancelled = []
        try:
            racing = [(shown, run) for shown, run in built if not shown._cancelled]
            cancelled = [run for shown, run in built if shown._cancelled]
            if racing:
                race([run for _, run in racing], pace=racing[0][0].pace)
            for shown, run in racing:   # shown once started: a run on the charts is never seen idle
                shown.run = run
        finally:
            for shown, _ in reversed(built):
                shown._lock.release()
        for run in cancelled:
            run.close()   # built for nothing: its model goes
