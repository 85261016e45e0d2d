"""``Trainer``: the set-up of a run and its training loop (the training step, fetches from the device, evaluations).

It knows nothing of threads: :meth:`Trainer.train` asks a ``gate()`` before each step whether to go on (the run's
:class:`~gdtuo_explore.engine.control.Control` pauses the training thread inside it).

With a tower nothing is read back from the device per step: train losses stay on the device and are fetched, with
the tower's hyperparameter history, in one batch every ``FLUSH_STEPS`` steps or ``FLUSH_SECONDS`` seconds (and at
evaluations, pauses, stops and the end). Each fetch appends to the host-side :class:`Records` and checks the
divergence rules (:mod:`.divergence`).
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time

import numpy as np
import torch

from ..core.hyperoptimizer import HyperOptimizer
from .baselines import COLUMNS as BASELINE_COLUMNS, Baseline
from .config import RunConfig, resolve_device
from .divergence import Divergence, ExplodingLoss, nonfinite
from .records import Records
from .status import Status
from .threads import apply_threads
from .tasks import METRIC_COLUMNS, make_task

FLUSH_STEPS = 64          # fetch from the device at least every this many steps...
FLUSH_SECONDS = 0.25      # ...and at least this often

#: Held while a run initialises its model: that draws from torch's global RNG (seeded with the run's seed), so runs
#: set up at the same time in other threads must not seed or draw from it in between. (Tasks draw their data split
#: or generation from their own ``torch.Generator``; only ``make_model`` uses the global RNG.)
GLOBAL_RNG_LOCK = threading.Lock()


class _Diverged(Exception):
    """Raised inside :meth:`Trainer.train` when a fetch finds a divergence (``args[0]``: the :class:`Divergence`)."""


class Trainer:
    """The model, its data and its optimizer for ``config`` (validated), and the loop that trains them.

    Set-up: the task built (its data from ``seed`` through its own generators), then the model initialised under
    :data:`GLOBAL_RNG_LOCK` and ``torch.random.fork_rng`` (the caller's global RNG is left alone) from
    ``torch.manual_seed(seed)``. Then the data and the model move to the device once, and the optimizer is made: a
    :class:`HyperOptimizer` running the tower, or the baseline. Batches are slices of a ``torch.randperm`` per
    epoch, drawn on the device from a generator seeded with ``seed``.

    ``distributed``: a :class:`~.distributed.Distributed` (under ``torchrun``) to train with
    ``DistributedDataParallel``, each rank on its share of every global batch; the optimizer and the evaluations use
    the plain model, which holds the same parameters.
    """

    def __init__(self, config: RunConfig, distributed=None):
        c = self.config = config
        self.device = resolve_device(c.device)
        apply_threads(c.threads)                 # the task's statistics and the model's set-up are sums too
        self.task = make_task(c.task, c.model, c.data_root, c.seed, **c.task_options)  # its own generators
        with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.model = self.task.make_model()
        self.model = self.model.to(self.device)
        self.model.train()
        self.distributed, self._ddp_model = distributed, None
        if distributed is not None:
            distributed.check(c.batch_size)
            self._ddp_model = distributed.wrap(self.model)
        self._train_x, self._train_y, self._test_x, self._test_y = (
            t.to(self.device) for t in (self.task.train_x, self.task.train_y, self.task.test_x, self.task.test_y))
        n_train = len(self._train_x)
        self.steps_per_epoch = self.task.steps_per_epoch or c.steps_per_epoch(n_train)
        self.total_steps = c.total_steps(n_train, self.steps_per_epoch)     # None: until stopped
        self.eval_every = c.evaluation_interval(n_train, self.steps_per_epoch)
        self.baseline = Baseline(c.baseline, self.model.parameters()) if c.baseline is not None else None
        if self.baseline is not None:
            self.optimizer = self.baseline.optimizer
            self.hyperparameter_columns = list(BASELINE_COLUMNS)
        else:
            self.optimizer = HyperOptimizer(self.model.named_parameters(), c.tower, hypergrad_clip=c.hypergrad_clip,
                                            alpha_bounds=c.alpha_bounds, record_hypergrads=c.record_hypergrads)
            self.hyperparameter_columns = self.optimizer.towers[0].columns()
        #: the hypergradients' columns (``level1.alpha.hypergrad``, ...; with ``record_hypergrads``)
        self.hypergrad_columns = [] if self.baseline is not None else self.optimizer.towers[0].hypergrad_columns()
        self._generator = torch.Generator(device=self.device).manual_seed(c.seed)
        self._perm = None
        self.step_columns = list(self.task.step_columns)   # recorded with each loss (the surface task's x, y)
        self.metric_column = METRIC_COLUMNS.get(self.task.metric)
        self.records = Records(["step", "epoch", "train_loss"] + self.step_columns + self.hyperparameter_columns
                               + self.hypergrad_columns,
                               ["step", "test_loss"] + ([self.metric_column] if self.metric_column else []))
        self._exploding = ExplodingLoss(c.divergence_factor) if c.divergence_factor is not None else None
        self.divergence: Divergence | None = None
        self._pending: list[torch.Tensor] = []      # device losses not fetched yet
        self._pending_sizes: list[float] = []       # baseline step sizes not recorded yet
        self._pending_values: list[torch.Tensor] = []  # the task's step values (step_columns) not fetched yet
        self.done = 0                                # steps trained
        self._recorded = 0                           # steps fetched into the records
        self._last_flush = time.perf_counter()

    @property
    def epoch(self) -> int:
        """The epoch (from 1) of the latest step; 0 before the first."""
        return math.ceil(self.done / self.steps_per_epoch)

    # -- the training loop ---------------------------------------------------------------------------------------
    def train(self, gate) -> tuple[str, str | None]:
        """Train until the end of the budget, ``gate()`` returns False or a divergence; returns the final
        ``(status, message)``: ``("done", ...)``, ``("stopped", None)`` or ``("diverged", ...)``."""
        total, every = self.total_steps, self.eval_every
        apply_threads(self.config.threads)     # this thread may not be the one that set the run up
        try:
            self.evaluate()  # the starting point
            while total is None or self.done < total:
                if not gate():
                    self.flush()
                    return Status.STOPPED, None
                self.train_step()
                if self.done % every == 0 or self.done == total:
                    self.flush()
                    self.evaluate()
                elif (self.done == 1 or len(self._pending) >= FLUSH_STEPS
                      or time.perf_counter() - self._last_flush >= FLUSH_SECONDS):
                    self.flush()
            return Status.DONE, self._done_message()
        except _Diverged as why:
            self.divergence = why.args[0]
            self.evaluate()  # the model as the divergence left it (a tower keeps its last finite weights)
            return Status.DIVERGED, self.divergence.message

    def train_step(self) -> None:
        """One training step on the next batch: forward, backward and the optimizer's step (for a tower, the
        hypergradient step of :mod:`gdtuo_explore.core.tower`). The loss stays on the device until the next fetch."""
        i = self.done % self.steps_per_epoch
        if i == 0:
            self._perm = torch.randperm(len(self._train_x), generator=self._generator, device=self.device)
        idx = self._perm[i * self.config.batch_size:(i + 1) * self.config.batch_size]
        self.optimizer.zero_grad(set_to_none=True)
        if self.distributed is None:
            loss = self.task.loss_fn(self.model(self._train_x[idx]), self._train_y[idx])
            loss.backward()
        else:  # this rank's share of the global batch; returns the global batch's loss
            loss = self.distributed.backward(self._ddp_model, self.task.loss_fn, self._train_x, self._train_y, idx)
        if self.step_columns:
            self._pending_values.append(self.task.step_values(self.model))
        self.optimizer.step()
        self._pending.append(loss.detach())
        if self.baseline is not None:
            self._pending_sizes.append(self.baseline.step_size())
        self.done += 1

    def flush(self) -> None:
        """Fetch pending losses and hyperparameters in one batch, record them, and check for divergence (raising
        :class:`_Diverged`)."""
        self._last_flush = time.perf_counter()
        n = len(self._pending)
        if n == 0:
            return
        first = self._recorded
        losses = torch.stack(self._pending).double().cpu().numpy()
        self._pending.clear()
        steps = np.arange(first + 1, first + n + 1)
        cols = {"step": steps, "epoch": (steps - 1) // self.steps_per_epoch + 1, "train_loss": losses}
        if self.step_columns:
            values = torch.stack(self._pending_values).double().cpu().numpy().reshape(n, len(self.step_columns))
            self._pending_values.clear()
            cols.update(zip(self.step_columns, values.T))
        history = None
        if self.baseline is None:
            history = self.optimizer.history(since=first)
            cols.update((c, history[c][:n]) for c in self.hyperparameter_columns + self.hypergrad_columns)
        else:
            cols[BASELINE_COLUMNS[0]] = np.array(self._pending_sizes)
            self._pending_sizes.clear()
        bad = nonfinite(first, losses, history, self.optimizer.nonfinite() if history is not None else None)
        keep = n if bad is None else bad.step - first  # up to the step that went bad, not the frozen ones after it
        if self._exploding is not None:
            exploded = self._exploding.check(first, losses[:keep if bad is None else keep - 1])
            bad = exploded if exploded is not None else bad
        if keep < n:
            cols = {c: v[:keep] for c, v in cols.items()}
        self.records.add_steps(cols)
        self._recorded += len(cols["step"])
        if bad is not None:
            self.done = self._recorded
            raise _Diverged(bad)

    def salvage(self) -> None:
        """After a failure, record what the completed steps left pending, if the device can still give it."""
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the first failure is the one reported
            pass

    def evaluate(self) -> None:
        """Evaluate the model on the test set and record it at the current step."""
        if self.baseline is not None:
            self.baseline.eval()
        result = self.task.evaluate(self.model, self._test_x, self._test_y)
        if self.baseline is not None:
            self.baseline.train()
        row = {"step": [self.done], "test_loss": [result["loss"]]}
        if self.metric_column:
            row[self.metric_column] = [result[self.task.metric]]
        self.records.add_evaluation(row)

    def _done_message(self) -> str:
        final = self.records.latest()
        parts = [f"done after {self.done} steps"]
        if final.get("test_accuracy") is not None:
            parts.append(f"test accuracy {final['test_accuracy']:.4f}")
        if final.get("test_loss") is not None:
            parts.append(f"test loss {final['test_loss']:.4g}")
        if final.get("distance_to_minimum") is not None:
            parts.append(f"distance to the nearest minimum {final['distance_to_minimum']:.4g}")
        return ", ".join(parts)

    def release(self) -> None:
        """Drop the model, the optimizer and the data (the records stay), so their memory can be freed."""
        self.model = self.optimizer = self._perm = self._ddp_model = None
        self._train_x = self._train_y = self._test_x = self._test_y = None
        self._pending.clear()
        self._pending_values.clear()
        if self.baseline is not None:
            self.baseline.optimizer = None
        self.task = dataclasses.replace(self.task, train_x=None, train_y=None, test_x=None, test_y=None)
