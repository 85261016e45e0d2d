"""Per-step rows of a few numbers (a tower's learned hyperparameters), recorded on the device without a host sync,
and the names of their columns.

Rows are written into preallocated device chunks; a new chunk is allocated when one fills (an allocation, not a
sync). ``fetch()`` copies what is new to the host in one transfer per chunk.

A hyperparameter's column is ``level{k}.{name}`` (level 1 is the bottom level, the one that moves the weights):
:func:`column` makes the name and :func:`parse_column` reads it back, for every layer that shows or stores them.
A learned hyperparameter's hypergradient, where a tower records it, is in the column ``level{k}.{name}.hypergrad``
(:func:`hypergrad_column`, read back by :func:`parse_hypergrad_column`); :func:`parse_column` does not take it for
a hyperparameter.
"""
from __future__ import annotations

import re

import numpy as np
import torch

_COLUMN = re.compile(r"^level(\d+)\.(.+)$")
HYPERGRAD_SUFFIX = ".hypergrad"


def column(level: int, name: str) -> str:
    """The history column of hyperparameter ``name`` of level ``level`` (from 1, the bottom):
    ``column(2, "alpha") == "level2.alpha"``."""
    return f"level{level}.{name}"


def parse_column(name: str) -> tuple[int, str] | None:
    """``(level, hyperparameter)`` of a history column (``"level2.alpha"`` -> ``(2, "alpha")``), else None (also
    for a hypergradient's column, ``"level1.alpha.hypergrad"``)."""
    m = _COLUMN.match(name)
    return (int(m.group(1)), m.group(2)) if m and not name.endswith(HYPERGRAD_SUFFIX) else None


def hypergrad_column(level: int, name: str) -> str:
    """The history column of the hypergradient of hyperparameter ``name`` of level ``level``:
    ``hypergrad_column(1, "alpha") == "level1.alpha.hypergrad"``."""
    return column(level, name) + HYPERGRAD_SUFFIX


def parse_hypergrad_column(name: str) -> tuple[int, str] | None:
    """``(level, hyperparameter)`` of a hypergradient's column (``"level1.alpha.hypergrad"`` -> ``(1, "alpha")``),
    else None."""
    if not name.endswith(HYPERGRAD_SUFFIX):
        return None
    m = _COLUMN.match(name[: -len(HYPERGRAD_SUFFIX)])
    return (int(m.group(1)), m.group(2)) if m else None


class History:
    """Rows of ``width`` numbers, one per step, starting at step ``start``."""

    def __init__(self, width: int, dtype: torch.dtype, device, chunk: int = 1024, start: int = 0):
        self.width, self.chunk, self.start = width, chunk, start
        self.dtype, self.device = dtype, device
        self._device_chunks: list[torch.Tensor] = []
        self._filled = chunk  # rows used in the last device chunk
        self._host: list[np.ndarray] = []

    def record(self, row: torch.Tensor) -> None:
        """Write one row of ``width`` numbers."""
        if self._filled == self.chunk:
            self._device_chunks.append(torch.empty(self.chunk, self.width, dtype=self.dtype, device=self.device))
            self._filled = 0
        self._device_chunks[-1][self._filled].copy_(row)
        self._filled += 1

    def fetch(self, since: int = 0) -> np.ndarray:
        """Rows ``since`` onwards (0: all rows so far) as a host array of shape (rows, width); costs only those rows."""
        for i, chunk in enumerate(self._device_chunks):
            rows = self._filled if i == len(self._device_chunks) - 1 else self.chunk
            self._host.append(chunk[:rows].cpu().double().numpy())
        if self._device_chunks:
            self._device_chunks, self._filled = [], self.chunk
        if len(self._host) > 64:  # one host array per fetch: merge them now and then
            self._host = [np.concatenate(self._host)]
        out, offset = [], 0
        for rows in self._host:
            if offset + len(rows) > since:
                out.append(rows[max(0, since - offset):])
            offset += len(rows)
        return np.concatenate(out) if out else np.zeros((0, self.width))
