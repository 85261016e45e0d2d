"""Thinning and smoothing long series as they grow (gdtuo_explore/engine/thinning.py), against the rules written out
point by point: a series fed in chunks of any size keeps the points of the whole series, extremes and non-finite
values included, and its smoothed values are the trailing means of about 2 % of the points up to each."""
import math

import numpy as np
import pytest

from gdtuo_explore.engine.thinning import SMOOTH_FRACTION, SMOOTH_MAX, Smoothed, Thinned, smooth, thin, thin_indices


def kept_by_the_rule(y, max_points):
    """The indices the module docstring's rule keeps, bucket by bucket in plain Python."""
    n, buckets = len(y), max_points // 2
    size = 1
    while math.ceil(n / size) > buckets:
        size *= 2
    keep = {0, n - 1}
    for start in range(0, n, size):
        bucket = list(range(start, min(n, start + size)))
        finite = [i for i in bucket if math.isfinite(y[i])]
        if finite:
            keep.add(min(finite, key=lambda i: (y[i], i)))
            keep.add(min(finite, key=lambda i: (-y[i], i)))
        bad = [i for i in bucket if not math.isfinite(y[i])]
        if bad:
            keep.add(bad[0])
    return sorted(keep)


def series(n, seed):
    rng = np.random.default_rng(seed)
    y = np.cumsum(rng.normal(size=n))
    y[rng.integers(0, n, size=max(1, n // 500))] = rng.choice([np.nan, np.inf, -np.inf, -1e6, 1e6])
    y[rng.integers(0, n, size=max(1, n // 300))] = np.round(y[0])   # ties
    return y


def chunks(n, seed):
    """Cut ``range(n)`` at random places: many small chunks and a few big ones."""
    rng = np.random.default_rng(seed)
    cuts = np.unique(np.concatenate([rng.integers(0, n, size=rng.integers(1, 60)), [0, n]]))
    return [slice(a, b) for a, b in zip(cuts, cuts[1:])]


@pytest.mark.parametrize("n, max_points, seed", [(1, 10, 0), (7, 10, 1), (10, 10, 2), (11, 10, 3), (300, 300, 4),
                                                  (301, 300, 5), (5_000, 300, 6), (20_011, 64, 7), (3_000, 3, 8)])
def test_a_series_fed_in_chunks_keeps_the_points_the_rule_keeps(n, max_points, seed):
    y = series(n, seed)
    x = np.arange(1, n + 1) * 10
    whole = thin_indices(y, max_points)
    assert whole.tolist() == kept_by_the_rule(y, max_points)
    fed = Thinned(max_points)
    for part in chunks(n, seed):
        fed.extend(x[part], y[part])
        assert fed.count == part.stop
    kept, kx, ky = fed.kept()
    assert kept.tolist() == whole.tolist()
    assert np.array_equal(kx, x[whole]) and np.array_equal(ky, y[whole], equal_nan=True)


def test_columns_are_thinned_each_on_its_own():
    n = 4_000
    ys = np.stack([series(n, 10), -series(n, 11), np.full(n, 2.0)], axis=1)
    fed = Thinned(100)
    for part in chunks(n, 12):
        fed.extend(np.arange(n)[part], ys[part])
    for column in range(3):
        assert fed.kept(column)[0].tolist() == kept_by_the_rule(ys[:, column], 100)


def test_a_short_series_stays_whole_and_a_long_one_keeps_its_spikes_in_few_points():
    x = np.arange(1, 100_001)
    y = np.sin(x / 500.0)
    y[31_337] = -50.0                                   # a spike, e.g. a negative step size
    tx, ty = thin(x, y, 300)
    assert 150 <= len(tx) <= 302 and tx[0] == 1 and tx[-1] == 100_000
    assert -50.0 in ty and 31_338 in tx and np.all(np.diff(tx) > 0)
    assert ty.max() == y.max() and ty.min() == y.min()
    assert np.array_equal(thin(x[:300], y[:300], 300)[1], y[:300])   # up to max_points: every point


def test_an_empty_series_keeps_nothing():
    assert thin_indices([], 300).tolist() == [] and [a.tolist() for a in thin([], [], 300)] == [[], []]
    fed = Thinned(10)
    fed.extend([], [])
    fed.extend([1, 2], [3.0, 4.0])
    assert fed.count == 2 and fed.points()[1].tolist() == [3.0, 4.0] and smooth([]).tolist() == []


def test_memory_stays_bounded_as_the_series_grows():
    fed = Thinned(300)
    for k in range(400):
        fed.extend(np.arange(k * 1000, (k + 1) * 1000), np.random.default_rng(k).normal(size=1000))
        assert fed.size * fed.buckets >= fed.count and len(fed.kept()[0]) <= 3 * fed.buckets + 2
    assert fed.count == 400_000 and fed.size == 4096   # the smallest power of two with 150 buckets or fewer


@pytest.mark.parametrize("bad", [0, 1, 2.5, "300", True])
def test_max_points_must_be_an_integer_of_at_least_two(bad):
    with pytest.raises(ValueError, match=f"max_points={bad!r} is out of range: it must be an integer >= 2"):
        Thinned(bad)


def test_x_and_y_must_have_as_many_points():
    with pytest.raises(ValueError, match="x has 2 points and y 3"):
        Thinned(10).extend([1, 2], [1.0, 2.0, 3.0])


def test_smoothing_is_the_trailing_mean_of_about_two_percent_of_the_points_so_far():
    y = np.random.default_rng(0).normal(size=40_000).cumsum()
    fed = Smoothed()
    out = np.concatenate([fed.extend(y[part]) for part in chunks(len(y), 1)])
    for i in (0, 1, 49, 50, 99, 100, 2_499, 24_999, 25_000, 39_999):
        w = min(SMOOTH_MAX, max(1, (i + 1) // SMOOTH_FRACTION))
        assert out[i] == pytest.approx(y[i + 1 - w:i + 1].mean(), rel=1e-9, abs=1e-9), i
    assert np.allclose(out, smooth(y), rtol=1e-9, atol=1e-9)
    assert np.allclose(smooth(np.ones(1000)), 1.0) and smooth(np.arange(5.0))[0] == 0.0
