"""Per-step rows of a few numbers (a tower's learned hyperparameters), recorded on the device without a host sync.

Rows are written into preallocated device chunks; a new chunk is allocated when one fills (an allocation, not a
sync). ``fetch()`` copies what is new to the host in one transfer per chunk. The columns' names:
:mod:`.columns`.
"""
from __future__ import annotations

import numpy as np
import torch


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
