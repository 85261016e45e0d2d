"""The paper's sensitivity experiment: final test loss and accuracy of SGD towers of height 0..3 over a range of
initial step sizes. Taller towers should care less about the initial choice.

Height 0 is ``sgd(alpha)``; height ``h`` is ``sgd(alpha)`` with ``h`` SGD levels of step ``kappa`` above it, e.g.
height 2 is ``sgd(alpha)/sgd(kappa)/sgd(kappa)``. The grid can also vary ``kappa`` (``kappas=``): heights x kappas x
alphas, where height 0, which has no level above, is run once per alpha. Every run is independent, so they go to a
``multiprocessing`` pool (spawn start method; a script calling this at top level needs the usual
``if __name__ == "__main__":``).

    rows = sweep("digits", alphas=(1e-4, 1e-2, 1), heights=(0, 1, 2), steps=200)
    rows = sweep("digits", alphas=(1e-4, 1e-2, 1), heights=(1, 2), kappas=(1e-4, 1e-3, 1e-2), steps=200)
    s = Sweep(...).start(); s.progress; s.stop(); s.wait(); s.rows      # in the background
"""
from __future__ import annotations

import csv
import multiprocessing
import os
from pathlib import Path
from typing import NamedTuple

from .config import RunConfig
from .control import Control
from .status import Status
from ..core.spec import parse_tower

DEFAULT_ALPHAS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
DEFAULT_HEIGHTS = (0, 1, 2, 3)
#: Step size of every level above the bottom one. Measured on digits (batch 64, 5 epochs, seed 0), test error over
#: alpha = 1e-8 .. 1: height 0 goes from 88 % to 5 %, height 1 from 12 % to 5 %, heights 2 and 3 stay at 4-6 %.
#: (kappa = 1e-3 barely helps; kappa = 0.1 already flattens height 1.)
DEFAULT_KAPPA = 1e-2
#: The explorer's Sweep tab: a grid small enough to watch come in (12 runs of QUICK_STEPS steps).
QUICK_ALPHAS = (1e-6, 1e-4, 1e-2, 1.0)
QUICK_HEIGHTS = (0, 1, 2)
QUICK_STEPS = 300
#: The columns of ``sweep.csv`` and the keys of a row; ``kappa`` is empty (None) for height 0.
COLUMNS = ["height", "kappa", "alpha", "tower", "final_test_loss", "final_test_accuracy", "status", "message"]


def tower_spec(alpha: float, height: int, kappa: float = DEFAULT_KAPPA) -> str:
    """``sgd(alpha)`` with ``height`` levels ``sgd(kappa)`` above it, in canonical form."""
    return str(parse_tower("/".join([f"sgd({alpha!r})"] + [f"sgd({kappa!r})"] * height)))


class GridPoint(NamedTuple):
    """One run of a sweep: its tower height, the step size ``kappa`` of the levels above (None for height 0), the
    initial ``alpha``, the seed and the validated config."""

    height: int
    kappa: float | None
    alpha: float
    seed: int
    config: RunConfig


def grid_points(base: RunConfig, alphas, heights, kappas, seeds=None) -> list[GridPoint]:
    """The sensitivity grid, height by height, then kappa, then alpha (then seed), each point's ``config`` being
    ``base`` with the tower :func:`tower_spec` ``(alpha, height, kappa)`` and the seed (``base.seed`` where
    ``seeds`` is None). Height 0 has no level above, so it is one point per alpha (and seed), with kappa None.
    ValueError for a height that is not an integer >= 0, a kappa given twice, or an alpha or kappa that a tower
    refuses, naming it."""
    for h in heights:
        if isinstance(h, bool) or not isinstance(h, int) or h < 0:
            raise ValueError(f"height {h!r} is out of range: heights are integers >= 0")
    kappas = list(kappas)
    if not kappas:
        raise ValueError("kappas=[] is empty: give at least one step size for the levels above")
    if len(set(kappas)) != len(kappas):
        raise ValueError(f"kappas={kappas} repeats a value: each grid point must be unique")
    points = []
    for height in heights:
        for kappa in [None] if height == 0 else kappas:
            for alpha in alphas:
                try:
                    spec = tower_spec(alpha, height, kappas[0] if kappa is None else kappa)
                except ValueError as err:
                    raise ValueError(f"alpha={alpha!r}, kappa={kappa!r}: {err}") from None
                for seed in [base.seed] if seeds is None else seeds:
                    points.append(GridPoint(height, kappa, alpha, seed, base.replace(tower=spec, seed=seed)))
    return points


def grid(base: RunConfig, alphas, heights, kappa: float, seeds=None) -> list[tuple[int, float, int, RunConfig]]:
    """The sensitivity grid for one ``kappa``, height by height then alpha (then seed): ``(height, alpha, seed,
    config)`` for each point (see :func:`grid_points`)."""
    return [(p.height, p.alpha, p.seed, p.config) for p in grid_points(base, alphas, heights, [kappa], seeds)]


def _init_worker(threads: int) -> None:
    """Share the cores between the workers; leave Ctrl-C to the parent, which terminates the pool."""
    import signal

    import torch
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def _run_job(job: tuple[int, dict, int, float | None, float]) -> dict:
    """Train one config (in a worker process); the row of its results. Never raises: failures become rows."""
    from .run import Run

    index, config, height, kappa, alpha = job
    row = {"index": index, "height": height, "kappa": kappa, "alpha": alpha, "tower": config["tower"],
           "final_test_loss": None, "final_test_accuracy": None}
    try:
        run = Run(RunConfig.from_dict(config))
        run.run()
        final = run.final()
        row.update(final_test_loss=final["test_loss"], final_test_accuracy=final["test_accuracy"],
                   status=run.status, message=run.message)
    except Exception as err:  # noqa: BLE001 - reported in the row
        row.update(status=Status.ERROR, message=f"error: {type(err).__name__}: {err}")
    return row


class Sweep:
    """A grid of runs over ``heights`` x ``alphas`` (x ``kappas``), trained in ``processes`` worker processes.

    ``kappa``: the step size of the levels above (default :data:`DEFAULT_KAPPA`); or ``kappas``, several, to vary
    it too (height 0 is then run once per alpha). Other keywords are :class:`RunConfig` fields shared by every run
    (``steps=300``, ``batch_size``, ``seed``, ``device``, ``task_options`` ...; unset ones take RunConfig's
    defaults). Every config is validated here, so bad input raises ValueError at once. ``progress(done, total,
    row)`` is called after each run finishes (from the thread that runs the sweep).
    """

    def __init__(self, task: str = "digits", alphas=DEFAULT_ALPHAS, heights=DEFAULT_HEIGHTS,
                 kappa: float | None = None, *, kappas=None, processes: int | None = None, progress=None,
                 **fields):
        alphas, heights = list(alphas), list(heights)
        if not alphas or not heights:
            raise ValueError(f"a sweep needs at least one alpha and one height (got alphas={alphas}, "
                             f"heights={heights})")
        if kappa is not None and kappas is not None:
            raise ValueError(f"kappa={kappa!r} and kappas={list(kappas)} are both given: give one")
        self.kappas = [DEFAULT_KAPPA if kappa is None else kappa] if kappas is None else list(kappas)
        base = RunConfig(task=task, **fields)
        self.jobs = [(i, p.config.to_dict(), p.height, p.kappa, p.alpha)
                     for i, p in enumerate(grid_points(base, alphas, heights, self.kappas))]
        if processes is not None and (isinstance(processes, bool) or not isinstance(processes, int)
                                      or processes < 1):
            raise ValueError(f"processes={processes!r} is out of range: it must be an integer >= 1 (or unset: one "
                             "per core)")
        self.processes = processes or min(os.cpu_count() or 1, len(self.jobs))
        self.progress_callback = progress
        self._rows: list[dict] = []   # appended by the sweep's thread only; read by any
        self._control = Control(self._drive, self._describe, name="gdtuo-sweep", what="sweep",
                                once="a Sweep runs once")

    @property
    def status(self) -> Status:
        """Idle, running, done, stopped or error."""
        return self._control.status

    @property
    def message(self) -> str:
        """A plain-text line about the status, e.g. ``3 of 36 runs done``."""
        return self._control.message

    @property
    def total(self) -> int:
        """Runs in the grid."""
        return len(self.jobs)

    @property
    def done(self) -> int:
        """Runs finished so far."""
        return len(self._rows)

    @property
    def progress(self) -> float:
        """Fraction of the runs finished, 0..1."""
        return self.done / self.total

    @property
    def rows(self) -> list[dict]:
        """The finished runs' rows, in grid order (by height, then kappa, then alpha as given)."""
        rows = list(self._rows)
        return [{k: r[k] for k in COLUMNS} for r in sorted(rows, key=lambda r: r["index"])]

    def _describe(self, state: str) -> str:
        if state == "running":
            return f"{self.done} of {self.total} runs done"
        return f"{state} after {self.done} of {self.total} runs"

    def start(self) -> "Sweep":
        """Run the sweep in a background thread (once; later calls do nothing)."""
        self._control.start()
        return self

    def run(self) -> list[dict]:
        """Run the sweep in this thread; returns :attr:`rows`."""
        if self._control.run() == Status.ERROR:
            raise RuntimeError(self.message)
        return self.rows

    def stop(self, wait: bool = False) -> str:
        """Stop: unfinished runs are abandoned (their processes terminated); finished rows are kept. With
        ``wait``, return once the sweep's thread has stopped; returns the status."""
        return self._control.stop(wait)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the sweep ends (or ``timeout`` seconds pass); returns its status."""
        return self._control.wait(timeout)

    def _drive(self) -> tuple[str, str | None]:
        """The sweep's thread: hand the jobs to the pool and collect their rows; returns the final status."""
        threads = max(1, (os.cpu_count() or 1) // self.processes)
        with multiprocessing.get_context("spawn").Pool(self.processes, _init_worker, (threads,)) as pool:
            results = pool.imap_unordered(_run_job, self.jobs)
            while self.done < self.total:
                if self._control.stop_requested:
                    pool.terminate()
                    return Status.STOPPED, None
                try:
                    row = results.next(timeout=0.1)
                except multiprocessing.TimeoutError:
                    continue
                self._rows.append(row)  # one append: atomic for readers
                if self.progress_callback is not None:
                    self.progress_callback(self.done, self.total, {k: row[k] for k in COLUMNS})
        return Status.DONE, f"{self.done} of {self.total} runs done"

    def export(self, directory) -> dict:
        """Write ``sweep.csv`` and ``sweep.html`` into ``directory``; returns ``{"csv", "report"}`` -> paths."""
        from .report import sweep_report_html

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"csv": out / "sweep.csv", "report": out / "sweep.html"}
        rows = self.rows
        with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        sweep_report_html(rows, paths["report"])
        return paths


def sweep(task: str = "digits", alphas=DEFAULT_ALPHAS, heights=DEFAULT_HEIGHTS, kappa: float | None = None,
          **options) -> list[dict]:
    """Run the sensitivity grid and return its rows ``{height, kappa, alpha, tower, final_test_loss,
    final_test_accuracy, status, message}``, in grid order (by height, then kappa, then alpha). ``options``: as
    :class:`Sweep` (``kappas``, ``steps``, ``epochs``, ``batch_size``, ``seed``, ``model``, ``device``,
    ``data_root``, ``task_options``, ``processes``, ``progress``)."""
    return Sweep(task, alphas, heights, kappa, **options).run()
