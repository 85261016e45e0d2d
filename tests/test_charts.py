"""The charts' decisions, without a browser: the value axis (log, or symmetric log with bounded explicit ticks) for
any values a tower can produce, hyperparameter columns, one colour per run, the fixed top level as a line, and
the axis after Reset. (The real-browser checks are in test_browser_explorer.py.)"""
import time

import numpy as np
import pytest

from gdtuo_explore.engine.series import (is_step_size, parse_column, plotted_columns, symlog, thin, value_axis)
from gdtuo_explore.explorer.charts import LIVE_POINTS, STAGGER
from test_explorer import explorer_for, no_observer_errors, trace


@pytest.mark.parametrize("values, kind", [
    ([1e-5, 2e-5], "log"),                           # tiny, positive
    ([8e5, 2.3], "log"),                             # a huge loss
    ([-1400.0, 15000.0, 0.01], "symlog"),           # SGD/SGD(100)'s step sizes
    ([0.01, -0.003], "symlog"),
    ([0.0, 1.0], "symlog"),                          # zero has no log
    ([np.nan, np.inf, -np.inf], "log"),              # nothing finite
    ([-1e300, 1e-300, 5.0], "symlog"),
    ([-1.7e308, 1.7e308], "symlog"),
    (np.sin(np.arange(10_000)) * 10.0 ** np.linspace(-8, 8, 10_000), "symlog"),   # oscillating, every scale
])
def test_value_axis_draws_any_values_with_a_few_ticks(values, kind):
    axis = value_axis([values])
    assert axis.kind == kind
    assert axis.layout.get("dtick") is None                    # never a fixed tick step on a range we don't control
    if kind == "log":
        assert axis.layout["type"] == "log"
        ticks = axis.layout["tickvals"]
        assert ticks is None or (2 <= len(ticks) <= 10 and np.all(np.diff(ticks) > 0))   # None: nothing finite
    else:
        ticks, labels = axis.layout["tickvals"], axis.layout["ticktext"]
        assert axis.layout["type"] == "linear" and 1 <= len(ticks) <= 10 and len(labels) == len(ticks)
        assert np.all(np.diff(ticks) > 0) and "0" in labels
        y = axis.transform(values)
        values = np.asarray(values, dtype=float)
        finite = np.isfinite(values)
        assert np.all(np.isfinite(y[finite])) and np.all(np.abs(y[finite]) < 40)
        big = finite & (np.abs(values) >= axis.c)                # outside the linear part around zero
        assert np.array_equal(np.sign(y[big]), np.sign(values[big]))   # the sign is kept


def test_symlog_tick_labels_name_the_real_values():
    axis = value_axis([[-1400.0, 15000.0, 0.01]])
    for position, label in zip(axis.layout["tickvals"], axis.layout["ticktext"]):
        assert symlog(float(label), axis.c) == pytest.approx(position)


@pytest.mark.parametrize("column, parsed", [
    ("level1.alpha", (1, "alpha")), ("level12.beta2", (12, "beta2")), ("level2.fc1.weight_alpha", (2, "fc1.weight_alpha")),
    ("train_loss", None), ("step", None), ("levelx.alpha", None),
])
def test_parse_column(column, parsed):
    assert parse_column(column) == parsed


def test_step_sizes_and_plotted_columns():
    assert is_step_size("alpha") and is_step_size("fc.weight_alpha") and not is_step_size("beta1")
    columns = ["level1.alpha", "level1.beta1", "level1.log_eps", "level2.alpha", "level2.mu"]
    assert plotted_columns("adam/sgd(0.01, mu=0.5)", columns) == ["level1.alpha", "level1.beta1", "level2.alpha"]


def test_thin_keeps_at_most_the_live_points_and_the_extremes():
    x = np.arange(100_000)
    y = np.ones(100_000)
    y[777] = -3.0
    tx, ty = thin(x, y, LIVE_POINTS)
    assert len(tx) <= LIVE_POINTS + 2 and -3.0 in ty and 777 in tx


def test_level_charts_draw_each_run_in_its_own_colour():
    e = explorer_for("adam/sgd(1e-5)", 40)
    e.run(wait=True)
    first = e.state.current
    e.run(wait=True)
    second = e.state.current
    assert first.color != second.color
    level1 = e.charts.levels[0]
    for name in ("alpha", "beta1", "beta2"):                              # the current run: its colour, by dash
        assert trace(level1, name).line.color == second.color
    assert trace(level1, "alpha").line.dash is None and trace(level1, "beta1").line.dash == "dot"
    assert trace(level1, f"{first.label}: alpha").line.color == first.color   # the overlay: its own colour
    assert trace(e.charts.loss, "train loss").line.color == second.color
    assert "Level 2" in e.charts.fixed.value and e.charts.fixed in e.charts.levels_box.children
    no_observer_errors(e)


def test_a_one_level_tower_keeps_its_chart():
    e = explorer_for("sgd(0.01)", 20)
    assert len(e.charts.levels) == 1 and e.charts.fixed.value == ""
    assert e.charts.fixed not in e.charts.levels_box.children


def test_a_negative_step_size_gets_a_symmetric_log_axis_and_reset_brings_the_log_axis_back():
    e = explorer_for("sgd(0.01)/sgd(100)", 100)
    e.run(wait=True)
    level1 = e.charts.levels[0]
    alpha = trace(level1, "alpha")
    assert min(alpha.customdata) < 0 and np.allclose(alpha.y, symlog(alpha.customdata, value_axis([alpha.customdata]).c))
    assert level1.layout.yaxis.tickmode == "array" and len(level1.layout.yaxis.tickvals) < 30
    assert level1.layout.yaxis.dtick is None and "symmetric log axis" in level1.layout.title.text
    e.state.compared = []                                                # no overlay of it either
    e.reset()
    assert level1.layout.yaxis.type == "log" and level1.layout.yaxis.tickvals is None   # no data left: auto ticks
    assert "negative" not in level1.layout.title.text and level1.layout.xaxis.autorange is True
    no_observer_errors(e)


def test_a_running_run_is_redrawn_a_few_times_a_second_at_most():
    e = explorer_for("sgd(0.01)/sgd(0.01)", 3000)
    sends = []
    fig = e.charts.loss
    fig.on_msg(lambda *_: None)
    original = fig._send_update_msg
    fig._send_update_msg = lambda *a, **k: (sends.append(1), original(*a, **k))[1]
    e.run(wait=True)
    seconds = e.current_run.elapsed
    assert len(sends) <= seconds / 0.5 + 3, (len(sends), seconds)
    assert len(trace(fig, "train loss").x) <= LIVE_POINTS + 2 and trace(fig, "train loss").x[-1] == 3000


def test_a_running_runs_figures_leave_apart_and_its_end_at_once():
    """While a run trains, the figures of one redraw are sent STAGGER s apart (the page draws each in a task of its
    own); its last redraw, when it ends, is sent at once."""
    e = explorer_for("adam/sgd(1e-5)", 3000)
    sends = []
    for fig in e.charts.figures:
        fig.on_msg(lambda *_: None)
        original = fig._send_update_msg
        fig._send_update_msg = lambda *a, _fig=fig, _send=original, **k: (
            sends.append((time.perf_counter(), _fig, e.state.status)), _send(*a, **k))[1]
    e.run(wait=True)
    assert len(e.charts.figures) == 3 and e.state.status == "done"
    rounds = []   # a redraw's sends: each starts with the loss chart
    for t, fig, status in sends:
        if fig is e.charts.loss or not rounds:
            rounds.append([])
        rounds[-1].append(t)
    assert len(rounds) >= 3, len(rounds)
    gaps = [b - a for r in rounds[:-1] for a, b in zip(r, r[1:])]
    assert gaps and min(gaps) >= STAGGER, (min(gaps), STAGGER)
    last = rounds[-1]
    assert len(last) == 3 and last[-1] - last[0] < 2 * STAGGER, last   # the end: no pause between charts
    no_observer_errors(e)


@pytest.mark.parametrize("tower, expected", [
    ("sgd_per_param/sgd(1e-4)", ["level2.alpha"]),   # per-tensor step sizes: named after tensors not built yet
    ("adam/sgd(1e-4)", ["level1.alpha", "level1.beta1", "level1.beta2", "level2.alpha"]),
])
def test_columns_before_the_run_is_built_come_from_the_spec(tower, expected):
    from types import SimpleNamespace

    from gdtuo_explore.engine.config import RunConfig
    from gdtuo_explore.explorer.charts import _columns

    assert _columns(SimpleNamespace(run=None, config=RunConfig(tower=tower))) == expected


@pytest.mark.parametrize("lo, hi, expected", [
    (0.009, 0.2, [0.01, 0.02, 0.05, 0.1, 0.2]),                  # the README picture's step size: no 0.03 ... 0.09
    (0.05, 2.3, [0.05, 0.1, 0.2, 0.5, 1, 2]),
    (1e-6, 1e6, [1e-6, 1e-4, 1e-2, 1, 1e2, 1e4, 1e6]),           # many decades: powers of ten, every other one
    (0.0101, 0.0102, [0.0101, 0.0102]),                          # narrower than one 1-2-5 step: the ends
])
def test_log_ticks_are_few_and_readable(lo, hi, expected):
    from gdtuo_explore.engine.series import log_ticks

    assert np.allclose(log_ticks(lo, hi, 8), expected)
