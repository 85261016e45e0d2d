"""A run's host-side records: per-step rows and per-evaluation rows, in tables that grow in chunks under one lock.

The training thread appends (at each fetch from the device and at each evaluation); any thread reads.
"""
from __future__ import annotations

import bisect
import csv
import threading

import numpy as np


class Table:
    """Named columns appended in chunks; reads return numpy arrays. Not thread-safe by itself.

    Reading from row ``start`` copies only the rows from there on (the chunks that hold them); a full read also
    merges all chunks into one, so that the next full read joins few chunks.
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
        """The rows from row ``start`` on, as ``{column: array}`` (empty arrays when there are none)."""
        if not self._chunks:
            return {c: np.zeros(0) for c in self.columns}
        if start >= self._length:
            return {c: self._chunks[-1][c][:0] for c in self.columns}
        if start <= 0 and len(self._chunks) > 1:
            self._chunks = [{c: np.concatenate([ch[c] for ch in self._chunks]) for c in self.columns}]
            self._starts = [0]
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        chunks, offset = self._chunks[i:], max(0, start - self._starts[i])
        return {c: np.concatenate([ch[c][offset:] if k == 0 else ch[c] for k, ch in enumerate(chunks)])
                for c in self.columns}


class Records:
    """The two tables of a run, ``steps`` (``step``, ``epoch``, ``train_loss``, the task's step columns,
    hyperparameter columns...) and ``evaluations`` (``step``, ``test_loss`` and the task's metric: ``test_accuracy``
    for tasks measured by accuracy, ``distance_to_minimum`` for the surface task)."""

    def __init__(self, step_columns, evaluation_columns):
        self._lock = threading.Lock()
        self._steps = Table(step_columns)
        self._evaluations = Table(evaluation_columns)

    def add_steps(self, cols: dict) -> None:
        with self._lock:
            self._steps.append(cols)

    def add_evaluation(self, row: dict) -> None:
        with self._lock:
            self._evaluations.append(row)

    def steps(self) -> dict:
        with self._lock:
            return self._steps.read()

    def evaluations(self) -> dict:
        with self._lock:
            return self._evaluations.read()

    def sizes(self) -> tuple[int, int]:
        """How many step rows and evaluation rows there are."""
        with self._lock:
            return len(self._steps), len(self._evaluations)

    def since(self, steps: int, evaluations: int) -> tuple[dict, dict]:
        """The step rows from row ``steps`` on and the evaluation rows from row ``evaluations`` on."""
        with self._lock:
            return self._steps.read(steps), self._evaluations.read(evaluations)

    def latest(self) -> dict:
        """``{"step", "test_loss", "test_accuracy", "train_loss"}`` of the latest evaluation and step row (None where
        there is none yet; ``test_accuracy`` None for a task without that metric), and the latest value of any other
        evaluation column (``distance_to_minimum``)."""
        with self._lock:
            evals = self._evaluations.read(len(self._evaluations) - 1)
            rows = self._steps.read(len(self._steps) - 1)
        out = {"step": None, "test_loss": None, "test_accuracy": None,
               "train_loss": float(rows["train_loss"][-1]) if len(rows["train_loss"]) else None}
        out.update((c, None) for c in evals if c not in out)
        if len(evals["step"]):
            out["step"] = int(evals["step"][-1])
            for c in evals:
                if c != "step":
                    out[c] = float(evals[c][-1])
        return out


def write_csv(path, columns: dict) -> None:
    """Write ``columns`` (name -> array, all of one length) as a CSV file with a header row."""
    names = list(columns)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(zip(*(columns[c].tolist() for c in names)))
