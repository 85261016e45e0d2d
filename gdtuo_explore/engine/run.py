"""``Run``: one training run, driven by a background thread that owns the model.

    run = Run(RunConfig(task="digits", tower="adam/sgd(1e-5)", epochs=5))
    run.start()            # train in a daemon thread; or run.run() to train in this thread
    run.pause(); run.step(10); run.resume(); run.stop()
    run.wait()             # -> "done", "stopped", "diverged" or "error"
    run.export("runs/demo")

The thread is the only one that touches the model and the optimizer. With a tower it never reads a value back
from the device per step: train losses stay on the device and are fetched, with the tower's hyperparameter history,
in one batch every ``FLUSH_STEPS`` steps or ``FLUSH_SECONDS`` seconds (and at evaluations, pause, stop and the end).
Each fetch checks for divergence. Host-side records grow only at fetches, under a lock. Observers get them from a
second thread, at most every ``UPDATE_INTERVAL`` seconds plus a final update, so an observer that blocks or sleeps
never holds training up (observer code does share Python's GIL with the training loop, hence the rate bound).
"""
from __future__ import annotations

import bisect
import csv
import dataclasses
import logging
import math
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .baselines import COLUMNS as BASELINE_COLUMNS, Baseline
from .config import RunConfig, resolve_device
from ..core.hyperoptimizer import HyperOptimizer
from .tasks import make_task

log = logging.getLogger(__name__)

FINISHED = frozenset(("done", "stopped", "diverged", "error"))
FLUSH_STEPS = 64          # fetch from the device at least every this many steps...
FLUSH_SECONDS = 0.25      # ...and at least this often
UPDATE_INTERVAL = 0.25    # observers get at most one update per this many seconds (plus the final one)


@dataclass
class Update:
    """What an observer receives: the records that are new since its previous update, and the run's state.

    ``rows`` holds per-step columns (``step``, ``epoch``, ``train_loss``, ``level1.alpha``, ...) and ``evaluations``
    per-evaluation columns (``step``, ``test_loss``, ``test_accuracy``), as numpy arrays (possibly empty).
    ``final`` is True for the last update of the run (its status is then done, stopped, diverged or error).
    """

    rows: dict
    evaluations: dict
    status: str
    message: str
    step: int
    total_steps: int
    epoch: int
    progress: float
    elapsed: float
    steps_per_second: float
    final: bool


@dataclass
class _Subscription:
    """An observer and how far its updates have gone: rows and evaluations sent, the (status, message) sent."""

    observer: object
    rows: int = 0
    evaluations: int = 0
    state: tuple = ()


class _Diverged(Exception):
    """Raised inside the training thread when a fetch finds a non-finite loss or a refused step."""


class _Table:
    """Named columns appended in chunks; reads return numpy arrays. Not thread-safe by itself.

    Reading from row ``start`` joins only the chunks from there on; a full read merges all chunks into one.
    """

    def __init__(self, columns):
        self.columns = list(columns)
        self._chunks: list[dict] = []
        self._starts: list[int] = []  # the row number of each chunk's first row
        self._length = 0

    def append(self, cols: dict) -> None:
        n = len(cols[self.columns[0]])
        if n:
            self._chunks.append({c: np.asarray(cols[c]) for c in self.columns})
            self._starts.append(self._length)
            self._length += n

    def __len__(self) -> int:
        return self._length

    def read(self, start: int = 0) -> dict:
        if not self._chunks:
            return {c: np.zeros(0) for c in self.columns}
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        if i == 0 and len(self._chunks) > 1:
            self._chunks = [{c: np.concatenate([ch[c] for ch in self._chunks]) for c in self.columns}]
            self._starts = [0]
        chunks, offset = self._chunks[i:], start - self._starts[i]
        return {c: np.concatenate([ch[c][offset:] if k == 0 else ch[c] for k, ch in enumerate(chunks)])
                for c in self.columns}


class Run:
    """One training run of ``config`` (a :class:`RunConfig`; default: ``RunConfig()``).

    Construction does all the set-up, so bad input raises ``ValueError`` here (``DatasetNotFound`` for missing
    data): the config is validated (a copy is kept as ``run.config``), the task built, the model initialised from
    ``torch.manual_seed(seed)`` (inside ``torch.random.fork_rng``, so the caller's global RNG is left alone), the
    data and the model moved to the device once, and the optimizer made: a :class:`HyperOptimizer` running the
    tower, or the baseline. Batches are slices of a ``torch.randperm`` per epoch, drawn on the device from a
    generator seeded with ``seed``.

    Controls (safe from any thread): :meth:`start`, :meth:`pause`, :meth:`resume`, :meth:`step`, :meth:`stop`,
    :meth:`wait`, or :meth:`run` to train in the calling thread. A run trains once.

    ``observers`` are callables ``observer(update: Update)``, called from a dispatcher thread.

    ``distributed``: a :class:`~gdtuo_explore.engine.distributed.Distributed` (under ``torchrun``, its process group
    started) to train with ``DistributedDataParallel``, each rank on its share of every global batch.
    """

    def __init__(self, config: RunConfig | None = None, observers=(), distributed=None):
        config = RunConfig() if config is None else config
        self.config = dataclasses.replace(config, task_options=dict(config.task_options)).validate()
        c = self.config
        self.device = resolve_device(c.device)
        self.task = make_task(c.task, c.model, c.data_root, c.seed, **c.task_options)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.model = self.task.make_model().to(self.device)
        self.model.train()
        # Issue 14: DDP under torchrun (engine/distributed.py); the optimizer and evaluations use the plain model
        self.distributed = distributed
        if distributed is not None:
            distributed.check(c.batch_size)
            self._ddp_model = distributed.wrap(self.model)
        self._train_x, self._train_y, self._test_x, self._test_y = (
            t.to(self.device) for t in (self.task.train_x, self.task.train_y, self.task.test_x, self.task.test_y))
        n_train = len(self._train_x)
        self.steps_per_epoch = c.steps_per_epoch(n_train)
        self.total_steps = c.total_steps(n_train)
        self.eval_every = c.evaluation_interval(n_train)
        self.baseline = Baseline(c.baseline, self.model.parameters()) if c.baseline is not None else None
        if self.baseline is not None:
            self.optimizer = self.baseline.optimizer
            self.hyperparameter_columns = list(BASELINE_COLUMNS)
        else:
            self.optimizer = HyperOptimizer(self.model.named_parameters(), c.tower, hypergrad_clip=c.hypergrad_clip,
                                            alpha_bounds=c.alpha_bounds)
            self.hyperparameter_columns = self.optimizer.towers[0].columns()
        self._generator = torch.Generator(device=self.device).manual_seed(c.seed)
        self._perm = None

        # records (host side), guarded by _lock
        self._lock = threading.Lock()
        self._rows = _Table(["step", "epoch", "train_loss"] + self.hyperparameter_columns)
        eval_columns = ["step", "test_loss"] + (["test_accuracy"] if self.task.metric == "accuracy" else [])
        self._evals = _Table(eval_columns)
        self._pending: list[torch.Tensor] = []      # device losses not fetched yet
        self._pending_sizes: list[float] = []       # baseline step sizes not recorded yet
        self._done = 0                               # steps done by the training thread
        self._recorded = 0                           # steps fetched into _rows
        self._last_flush = time.perf_counter()

        # control state, guarded by _cond
        self._cond = threading.Condition()
        self._status, self._message = "idle", "not started"
        self._go = False
        self._stop_requested = False
        self._budget: int | None = None
        self._thread: threading.Thread | None = None
        self._elapsed = 0.0
        self._running_since: float | None = None

        # observers
        self._subscriptions = [_Subscription(o) for o in observers]
        self._dispatcher: threading.Thread | None = None
        self._wake = threading.Event()
        self._finished = threading.Event()
        self.observer_errors: list[str] = []
        self.error_traceback: str | None = None

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """One of idle, running, paused, done, stopped, diverged, error."""
        return self._status

    @property
    def message(self) -> str:
        """A plain-text line about the status, e.g. ``diverged at step 412: non-finite level1.alpha (inf)``."""
        if self._status == "running":
            return f"training: step {self._done} of {self.total_steps}"
        return self._message

    @property
    def steps_done(self) -> int:
        """Steps trained so far."""
        return self._done

    @property
    def epoch(self) -> int:
        """The epoch (from 1) of the latest step; 0 before the first."""
        return math.ceil(self._done / self.steps_per_epoch)

    @property
    def progress(self) -> float:
        """Fraction of the run's steps done, 0..1."""
        return self._done / self.total_steps

    @property
    def elapsed(self) -> float:
        """Seconds spent training (pauses excluded)."""
        since = self._running_since
        return self._elapsed + (time.perf_counter() - since if since is not None else 0.0)

    @property
    def steps_per_second(self) -> float:
        """Mean training speed so far (evaluations included, pauses excluded)."""
        elapsed = self.elapsed
        return self._done / elapsed if elapsed > 0 else 0.0

    def _set_status(self, status: str, message: str) -> None:
        """Change the status (caller holds ``_cond``), waking waiters and the dispatcher."""
        now = time.perf_counter()
        if status == "running" and self._running_since is None:
            self._running_since = now
        elif status != "running" and self._running_since is not None:
            self._elapsed += now - self._running_since
            self._running_since = None
        self._status, self._message = status, message
        if status in FINISHED:
            self._finished.set()
        self._wake.set()
        self._cond.notify_all()

    def _in_worker(self) -> bool:
        return threading.current_thread() in (self._thread, self._dispatcher)

    # -- controls ------------------------------------------------------------------------------------------------
    def start(self) -> "Run":
        """Start training in a background (daemon) thread. Does nothing if the run was already started."""
        with self._cond:
            if self._thread is not None or self._status != "idle":
                return self
            self._go = True
            self._launch(threading.Thread(target=self._loop, name="gdtuo-run", daemon=True))
            self._thread.start()
        return self

    def run(self) -> str:
        """Train in the calling thread until the end (or a stop from another thread); returns the final status."""
        with self._cond:
            if self._thread is not None or self._status != "idle":
                raise RuntimeError(f"this run was already started (status {self._status}): a Run trains once")
            self._go = True
            self._launch(threading.current_thread())
        self._loop()
        return self.wait()

    def _launch(self, thread: threading.Thread) -> None:
        self._thread = thread
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="gdtuo-run-observers", daemon=True)
        self._dispatcher.start()

    def pause(self, wait: bool = True) -> str:
        """Pause after the current step (records are fetched first). With ``wait``, return once paused."""
        with self._cond:
            if self._status in FINISHED or self._thread is None:
                return self._status
            self._go, self._budget = False, None
            self._cond.notify_all()
            if wait and not self._in_worker():
                self._cond.wait_for(lambda: self._status == "paused" or self._status in FINISHED or self._go)
            return self._status

    def resume(self) -> str:
        """Continue a paused run (start it if it was not started)."""
        with self._cond:
            if self._status in FINISHED:
                return self._status
            self._go, self._budget = True, None
            self._cond.notify_all()
        self.start()
        return self._status

    def step(self, n: int = 1, wait: bool = True) -> str:
        """Train exactly ``n`` more steps, then pause (starting the run if needed). With ``wait``, return once
        those steps are done (or the run finished); returns the status."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r} is out of range: step(n) needs an integer n >= 1")
        with self._cond:
            if self._status in FINISHED:
                return self._status
            self._budget, self._go = n, True
            self._cond.notify_all()
            if self._thread is None:
                self._launch(threading.Thread(target=self._loop, name="gdtuo-run", daemon=True))
                self._thread.start()
            if wait and not self._in_worker():
                self._cond.wait_for(lambda: self._status in FINISHED
                                    or (self._budget is None and self._status == "paused"))
            return self._status

    def stop(self, wait: bool = True) -> str:
        """Stop after the current step, keeping everything recorded (status ``stopped``). With ``wait``, return
        once the training thread has stopped."""
        with self._cond:
            if self._status in FINISHED:
                return self._status
            self._stop_requested = True
            if self._thread is None:
                self._set_status("stopped", "stopped before it started")
                return self._status
            self._cond.notify_all()
            if wait and not self._in_worker():
                self._cond.wait_for(lambda: self._status in FINISHED)
            return self._status

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run is done, stopped, diverged or failed, its thread has ended and its observers got the
        final update (or ``timeout`` seconds passed); returns the status. A run never started returns ``"idle"``
        at once."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._thread is None:
                return self._status
            self._cond.wait_for(lambda: self._status in FINISHED, timeout)
        if self._status in FINISHED:
            for thread in (self._thread, self._dispatcher):
                if thread is not None and thread is not threading.current_thread():
                    thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self._status

    # -- the training thread -------------------------------------------------------------------------------------
    def _loop(self) -> None:
        """The training thread's body: train, then set the final status. It never ends without one."""
        with self._cond:
            self._set_status("running", f"training: step {self._done} of {self.total_steps}")
        try:
            status, message = self._train()
        except KeyboardInterrupt:  # Ctrl-C during run() in the main thread: stop, keep the records, pass it on
            self._salvage()
            with self._cond:
                self._set_status("stopped", f"interrupted at step {self._done} of {self.total_steps}")
            raise
        except BaseException as err:  # the thread must never die silently
            self.error_traceback = traceback.format_exc()
            log.error("run failed:\n%s", self.error_traceback)
            self._salvage()
            status, message = "error", f"error: {type(err).__name__}: {err}"
        with self._cond:
            self._set_status(status, message)

    def _train(self) -> tuple[str, str]:
        """Train until the end, a stop or a divergence; returns the final (status, message)."""
        try:
            self._evaluate()  # the starting point
            while self._done < self.total_steps:
                if not self._gate():
                    self._flush()
                    return "stopped", f"stopped at step {self._done} of {self.total_steps}"
                self._train_step()
                if self._done % self.eval_every == 0 or self._done == self.total_steps:
                    self._flush()
                    self._evaluate()
                elif (len(self._pending) >= FLUSH_STEPS
                      or time.perf_counter() - self._last_flush >= FLUSH_SECONDS):
                    self._flush()
            return "done", self._done_message()
        except _Diverged as why:
            self._evaluate()  # the model as the divergence left it (a tower keeps its last finite weights)
            return "diverged", str(why)

    def _salvage(self) -> None:
        """After a failure, record what the completed steps left pending, if the device can still give it."""
        try:
            self._flush()
        except Exception:  # noqa: BLE001 - the first failure is the one reported
            pass

    def _gate(self) -> bool:
        """Before each step: honour stop, pause and the step budget. False means stop."""
        with self._cond:
            if self._budget == 0:
                self._go, self._budget = False, None
            if self._go and not self._stop_requested:
                if self._budget is not None:
                    self._budget -= 1
                return True
        self._flush()
        with self._cond:
            if not self._go and not self._stop_requested:
                self._set_status("paused", f"paused at step {self._done} of {self.total_steps}")
                self._cond.wait_for(lambda: self._go or self._stop_requested)
            if self._stop_requested:
                return False
            self._set_status("running", f"training: step {self._done} of {self.total_steps}")
            if self._budget is not None:
                self._budget -= 1
            return True

    def _train_step(self) -> None:
        i = self._done % self.steps_per_epoch
        if i == 0:
            self._perm = torch.randperm(len(self._train_x), generator=self._generator, device=self.device)
        idx = self._perm[i * self.config.batch_size:(i + 1) * self.config.batch_size]
        self.optimizer.zero_grad(set_to_none=True)
        if self.distributed is None:
            loss = self.task.loss_fn(self.model(self._train_x[idx]), self._train_y[idx])
            loss.backward()
        else:  # Issue 14: this rank's share of the global batch; returns the global batch's loss
            loss = self.distributed.backward(self._ddp_model, self.task.loss_fn, self._train_x, self._train_y, idx)
        self.optimizer.step()
        self._pending.append(loss.detach())
        if self.baseline is not None:
            self._pending_sizes.append(self.baseline.step_size())
        self._done += 1

    def _flush(self) -> None:
        """Fetch pending losses and hyperparameters in one batch, record them, and check for divergence."""
        self._last_flush = time.perf_counter()
        n = len(self._pending)
        if n == 0:
            return
        first = self._recorded
        losses = torch.stack(self._pending).double().cpu().numpy()
        self._pending.clear()
        steps = np.arange(first + 1, first + n + 1)
        cols = {"step": steps, "epoch": (steps - 1) // self.steps_per_epoch + 1, "train_loss": losses}
        history = None
        if self.baseline is None:
            history = self.optimizer.history(since=first)
            cols.update((c, history[c][:n]) for c in self.hyperparameter_columns)
        else:
            cols[BASELINE_COLUMNS[0]] = np.array(self._pending_sizes)
            self._pending_sizes.clear()
        bad = self._divergence(first, losses, history)
        if bad is not None:  # keep the records up to the step that went bad, not the frozen ones after it
            cols = {c: v[:bad[0] - first] for c, v in cols.items()}
        with self._lock:
            self._rows.append(cols)
            self._recorded += len(cols["step"])
        if bad is not None:
            self._done = self._recorded
            raise _Diverged(f"diverged at step {bad[0]}: non-finite {bad[1]}")

    def _divergence(self, first: int, losses: np.ndarray, history: dict | None) -> tuple[int, str] | None:
        """``(step, what)`` of the first non-finite train loss, or step the tower refused, among the fetched steps
        ``first + 1 ...``; None if all were finite."""
        found = []
        bad_loss = np.flatnonzero(~np.isfinite(losses))
        if len(bad_loss):
            i = int(bad_loss[0])
            found.append((first + i + 1, f"train loss ({losses[i]:g})"))
        report = self.optimizer.nonfinite() if history is not None else None
        if report is not None:
            step = report["step"]
            for what in report["what"]:
                if what in history:
                    found.append((step, f"{what} ({history[what][step - 1 - first]:g})"))
                elif not what.endswith("gradient"):
                    found.append((step, what.removeprefix("the ")))
                elif all(s != step for s, _ in found):  # a bad gradient with a finite loss
                    found.append((step, "gradient"))
        if not found:
            return None
        step = min(s for s, _ in found)
        return step, ", ".join(w for s, w in found if s == step)

    def _evaluate(self) -> None:
        if self.baseline is not None:
            self.baseline.eval()
        result = self.task.evaluate(self.model, self._test_x, self._test_y)
        if self.baseline is not None:
            self.baseline.train()
        row = {"step": [self._done], "test_loss": [result["loss"]]}
        if "test_accuracy" in self._evals.columns:
            row["test_accuracy"] = [result["accuracy"]]
        with self._lock:
            self._evals.append(row)

    def _done_message(self) -> str:
        final = self.final()
        parts = [f"done after {self._done} steps"]
        if final.get("test_accuracy") is not None:
            parts.append(f"test accuracy {final['test_accuracy']:.4f}")
        if final.get("test_loss") is not None:
            parts.append(f"test loss {final['test_loss']:.4g}")
        return ", ".join(parts)

    # -- records -------------------------------------------------------------------------------------------------
    def metrics(self) -> dict:
        """Per-step records as numpy arrays: ``step``, ``epoch``, ``train_loss`` and every hyperparameter column
        (``level1.alpha``, ...) in natural units. Up to the latest fetch."""
        with self._lock:
            return self._rows.read()

    def evaluations(self) -> dict:
        """Per-evaluation records as numpy arrays: ``step``, ``test_loss`` (and ``test_accuracy``)."""
        with self._lock:
            return self._evals.read()

    @property
    def history(self) -> dict:
        """``{"steps": metrics(), "evaluations": evaluations()}``."""
        return {"steps": self.metrics(), "evaluations": self.evaluations()}

    def final(self) -> dict:
        """The latest evaluation and train loss: ``{"step", "test_loss", "test_accuracy", "train_loss"}`` (None
        where there is none yet), plus ``status`` and ``message``."""
        with self._lock:
            evals, rows = self._evals.read(), self._rows.read(max(0, len(self._rows) - 1))
        out = {"step": None, "test_loss": None, "test_accuracy": None,
               "train_loss": float(rows["train_loss"][-1]) if len(rows["train_loss"]) else None}
        if len(evals["step"]):
            out["step"] = int(evals["step"][-1])
            out["test_loss"] = float(evals["test_loss"][-1])
            if "test_accuracy" in evals:
                out["test_accuracy"] = float(evals["test_accuracy"][-1])
        out.update(status=self._status, message=self._message)
        return out

    def export(self, directory) -> dict:
        """Write ``config.json``, ``metrics.csv``, ``evaluations.csv`` and ``report.html`` into ``directory``
        (created if needed); returns ``{"config", "metrics", "evaluations", "report"}`` -> paths."""
        from .report import report_html

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"config": out / "config.json", "metrics": out / "metrics.csv",
                 "evaluations": out / "evaluations.csv", "report": out / "report.html"}
        self.config.to_json(paths["config"])
        _write_csv(paths["metrics"], self.metrics())
        _write_csv(paths["evaluations"], self.evaluations())
        report_html(self, paths["report"])
        return paths

    # -- observers ---------------------------------------------------------------------------------------------
    def add_observer(self, observer) -> None:
        """Call ``observer(update)`` from now on; its first update holds every record so far."""
        with self._lock:
            self._subscriptions.append(_Subscription(observer))
        self._wake.set()

    def remove_observer(self, observer) -> None:
        """Stop calling ``observer`` (no error if it was not added)."""
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s.observer != observer]

    def _dispatch_loop(self) -> None:
        last = -math.inf
        while True:
            self._wake.wait(UPDATE_INTERVAL)
            self._wake.clear()
            rest = UPDATE_INTERVAL - (time.monotonic() - last)
            if rest > 0:
                self._finished.wait(rest)
            final = self._status in FINISHED  # read before the records: a finished run has recorded everything
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
                    self.observer_errors.append(error)
                    log.warning(error)
            if final:
                return

    def _update_for(self, sub: "_Subscription", final: bool) -> Update | None:
        """The update for a subscription since its previous one (None if nothing changed), advancing it."""
        state = (self._status, self._message)
        with self._lock:
            if (len(self._rows), len(self._evals), state) == (sub.rows, sub.evaluations, sub.state) and not final:
                return None
            rows, evals = self._rows.read(sub.rows), self._evals.read(sub.evaluations)
        sub.rows += len(rows["step"])
        sub.evaluations += len(evals["step"])
        sub.state = state
        status, message = state
        return Update(rows, evals, status, message, self._done, self.total_steps, self.epoch, self.progress,
                      self.elapsed, self.steps_per_second, final)

    def __repr__(self) -> str:
        return (f"Run({self.config.summary()}, status={self._status!r}, step {self._done}/{self.total_steps})")


def _write_csv(path, columns: dict) -> None:
    names = list(columns)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(zip(*(columns[c].tolist() for c in names)))


def throughput(config: RunConfig, observers=()) -> float:
    """Train ``config`` to the end in this thread with ``observers`` attached; returns its steps per second (the
    benchmark's measure of what observing a run costs)."""
    run = Run(config, observers)
    run.run()
    return run.steps_per_second
