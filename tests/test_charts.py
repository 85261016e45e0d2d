"""The charts' decisions, without a browser: the value axis (log, or symmetric log with bounded explicit ticks) for
any values a tower can produce, hyperparameter columns, one colour per run, the fixed top level as a line, and
the axis after Reset. (The real-browser checks are in test_browser_explorer.py.)"""
import numpy as np
import pytest

from gdtuo_explore.engine.series import is_step_size, parse_column, plotted_columns, symlog, value_axis
from gdtuo_explore.engine.thinning import smooth, thin
from gdtuo_explore.explorer.charts import LIVE_POINTS, STAGGER
from helpers import explorer_for, no_observer_errors, points, trace


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
    """While a run trains, the charts wait STAGGER s between the figures of one redraw (the page draws each in a task
    of its own); its last redraw, when it ends, sends every figure without waiting. The charts' own waits are
    recorded in the order of the figures' messages, so the check needs no clock."""
    e = explorer_for("adam/sgd(1e-5)", 900, pace=300)   # 3 s at least: running redraws 1 to 2 s apart
    events = []   # ("send", figure) and ("sleep", seconds), in the order they happened
    e.charts.sleep = lambda seconds: events.append(("sleep", seconds))
    for fig in e.charts.figures:
        fig.on_msg(lambda *_: None)
        original = fig._send_update_msg
        fig._send_update_msg = lambda *a, _fig=fig, _send=original, **k: (
            events.append(("send", _fig)), _send(*a, **k))[1]
    assert e.run(wait=True) == "done"
    assert len(e.charts.figures) == 3
    rounds = []   # a redraw's events: each starts with the loss chart's message
    for event in events:
        if event[0] == "send" and event[1] is e.charts.loss or not rounds:
            rounds.append([])
        rounds[-1].append(event)
    running, last = rounds[:-1], rounds[-1]
    assert len(running) >= 2, [[kind for kind, *_ in r] for r in rounds]
    for r in running:   # a wait between any two figures' messages (and before a figure that had nothing new)
        kinds = "".join(kind[1] for kind, *_ in r)   # e: send, l: sleep
        assert kinds.startswith("e") and "ee" not in kinds and kinds.count("e") >= 2, kinds
        assert {seconds for kind, seconds, *_ in r if kind == "sleep"} == {STAGGER}
    assert [kind for kind, *_ in last] == ["send", "send", "send"], last   # the end: no wait between charts
    no_observer_errors(e)


def test_the_charts_draw_from_the_rows_each_update_pushes_and_never_read_the_history(monkeypatch):
    """The lines of a run are the thinned rows its updates carried (the train loss smoothed first): the charts keep
    them as the rows arrive and read no run's records, while it trains, when it becomes an overlay, or when the
    overlays change. A run that comes onto the charts after it trained is read once."""
    from gdtuo_explore.engine.run import Run

    reads = []
    for name in ("metrics", "evaluations"):
        monkeypatch.setattr(Run, name, lambda self, _read=getattr(Run, name), _name=name: (
            reads.append(_name), _read(self))[1])
    e = explorer_for("adam(0.01)/sgd(1e-5)/sgd(1e-6)", 1500)
    assert e.run(wait=True) == "done"
    first = e.state.current
    assert e.run(wait=True) == "done"
    e.add_baseline(wait=True)
    e.state.compared = [s for s in e.state.compared if s is not first]   # the overlays change: a rebuild
    assert reads == [], reads
    no_observer_errors(e)
    run = e.current_run
    m, ev = run.metrics(), run.evaluations()
    for fig, name, x, y in [(e.charts.loss, "train loss", m["step"], m["train_loss"]),
                            (e.charts.loss, "test loss", ev["step"], ev["test_loss"]),
                            (e.charts.accuracy, "test accuracy", ev["step"], ev["test_accuracy"]),
                            (e.charts.levels[0], "beta1", m["step"], m["level1.beta1"]),
                            (e.charts.levels[1], "alpha", m["step"], m["level2.alpha"])]:
        tx, ty = thin(x, y, LIVE_POINTS)
        assert np.array_equal(trace(fig, name).x, tx) and np.array_equal(trace(fig, name).y, ty), name
    assert len(trace(e.charts.loss, "train loss").x) < 1500
    smoothed = trace(e.charts.loss, "train loss (smoothed)")
    assert smoothed.x[-1] == 1500 and np.allclose(smoothed.y, smooth(m["train_loss"])[np.asarray(smoothed.x) - 1])

    other = explorer_for("sgd(0.01)/sgd(1e-4)", 200)
    assert other.run(wait=True) == "done"
    reads.clear()
    e.state.compared = [*e.state.compared, other.state.current]           # a run these charts never saw
    assert reads == ["metrics", "evaluations"]
    assert points(e.charts.loss, other.state.current.label) == 200
    other.close()
    e.close()


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
