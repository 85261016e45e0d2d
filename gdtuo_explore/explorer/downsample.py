"""Series thinning and smoothing for live charts: a chart gets at most about ``MAX_POINTS`` points per trace, however
long the run, and spikes survive the thinning (each bucket keeps its lowest and highest point)."""
from __future__ import annotations

import numpy as np

MAX_POINTS = 1500


def thin(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``max_points`` points of the series ``(x, y)``: the first and last, and in each of
    ``max_points / 2`` buckets its lowest and highest ``y`` (non-finite values are kept as they are)."""
    n = len(y)
    if n <= max_points:
        return x, y
    size = -(-n // (max_points // 2))
    pad = (-n) % size
    y = np.asarray(y, dtype=float)
    padded = np.concatenate([y, np.full(pad, np.nan)]).reshape(-1, size)
    low = np.where(np.isfinite(padded), padded, np.inf).argmin(axis=1)
    high = np.where(np.isfinite(padded), padded, -np.inf).argmax(axis=1)
    base = np.arange(len(padded)) * size
    keep = np.unique(np.concatenate([base + low, base + high, [0, n - 1], np.flatnonzero(~np.isfinite(y))]))
    keep = keep[keep < n]
    return x[keep], y[keep]


def smooth(y: np.ndarray) -> np.ndarray:
    """Trailing moving average over about 2 % of the series (between 1 and 500 points)."""
    y = np.asarray(y, dtype=float)
    window = int(np.clip(len(y) // 50, 1, 500))
    c = np.concatenate([[0.0], np.cumsum(y)])
    end = np.arange(1, len(y) + 1)
    start = np.maximum(0, end - window)
    return (c[end] - c[start]) / (end - start)
