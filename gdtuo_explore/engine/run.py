"""``Run``: one training run, trained by a background thread that owns the model.

    run = Run(RunConfig(task="digits", tower="adam/sgd(1e-5)", epochs=5))
    run.start()            # train in the training thread (a daemon thread); or run.run() to train in this thread
    run.pause(); run.step(10); run.resume(); run.stop()
    run.pace = 20          # at most 20 steps per second (None: as fast as possible)
    run.nudge("level1.alpha", 0.5)   # set a hyperparameter between two steps; run.nudges() lists them
    run.wait()             # -> "done", "stopped", "diverged" or "error"
    run.export("runs/demo")
    run.close()            # stop, end the threads and free the model and data; the records stay

    race([plain, tower], pace=20)    # start runs together, stepping at one pace

A run is made of four parts, each in its own module:

* :class:`~.trainer.Trainer` (``trainer.py``): the set-up, the training step, the fetches from the device and the
  evaluations; it knows nothing of threads.
* :class:`~.control.Control` (``control.py``): the life cycle (start, pause, resume, step(n), stop, wait, the pace)
  of the training thread, a state machine under one lock.
* :class:`~.records.Records` (``records.py``): the host-side tables of per-step and per-evaluation records.
* :class:`~.dispatch.Dispatcher` (``dispatch.py``): the thread that sends :class:`Update`\\ s to observers.

The training thread is the only one that touches the model and the optimizer; the divergence rules are in
``divergence.py``.
"""
from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

from ..core.columns import parse_column
from .config import RunConfig
from .control import Control
from .dispatch import Dispatcher, Progress, Update
from .records import write_csv
from .status import FINISHED, Status
from .threads import lower_priority
from .trainer import Trainer

__all__ = ["FINISHED", "Run", "Status", "Update", "race", "throughput"]

#: The columns of ``nudges.csv`` and the keys of each of :meth:`Run.nudges`.
NUDGE_COLUMNS = ("step", "column", "old", "new")


class Run:
    """One training run of ``config`` (a :class:`RunConfig`; default: ``RunConfig()``).

    Construction does all the set-up (see :class:`~.trainer.Trainer`), so bad input raises ``ValueError`` here
    (``DatasetNotFound`` for missing data): the device is checked (a config was checked when it was made), the task
    built and the model initialised from the seed (under a process-wide lock, so runs set up at the same time in other
    threads give the same numbers as a run set up alone), the data and the model moved to the device once, and the
    optimizer made: a :class:`HyperOptimizer` running the tower, or the baseline.

    Controls (safe from any thread): :meth:`start`, :meth:`pause`, :meth:`resume`, :meth:`step`, :meth:`stop`,
    :meth:`wait`, :meth:`close`, the :attr:`pace`, or :meth:`run` to train in the calling thread. A run trains once.
    :meth:`nudge` sets a hyperparameter between two steps; :func:`race` starts several runs together at one pace.

    ``observers`` are callables ``observer(update: Update)``, called from a dispatcher thread.

    ``distributed``: a :class:`~gdtuo_explore.engine.distributed.Distributed` (under ``torchrun``, its process group
    started) to train with ``DistributedDataParallel``, each rank on its share of every global batch.
    """

    def __init__(self, config: RunConfig | None = None, observers=(), distributed=None):
        config = RunConfig() if config is None else config
        if not isinstance(config, RunConfig):
            raise ValueError(f"config must be a RunConfig, not {type(config).__name__}: e.g. RunConfig(task='digits')")
        self.config = config
        self._trainer = trainer = Trainer(self.config, distributed)
        self._records = trainer.records
        self._nudges: list[dict] = []   # appended by whichever thread applies a nudge, under the control's lock
        self._dispatcher = Dispatcher(self._records, self._progress, observers, nudges=self.nudges)
        self._control = Control(self._training_thread, self._describe, name="gdtuo-run", what="run",
                                once="a Run trains once", on_launch=lambda: [self._dispatcher.start()],
                                on_pause=trainer.flush, on_change=self._dispatcher.notify)
        self._closed, self._close_lock = False, threading.Lock()
        # what set-up made, also after close()
        self.device = trainer.device
        self.steps_per_epoch = trainer.steps_per_epoch
        self.total_steps: int | None = trainer.total_steps      # None: until stopped
        self.eval_every = trainer.eval_every
        self.hyperparameter_columns = trainer.hyperparameter_columns
        self.baseline = trainer.baseline

    # -- what set-up made (None after close(), except the task, which keeps everything but its data) --------------
    @property
    def model(self):
        return self._trainer.model

    @property
    def optimizer(self):
        return self._trainer.optimizer

    @property
    def task(self):
        return self._trainer.task

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        """Idle, running, paused, done, stopped, diverged or error (a :class:`Status`, which is a ``str``)."""
        return self._control.status

    @property
    def message(self) -> str:
        """A plain-text line about the status, e.g. ``diverged at step 412: non-finite level1.alpha (inf)``."""
        return self._control.message

    @property
    def steps_done(self) -> int:
        """Steps trained so far."""
        return self._trainer.done

    @property
    def epoch(self) -> int:
        """The epoch (from 1) of the latest step; 0 before the first."""
        return self._trainer.epoch

    @property
    def progress(self) -> float:
        """Fraction of the run's steps done, 0..1 (0.0 for a run that trains until stopped)."""
        return self._trainer.done / self.total_steps if self.total_steps is not None else 0.0

    @property
    def elapsed(self) -> float:
        """Seconds spent training (pauses excluded)."""
        return self._control.elapsed

    @property
    def steps_per_second(self) -> float:
        """Mean training speed so far (evaluations included, pauses excluded)."""
        elapsed = self.elapsed
        return self._trainer.done / elapsed if elapsed > 0 else 0.0

    @property
    def pace(self) -> float | None:
        """At most this many training steps per second (None: as fast as possible). Settable at any time, from any
        thread; a change takes effect at once. ValueError unless None or a finite number > 0."""
        return self._control.pace

    @pace.setter
    def pace(self, value: float | None) -> None:
        self._control.pace = value

    # -- nudges and the last update ------------------------------------------------------------------------------
    def nudge(self, column: str, value) -> dict:
        """Set the hyperparameter ``column`` (a column of :meth:`metrics`, such as ``"level1.alpha"`` or
        ``"level2.alpha"``, the step size of level 1's alpha) to ``value``, in natural units, while the run trains,
        is paused or has not started. The training thread applies it between two steps (this waits for that, at
        most one step); a paused run takes it at once. A learned hyperparameter goes on learning from the new value;
        a fixed one (the top level's) keeps it. Returns the record of the nudge, also kept by :meth:`nudges`:
        ``{"step": steps done before it, "column", "old": the value before, "new": value}``.

        ValueError naming it, and the run left as it was, for a column that is not one of the run's hyperparameters,
        a value that is not a finite number in the hyperparameter's range (see
        :meth:`gdtuo_explore.HyperOptimizer.set_hyperparameter`), a baseline run, or a run that has finished.
        """
        if self.baseline is not None:
            raise ValueError(f"cannot nudge {column!r}: a {self.config.baseline} baseline run has no tower "
                             "hyperparameters")
        if not isinstance(column, str) or column not in self.hyperparameter_columns:
            raise ValueError(f"cannot nudge {column!r}: it is not a hyperparameter of this run; its hyperparameters: "
                             f"{', '.join(self.hyperparameter_columns)}")
        level, name = parse_column(column)

        def apply() -> dict:
            optimizer = self._trainer.optimizer
            if optimizer is None:
                raise ValueError(f"cannot nudge {column}: the run was closed")
            try:
                old = optimizer.set_hyperparameter(level, name, value)
            except ValueError as err:
                raise ValueError(f"cannot nudge {column}: {err}") from None
            record = {"step": self._trainer.done, "column": column, "old": float(old), "new": float(value)}
            self._nudges.append(record)
            self._dispatcher.notify()
            return dict(record)

        try:
            return self._control.between_steps(apply)
        except ValueError as err:
            if str(err).startswith("cannot nudge"):
                raise
            raise ValueError(f"cannot nudge {column}: {err}; a nudge needs a run that trains, is paused or has not "
                             "started") from None

    def nudges(self) -> list[dict]:
        """The nudges so far, oldest first: ``{"step", "column", "old", "new"}`` each (see :meth:`nudge`)."""
        return [dict(n) for n in list(self._nudges)]

    def last_update(self) -> dict:
        """What the last step did to the tower, as plain data, for a run made with ``record_hypergrads=True``
        (best read while it is paused): ``{"step": steps done, "levels": [...]}``, one entry per level whose
        hyperparameters learn, bottom level first, each with every learned hyperparameter's value ``before`` the
        step, the ``hypergrad`` the level above moved it with and the value ``after``, and for a level that keeps its
        last direction (SGD, Adam) the two vectors whose dot product makes its step size's hypergradient (their
        norms, first entries and the dot product). See :meth:`gdtuo_explore.HyperOptimizer.step_details`.

        ValueError for a run without ``record_hypergrads``, a baseline run, or a closed run.
        """
        if self.baseline is not None:
            raise ValueError(f"a {self.config.baseline} baseline run has no tower to describe")
        if not self.config.record_hypergrads:
            raise ValueError("this run does not record hypergradients: make it with "
                             "RunConfig(..., record_hypergrads=True)")
        optimizer = self._trainer.optimizer
        if optimizer is None:
            raise ValueError("the run was closed: its optimizer is gone")
        levels = optimizer.step_details()
        return {"step": levels[0]["step"] if levels else self._trainer.done, "levels": levels}

    @property
    def divergence(self):
        """The run's :class:`~.divergence.Divergence` (step, kind, values) once it diverged; else None."""
        return self._trainer.divergence

    @property
    def observer_errors(self) -> list[str]:
        """What observers raised, with tracebacks."""
        return self._dispatcher.errors

    @property
    def error_traceback(self) -> str | None:
        """The traceback of the error that ended the run (status ``error``); else None."""
        return self._control.error_traceback

    def _describe(self, state: str) -> str:
        """The message of a running, paused, stopped or interrupted run."""
        done, total = self._trainer.done, self.total_steps
        if state == Status.RUNNING:
            return f"training: step {done} " + (f"of {total}" if total is not None else "(until stopped)")
        return f"{state} at step {done}" + (f" of {total}" if total is not None else "")

    def _progress(self) -> Progress:
        return Progress(status=self.status, message=self.message, step=self._trainer.done,
                        total_steps=self.total_steps, epoch=self.epoch, progress=self.progress, elapsed=self.elapsed,
                        steps_per_second=self.steps_per_second)

    # -- controls ------------------------------------------------------------------------------------------------
    def start(self) -> "Run":
        """Start training in the training thread (a daemon thread). Does nothing if the run was already started."""
        self._control.start()
        return self

    def run(self) -> str:
        """Train in the calling thread until the end (or a stop from another thread); returns the final status."""
        return self._control.run()

    def pause(self, wait: bool = True) -> str:
        """Pause after the current step (records are fetched first). With ``wait``, return once paused."""
        return self._control.pause(wait)

    def resume(self) -> str:
        """Continue a paused run (start it if it was not started)."""
        return self._control.resume()

    def step(self, n: int = 1, wait: bool = True) -> str:
        """Train exactly ``n`` more steps, then pause (starting the run if needed). With ``wait``, return once
        those steps are done (or the run finished); returns the status."""
        return self._control.step(n, wait)

    def stop(self, wait: bool = True) -> str:
        """Stop after the current step, keeping everything recorded (status ``stopped``). With ``wait``, return
        once the training thread has stopped."""
        return self._control.stop(wait)

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run is done, stopped, diverged or failed, its thread has ended and its observers got the
        final update (or ``timeout`` seconds passed); returns the status. A run never started returns ``"idle"``
        at once."""
        return self._control.wait(timeout)

    def close(self, timeout: float | None = None) -> str:
        """Stop the run if it is running, paused or not started; once the training thread has finished, release the
        model, the optimizer and the data so their memory is freed; then wait (at most ``timeout`` seconds; not
        from an observer) for the threads to end and the observers' final update. The records, the status and
        :meth:`export` stay; every control is then a no-op. Idempotent; safe from any thread, an observer included.
        Returns the status."""
        self._control.stop(wait=False)
        self._control.wait_finished()  # the training thread no longer touches the model
        with self._close_lock:
            if not self._closed:
                self._closed = True
                self._trainer.release()
        if not self._control.in_worker():
            self._control.wait(timeout)
        return self.status

    # -- the training thread -------------------------------------------------------------------------------------
    def _training_thread(self) -> tuple[str, str | None]:
        """The training thread's body: train, and after a failure record what the finished steps left pending."""
        if self._control.own_thread:   # never the caller's thread (run()): it could not raise its priority back
            lower_priority(self.config.nice)
        try:
            return self._trainer.train(self._control.gate)
        except BaseException:
            self._trainer.salvage()
            raise

    # -- records -------------------------------------------------------------------------------------------------
    def metrics(self) -> dict:
        """Per-step records as numpy arrays: ``step``, ``epoch``, ``train_loss`` and every hyperparameter column
        (``level1.alpha``, ...) in natural units. Up to the latest fetch."""
        return self._records.steps()

    def evaluations(self) -> dict:
        """Per-evaluation records as numpy arrays: ``step``, ``test_loss`` (and ``test_accuracy``)."""
        return self._records.evaluations()

    @property
    def history(self) -> dict:
        """``{"steps": metrics(), "evaluations": evaluations()}``."""
        return {"steps": self.metrics(), "evaluations": self.evaluations()}

    def final(self) -> dict:
        """The latest evaluation and train loss: ``{"step", "test_loss", "test_accuracy", "train_loss"}`` (None
        where there is none yet), plus ``status`` and ``message``."""
        return {**self._records.latest(), "status": self.status, "message": self.message}

    def export(self, directory) -> dict:
        """Write ``config.json``, ``metrics.csv``, ``evaluations.csv``, ``nudges.csv`` (a header row and one row per
        nudge: ``step, column, old, new``) and ``report.html`` into ``directory`` (created if needed); returns
        ``{"config", "metrics", "evaluations", "nudges", "report"}`` -> paths."""
        from .report import report_html

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"config": out / "config.json", "metrics": out / "metrics.csv",
                 "evaluations": out / "evaluations.csv", "nudges": out / "nudges.csv", "report": out / "report.html"}
        self.config.to_json(paths["config"])
        write_csv(paths["metrics"], self.metrics())
        write_csv(paths["evaluations"], self.evaluations())
        with open(paths["nudges"], "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, NUDGE_COLUMNS)
            writer.writeheader()
            writer.writerows(self.nudges())
        report_html(self, paths["report"])
        return paths

    # -- observers ---------------------------------------------------------------------------------------------
    def add_observer(self, observer) -> None:
        """Call ``observer(update)`` from now on; its first update holds every record so far."""
        self._dispatcher.add(observer)

    def remove_observer(self, observer) -> None:
        """Stop calling ``observer`` (no error if it was not added)."""
        self._dispatcher.remove(observer)

    def __repr__(self) -> str:
        total = "until stopped" if self.total_steps is None else self.total_steps
        return f"Run({self.config.summary()}, status='{self.status}', step {self.steps_done}/{total})"


def race(runs, pace: float | None = None) -> list[Run]:
    """Start ``runs`` (not started yet) together, each at most ``pace`` steps per second (None: as fast as each
    goes), on one schedule: step ``k`` of every run is due at the same moment, ``k / pace`` seconds after they start,
    and a run that falls behind (an evaluation, a busy core) makes it up (see :mod:`.control`), so that runs watched
    side by side stay side by side. Returns ``runs`` as a list. ValueError for a bad pace or a run that was already
    started, naming it; then none is started."""
    runs = list(runs)
    for i, run in enumerate(runs):
        if not isinstance(run, Run):
            raise ValueError(f"runs[{i}] is a {type(run).__name__}, not a Run")
        if run.status != Status.IDLE:
            raise ValueError(f"runs[{i}] ({run.config.summary()}) was already started (status {run.status}): a race "
                             "starts runs together")
    for run in runs:
        run.pace = pace   # checked by the first run, before any is started
    origin = time.monotonic()
    for run in runs:
        run._control.set_origin(origin)
    for run in runs:
        run.start()
    return runs


def throughput(config: RunConfig, observers=()) -> float:
    """Train ``config`` to the end in this thread with ``observers`` attached; returns its steps per second (the
    benchmark's measure of what observing a run costs)."""
    run = Run(config, observers)
    run.run()
    return run.steps_per_second
