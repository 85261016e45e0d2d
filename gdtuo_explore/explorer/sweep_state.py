"""``SweepState``: the model of the explorer's Sweep panel -- the paper's sensitivity experiment (final test loss and
accuracy of SGD towers of several heights over initial step sizes), run in the background by
:class:`gdtuo_explore.engine.sweep.Sweep`."""
from __future__ import annotations

import threading

from traitlets import Float, HasTraits, Int, List, Unicode

from ..engine.config import parse_numbers
from ..engine.status import Status
from ..engine.sweep import DEFAULT_KAPPA, QUICK_ALPHAS, QUICK_HEIGHTS, QUICK_STEPS, Sweep
from .traits import StatusTrait


class SweepState(HasTraits):
    """The sweep's settings (as the panel shows them), its progress and its result rows.

    The defaults are the engine's quick grid (:data:`gdtuo_explore.engine.sweep.QUICK_ALPHAS` ...). The grid is
    ``heights`` x ``alphas``: height ``h`` is ``sgd(alpha)`` with ``h`` levels ``sgd(kappa)`` above it; with
    ``kappas`` set (comma-separated), ``heights`` x ``kappas`` x ``alphas`` instead of the one ``kappa``.
    Task, model, batch size, seed and device come from the explorer's setup when :meth:`start` is called.
    """

    alphas = Unicode(", ".join(f"{a:g}" for a in QUICK_ALPHAS), help="initial step sizes, comma-separated")
    heights = Unicode(", ".join(map(str, QUICK_HEIGHTS)), help="tower heights above the bottom level")
    kappa = Float(DEFAULT_KAPPA, help="step size of every level above the bottom one")
    kappas = Unicode("", help="several step sizes of the levels above, comma-separated, to vary kappa too (empty: "
                              "the one kappa)")
    steps = Int(QUICK_STEPS, help="training steps per run")
    status = StatusTrait()
    message = Unicode("Not started.")
    done = Int(0)
    total = Int(0)
    rows = List()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._sweep: Sweep | None = None
        self._watcher: threading.Thread | None = None

    def settings(self) -> dict:
        """The settings, JSON-ready (for the explorer's saved state)."""
        return {"alphas": self.alphas, "heights": self.heights, "kappa": self.kappa, "kappas": self.kappas,
                "steps": self.steps}

    def load(self, settings: dict) -> None:
        """Restore settings saved by :meth:`settings` (missing keys keep their values)."""
        for key in ("alphas", "heights", "kappa", "kappas", "steps"):
            if key in settings:
                setattr(self, key, settings[key])

    def start(self, task: str, model: str, batch_size: int, seed: int, device: str) -> bool:
        """Start the sweep in the background; False (with ``message`` saying why) if the settings are invalid or a
        sweep is already running."""
        if self.status == Status.RUNNING:
            return False
        try:
            alphas = parse_numbers(self.alphas, "initial step sizes", float)
            heights = parse_numbers(self.heights, "heights", int)
            kappas = parse_numbers(self.kappas, "kappas", float) if self.kappas.strip() else None
            sweep = Sweep(task, alphas, heights, None if kappas else self.kappa, kappas=kappas, steps=self.steps,
                          batch_size=batch_size, seed=seed, model=model, device=device, progress=self._progress)
        except ValueError as err:
            self.status, self.message = Status.ERROR, str(err)
            return False
        self._sweep = sweep
        self.rows, self.done, self.total = [], 0, sweep.total
        self.status, self.message = Status.RUNNING, f"0 of {sweep.total} runs done (starting worker processes)"
        sweep.start()
        self._watcher = threading.Thread(target=self._watch, args=(sweep,), name="gdtuo-explorer-sweep",
                                         daemon=True)
        self._watcher.start()
        return True

    def _progress(self, done: int, total: int, row: dict) -> None:
        self.rows = self._sweep.rows
        self.done, self.message = done, f"{done} of {total} runs done"

    def _watch(self, sweep: Sweep) -> None:
        sweep.wait()
        self.rows = sweep.rows
        self.done = sweep.done
        self.message = sweep.message if sweep.status != Status.DONE else f"done: {sweep.total} runs"
        self.status = sweep.status

    def stop(self) -> None:
        """Stop the sweep; finished runs are kept."""
        if self._sweep is not None and self.status == Status.RUNNING:
            self._sweep.stop()

    def close(self) -> None:
        """Stop the sweep and wait until its threads and worker processes have ended; finished rows are kept."""
        self.stop()
        if self._sweep is not None:
            self._sweep.wait()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the sweep ends (or ``timeout`` seconds pass); returns its status."""
        if self._watcher is not None:
            self._watcher.join(timeout)
        return self.status

    def export(self, directory) -> dict:
        """Write ``sweep.csv`` and ``sweep.html`` into ``directory`` if there are results; returns the paths."""
        if self._sweep is None or not self._sweep.rows:
            return {}
        return self._sweep.export(directory)
