"""Long series made short for charts, as they grow: :class:`Thinned` (min/max thinning) and :class:`Smoothed` (a
trailing moving average), each fed chunk by chunk at a cost that depends on the chunk, never on what came before;
:func:`thin`, :func:`thin_indices` and :func:`smooth` are the same rules applied to a whole series at once.

Thinning: the points are cut into buckets of ``size`` consecutive points, the smallest power of two that leaves at
most ``max_points // 2`` buckets. Each bucket keeps its lowest and its highest finite value and its first
non-finite one (a NaN or an infinity draws as a gap, which must stay visible); the first and the last point are
kept too. A series of at most ``max_points`` finite points is therefore kept whole, a spike or a negative value is
never thinned away, and a longer series keeps between about ``max_points / 2`` and ``max_points`` points. When the
series outgrows its buckets, pairs of neighbours merge (the size doubles): the buckets of a series fed in chunks are
those of the whole series, so both give the same points.

Smoothing: the smoothed value at point ``i`` (from 0) is the mean of the ``w`` points up to it, ``w = (i + 1) //
50`` clipped to 1..500: about 2 % of the series up to that point. It depends only on what came before, so a point's
smoothed value never changes once computed.
"""
from __future__ import annotations

import numpy as np

SMOOTH_FRACTION = 50    # the window is 1/SMOOTH_FRACTION of the points so far...
SMOOTH_MAX = 500        # ...at most this many


class _Picks:
    """The kept points of some buckets, per column: the lowest finite value (``lo``), the highest (``hi``) and the
    first non-finite one (``nf``), each as index, x and y arrays of shape ``(buckets, columns)``. A bucket without
    such a point has index -1 there (and ``y`` +inf for ``lo``, -inf for ``hi``, so comparisons skip it)."""

    KINDS = ("lo", "hi", "nf")

    def __init__(self, **arrays):
        self.__dict__.update(arrays)

    @classmethod
    def of(cls, x, y, offset: int, size: int) -> "_Picks":
        """The picks of the full buckets of ``size`` points in ``x`` (n,) and ``y`` (n, columns), n a multiple of
        ``size``; the first point has index ``offset``."""
        buckets, columns = len(y) // size, y.shape[1]
        yb = y.reshape(buckets, size, columns)
        xb = np.broadcast_to(x.reshape(buckets, size, 1), yb.shape)
        finite = np.isfinite(yb)
        base = offset + np.arange(buckets)[:, None] * size
        out = {}
        for kind, where, fill in (("lo", np.where(finite, yb, np.inf), np.inf),
                                  ("hi", np.where(finite, yb, -np.inf), -np.inf),
                                  ("nf", ~finite, None)):
            j = (where.argmin(axis=1) if kind == "lo" else where.argmax(axis=1))[:, None, :]
            has = finite.any(axis=1) if fill is not None else (~finite).any(axis=1)
            out[f"i_{kind}"] = np.where(has, base + j[:, 0, :], -1)
            out[f"x_{kind}"] = np.take_along_axis(xb, j, axis=1)[:, 0, :]
            value = np.take_along_axis(yb, j, axis=1)[:, 0, :]
            out[f"y_{kind}"] = np.where(has, value, fill) if fill is not None else value
        return cls(**out)

    def __len__(self) -> int:
        return len(self.i_lo)

    def rows(self, sl) -> "_Picks":
        return _Picks(**{k: v[sl] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts) -> "_Picks":
        parts = [p for p in parts if p is not None]
        return _Picks(**{k: np.concatenate([p.__dict__[k] for p in parts]) for k in parts[0].__dict__})

    @staticmethod
    def merge(a: "_Picks", b: "_Picks") -> "_Picks":
        """The picks of each bucket of ``a`` joined with the bucket of ``b`` that follows it (same shapes). Ties go
        to ``a``: the earlier point, as ``argmin``/``argmax`` over the joined bucket would choose."""
        take = {"lo": b.y_lo < a.y_lo, "hi": b.y_hi > a.y_hi, "nf": a.i_nf < 0}
        return _Picks(**{f"{v}_{kind}": np.where(take[kind], getattr(b, f"{v}_{kind}"), getattr(a, f"{v}_{kind}"))
                         for kind in _Picks.KINDS for v in "ixy"})


class Thinned:
    """A series ``(x, y)`` thinned as it grows (see the module docstring): :meth:`extend` adds points, :meth:`points`
    returns the kept ones. ``y`` may have several columns, thinned each on its own over the same ``x`` (one call per
    chunk for all of them).

    Memory and the cost of :meth:`points` are bounded by ``max_points``; :meth:`extend` costs time proportional to
    the chunk it adds.

    >>> t = Thinned(max_points=4)
    >>> t.extend([1, 2, 3, 4, 5, 6], [5.0, 1.0, 7.0, 2.0, 2.0, 9.0])
    >>> t.points()
    (array([1, 2, 3, 5, 6]), array([5., 1., 7., 2., 9.]))
    """

    def __init__(self, max_points: int):
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
            raise ValueError(f"max_points={max_points!r} is out of range: it must be an integer >= 2")
        self.max_points = max_points
        self.buckets = max_points // 2
        self.size = 1                      # points per bucket (a power of two)
        self.count = 0                     # points added so far
        self._closed: _Picks | None = None
        self._open: _Picks | None = None   # the last bucket, while it has fewer than ``size`` points
        self._open_count = 0
        self._ends = None                  # (x of the first point, its y row, x of the last, its y row)
        self._cache: dict = {}

    def extend(self, x, y) -> None:
        """Add points: ``x`` of shape (n,), ``y`` of shape (n,) or (n, columns) (the same columns every time)."""
        x, y = np.asarray(x), np.asarray(y, dtype=float)
        n = len(y)
        if len(x) != n:
            raise ValueError(f"x has {len(x)} points and y {n}: they must have as many")
        if n == 0:
            return
        y = y.reshape(n, -1)
        self._cache.clear()
        first = self._ends[:2] if self._ends is not None else (x[0], y[0])
        self._ends = (*first, x[-1], y[-1])
        while -(-(self.count + n) // self.size) > self.buckets:
            self._double()
        at = 0
        if self._open_count:   # fill the open bucket first
            k = min(self.size - self._open_count, n)
            self._open = _Picks.merge(self._open, _Picks.of(x[:k], y[:k], self.count, k))
            self._open_count += k
            at = k
            if self._open_count == self.size:
                self._closed = _Picks.concat([self._closed, self._open])
                self._open, self._open_count = None, 0
        full = (n - at) // self.size * self.size
        if full:
            self._closed = _Picks.concat([self._closed, _Picks.of(x[at:at + full], y[at:at + full],
                                                                  self.count + at, self.size)])
            at += full
        if at < n:
            self._open, self._open_count = _Picks.of(x[at:], y[at:], self.count + at, n - at), n - at
        self.count += n

    def _double(self) -> None:
        """Merge neighbouring buckets in pairs (the bucket size doubles)."""
        closed = self._closed
        if closed is not None and len(closed) % 2:   # the last full bucket joins the open one
            last = closed.rows(slice(len(closed) - 1, None))
            self._open = _Picks.merge(last, self._open) if self._open is not None else last
            self._open_count += self.size
            closed = closed.rows(slice(0, len(closed) - 1))
        if closed is not None and len(closed):
            self._closed = _Picks.merge(closed.rows(slice(0, None, 2)), closed.rows(slice(1, None, 2)))
        else:
            self._closed = None
        self.size *= 2

    def points(self, column: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The kept points ``(x, y)`` of one column, in order."""
        return self.kept(column)[1:]

    def kept(self, column: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(indices, x, y)`` of the kept points of one column, in order (indices from 0)."""
        if column not in self._cache:
            self._cache[column] = self._kept(column)
        return self._cache[column]

    def _kept(self, column: int):
        if self._ends is None:
            return np.zeros(0, dtype=int), np.zeros(0), np.zeros(0)
        x0, y0, x1, y1 = self._ends
        i, xs, ys = [np.array([0, self.count - 1])], [np.array([x0, x1])], [np.array([y0[column], y1[column]])]
        for picks in (self._closed, self._open):
            if picks is not None:
                for kind in _Picks.KINDS:
                    i.append(getattr(picks, f"i_{kind}")[:, column])
                    xs.append(getattr(picks, f"x_{kind}")[:, column])
                    ys.append(getattr(picks, f"y_{kind}")[:, column])
        i, xs, ys = np.concatenate(i), np.concatenate(xs), np.concatenate(ys)
        kept = i >= 0
        i, first = np.unique(i[kept], return_index=True)
        return i, xs[kept][first], ys[kept][first]


class Smoothed:
    """The trailing moving average of a series as it grows (see the module docstring): :meth:`extend` takes the
    next raw values and returns their smoothed values. Keeps the last ``SMOOTH_MAX`` raw values only.

    >>> s = Smoothed()
    >>> s.extend([1.0, 3.0])
    array([1., 3.])
    """

    def __init__(self):
        self.count = 0
        self._tail = np.zeros(0)

    def extend(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        if not len(y):
            return y
        values = np.concatenate([self._tail, y])
        sums = np.concatenate([[0.0], np.cumsum(values)])
        window = np.clip((self.count + np.arange(1, len(y) + 1)) // SMOOTH_FRACTION, 1, SMOOTH_MAX)
        end = len(self._tail) + np.arange(1, len(y) + 1)
        self._tail = values[-SMOOTH_MAX:]
        self.count += len(y)
        return (sums[end] - sums[end - window]) / window


def thin_indices(y, max_points: int) -> np.ndarray:
    """Indices of the points of ``y`` that :class:`Thinned` keeps (at most about ``max_points``)."""
    y = np.asarray(y, dtype=float)
    t = Thinned(max_points)
    t.extend(np.arange(len(y)), y)
    return t.kept()[0]


def thin(x, y, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """The points of the series ``(x, y)`` that :class:`Thinned` keeps."""
    t = Thinned(max_points)
    t.extend(x, y)
    return t.points()


def smooth(y) -> np.ndarray:
    """The smoothed values of a whole series (:class:`Smoothed`)."""
    return Smoothed().extend(y)
