"""What one redraw of the explorer's live charts costs in Python, after a short run and after a long one, side by
side: the charts keep their own thinned lines from the rows each update pushes, so that cost must not grow with the
run's length. Target: after 200,000 steps at most 1.2x the cost after 2,000.

Two runs (Adam / SGD(1e-5) on digits, each on charts of its own) train one step and pause; their records then grow
to 2,000 and 200,000 rows (rows in the trainer's format, written into the run's records as its fetches would) while
their charts follow every update. Then, round after round and taking turns, each gets 256 more rows (and an
evaluation every fourth round) and one update; the CPU time the charts' update handler takes in the dispatcher
thread is that round's cost (the pauses between one redraw's figures are not CPU time). The ratio is the median
cost of the long run over that of the short one.

    python -m gdtuo_explore.bench.redraw [--rounds N] [--short 2000] [--long 200000]
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np

from ..engine.config import RunConfig
from ..explorer.charts import Charts
from ..explorer.state import ExplorerState

ROWS = 256          # new rows per measured redraw (about what one update carries at 1,000 steps/s)
GROW = 10_000       # rows per update while a run's records grow to their length


class _Charted:
    """A paused run on charts of its own; :meth:`grow` adds rows and returns the CPU seconds the charts spent on the
    update that brought them."""

    def __init__(self, seed: int):
        self.state = ExplorerState()
        self.state.load_config(RunConfig(task="digits", tower="adam/sgd(1e-5)", until_stopped=True, seed=seed))
        self.state.pace = None
        self._began, self.cost, self._want = 0.0, 0.0, (1, 1)
        self.handled = threading.Event()
        self.state.on_update(self._begin)
        self.charts = Charts(self.state)
        self.state.on_update(self._end)
        self.state.step(1)
        deadline = time.monotonic() + 300
        while self.state.status != "paused":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the run did not pause after one step: {self.state.message}")
            time.sleep(0.05)
        self.run = self.state.current.run
        self.rows, self.evaluations = len(self.run.metrics()["step"]), len(self.run.evaluations()["step"])
        self.rng = np.random.default_rng(seed)

    def _begin(self, shown, update) -> None:
        self._began = time.thread_time()

    def _end(self, shown, update) -> None:
        self.cost += time.thread_time() - self._began
        rows, evaluations = self._want
        if (update.first_row + len(update.rows["step"]) >= rows
                and update.first_evaluation + len(update.evaluations["step"]) >= evaluations):
            self.handled.set()

    def grow(self, n: int, evaluation: bool) -> float:
        """Add ``n`` step rows (and one evaluation) as the training thread's fetches would, let the run's dispatcher
        send them, and return the charts' CPU time for the update (or updates) that brought them."""
        steps = np.arange(self.rows + 1, self.rows + n + 1)
        decay = 2.3 * np.exp(-steps / 50_000.0)
        cols = {"step": steps, "epoch": (steps - 1) // self.run.steps_per_epoch + 1,
                "train_loss": decay * (1 + 0.2 * self.rng.standard_normal(n))}
        for column in self.run.hyperparameter_columns:
            start = 1e-5 if column.startswith("level2") else 1e-3 if column.endswith("alpha") else 0.9
            cols[column] = start * np.exp(0.01 * self.rng.standard_normal(n).cumsum() / np.sqrt(n))
        records = self.run._records   # what the training thread's fetches append to
        for column in records._steps.columns:   # the rest the trainer writes (recorded hypergradients): noise
            cols.setdefault(column, 1e-3 * self.rng.standard_normal(n))
        self.rows += n
        self.evaluations += evaluation
        self.cost, self._want = 0.0, (self.rows, self.evaluations)
        self.handled.clear()
        records.add_steps(cols)
        if evaluation:
            row = {"step": [int(steps[-1])], "test_loss": [float(decay[-1])]}
            if self.run.task.metric == "accuracy":
                row["test_accuracy"] = [float(1 - decay[-1] / 2.3)]
            records.add_evaluation(row)
        self.run._dispatcher.notify()   # as the training thread does after a fetch
        if not self.handled.wait(300):
            raise RuntimeError("the charts got no update in 300 s")
        return self.cost

    def grow_to(self, rows: int) -> None:
        while self.rows < rows:
            self.grow(min(GROW, rows - self.rows), evaluation=True)

    def close(self) -> None:
        self.state.close()


def redraw_costs(short: int = 2_000, long: int = 200_000, rounds: int = 25) -> tuple[list, list]:
    """CPU seconds of the charts' update handler per redraw for a run of ``short`` and of ``long`` steps, ``rounds``
    redraws each, taking turns."""
    a, b = _Charted(seed=0), _Charted(seed=1)
    try:
        a.grow_to(short)
        b.grow_to(long)
        costs = ([], [])
        for k in range(rounds):
            for charted, out in ((a, costs[0]), (b, costs[1])) if k % 2 == 0 else ((b, costs[1]), (a, costs[0])):
                out.append(charted.grow(ROWS, evaluation=k % 4 == 0))
        return costs
    finally:
        a.close()
        b.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gdtuo_explore.bench.redraw", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--short", type=int, default=2_000)
    parser.add_argument("--long", type=int, default=200_000)
    args = parser.parse_args(argv)
    short, long = redraw_costs(args.short, args.long, args.rounds)
    ratio = statistics.median(long) / statistics.median(short)
    print(f"one redraw's Python cost: {statistics.median(short) * 1e3:.1f} ms after {args.short:,} steps, "
          f"{statistics.median(long) * 1e3:.1f} ms after {args.long:,} steps: {ratio:.2f}x (target <= 1.2)")
    return 0 if ratio <= 1.2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
