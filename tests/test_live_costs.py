"""What keeps a watched run fast and its first points quick, without a browser: the run's intra-op threads (the
explorer leaves a core to the browser), the first rows reaching observers right after the first step, and the
charts adding a run's traces in one message per figure. (The speed itself is measured in a real browser by
``python -m gdtuo_explore.bench.live``, not here.)"""
import os
import sys
import re
import threading
import time

import pytest
import torch

from gdtuo_explore.engine import dispatch
from gdtuo_explore.engine.config import RunConfig
from gdtuo_explore.explorer.defaults import EXPLORER_NICE, EXPLORER_THREADS
from gdtuo_explore.engine.run import Run
from gdtuo_explore.engine.trainer import FLUSH_STEPS
from helpers import explorer_for, no_observer_errors


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def threads_of_a_new_thread() -> int:
    seen = []
    worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    worker.start()
    worker.join()
    return seen[0]


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_bad_threads_is_a_clear_error(threads):
    with pytest.raises(ValueError, match=re.escape(f"threads={threads!r} is out of range: it must be an integer >= 1 "
                                                   "(or unset: PyTorch's own setting)")):
        RunConfig(threads=threads)


def test_a_run_sets_its_threads_while_it_trains(restore_threads):
    torch.set_num_threads(2)
    assert Run(RunConfig(task="digits", steps=5, device="cpu", threads=1)).run() == "done"
    assert threads_of_a_new_thread() == 1           # process-wide, as documented (torch.set_num_threads)
    torch.set_num_threads(2)
    assert Run(RunConfig(task="digits", steps=5, device="cpu")).run() == "done"   # None leaves torch's setting
    assert threads_of_a_new_thread() == 2


def test_the_explorer_trains_with_its_threads_and_a_loaded_setting_wins():
    cores = len(__import__("os").sched_getaffinity(0))
    assert EXPLORER_THREADS == max(1, min(torch.get_num_threads(), cores - 1)) or cores == 1
    e = explorer_for("sgd(0.1)/sgd(1e-4)", 10)
    assert e.state.config().threads == EXPLORER_THREADS
    assert e.state.config().nice == EXPLORER_NICE > 0   # the page's drawing comes first
    e.state.load_config(RunConfig(task="digits", steps=10))   # a loaded config without one keeps the explorer's
    assert e.state.config().nice == EXPLORER_NICE
    e.state.load_config(RunConfig(task="digits", steps=10, nice=0))
    assert e.state.config().nice == 0
    e.state.load_config(RunConfig(task="digits", steps=10, threads=3))
    assert e.state.config().threads == 3
    e.close()


@pytest.mark.parametrize("nice", [-1, 20, 2.0, "5", True])
def test_bad_nice_is_a_clear_error(nice):
    with pytest.raises(ValueError, match=rf"nice={nice!r} is out of range: it must be an integer in \[0, 19\]"):
        RunConfig(nice=nice)


def _niceness(thread_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own niceness is Linux's")
def test_a_started_run_trains_at_a_lower_priority_and_the_caller_keeps_its_own():
    """The training thread of Run.start runs ``nice`` lower than the thread that started it; Run.run trains in the
    caller's thread and leaves its priority alone (a thread cannot raise it back)."""
    caller = _niceness(threading.get_native_id())
    seen = {}
    run = Run(RunConfig(task="digits", steps=40, device="cpu", nice=3))
    run.pace = 40   # a second of training: time to look at the thread
    run.start()
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        for thread in threading.enumerate():
            if thread.name == run._control._name and thread.native_id is not None and len(run.metrics()["step"]):
                seen[thread.name] = _niceness(thread.native_id)
        time.sleep(0.02)
    assert run.wait() == "done"
    assert list(seen.values()) == [min(19, caller + 3)], seen
    assert Run(RunConfig(task="digits", steps=3, device="cpu", nice=3)).run() == "done"
    assert _niceness(threading.get_native_id()) == caller


def test_the_first_rows_reach_observers_right_after_the_first_step():
    firsts = []

    def observer(update):
        if len(update.rows["step"]) and not firsts:
            firsts.append(list(update.rows["step"]))

    run = Run(RunConfig(task="digits", steps=3 * FLUSH_STEPS, device="cpu"), observers=[observer]).start()
    assert run.wait() == "done"
    # fetched after step 1 (not after FLUSH_STEPS steps or FLUSH_SECONDS), and asked for at once
    assert firsts and firsts[0][0] == 1 and len(firsts[0]) < FLUSH_STEPS, firsts


def test_the_dispatcher_asks_often_until_every_observer_has_rows():
    class Records:
        def sizes(self):
            return (0, 0)

    d = dispatch.Dispatcher(Records(), lambda: ("running", "", 0), observers=[print])
    assert d._interval() == dispatch.FIRST_INTERVAL < dispatch.UPDATE_INTERVAL
    d._subscriptions[0].rows = 5
    assert d._interval() == dispatch.UPDATE_INTERVAL


def test_a_new_run_adds_its_traces_in_one_message_per_figure():
    e = explorer_for("adam(0.01)/sgd(1e-5)/sgd(1e-6)", 30)
    messages = {id(fig): 0 for fig in e.charts.figures}

    def count(change, fig):
        messages[id(fig)] += change["new"] is not None   # plotly sets the message, then clears it

    for fig in e.charts.figures:
        fig.observe(lambda change, fig=fig: count(change, fig), names="_py2js_addTraces")
    e.run(wait=True)
    no_observer_errors(e)
    figures = e.charts.figures
    assert len(figures) == 4   # loss, accuracy, level 1, level 2 (level 3 is fixed: a line of text)
    assert all(len(fig.data) >= 1 for fig in figures)
    assert [messages[id(fig)] for fig in figures] == [1, 1, 1, 1]
    e.close()


def test_a_rebuild_sends_each_figure_one_delete_one_add_and_one_update():
    """Each message to a FigureWidget is a redraw in the page (~75 ms on a 2-core machine), and a new run's first
    points queue behind them: clearing, adding and the first draw with the reset layout are one message each."""
    e = explorer_for("adam(0.01)/sgd(1e-5)/sgd(1e-6)", 30)
    assert e.run(wait=True) == "done"
    sent = []
    for k, fig in enumerate(e.charts.figures):
        fig.observe(lambda change, k=k: sent.append((k, change["name"])) if change["new"] is not None else None,
                    names=["_py2js_deleteTraces", "_py2js_addTraces", "_py2js_update", "_py2js_restyle",
                           "_py2js_relayout"])
    e.charts.rebuild()
    for k in range(len(e.charts.figures)):
        mine = sorted(name for j, name in sent if j == k)
        assert mine in (["_py2js_addTraces", "_py2js_deleteTraces", "_py2js_update"],
                        ["_py2js_addTraces", "_py2js_deleteTraces", "_py2js_relayout", "_py2js_update"]), (k, mine)
    assert e.charts.loss.layout.uirevision == e.charts._revision
    e.close()


def test_a_starting_run_leaves_the_first_draw_to_its_first_update():
    """A run that is starting has no data yet: rebuild adds its traces (one message per figure) and leaves the
    layout reset to the first update's draw, so the first points wait for one redraw per figure fewer; a run that
    could not be built gets that draw at once."""
    from gdtuo_explore.explorer.shown_run import ShownRun

    e = explorer_for("sgd(0.1)/sgd(1e-4)", 30)
    sent = []
    for k, fig in enumerate(e.charts.figures):
        fig.observe(lambda change, k=k: sent.append((k, change["name"])) if change["new"] is not None else None,
                    names=["_py2js_addTraces", "_py2js_update", "_py2js_relayout", "_py2js_restyle"])
    shown = ShownRun(e.state.config(), lambda *_: None)      # never launched: it stays "starting"
    e.state.current = shown                                  # the charts rebuild for it
    assert shown.status == "starting"
    figures = len(e.charts.figures)
    assert sorted(sent) == [(k, "_py2js_addTraces") for k in range(figures)]
    sent.clear()
    e.charts._on_update(shown, None)                         # as when building the run failed
    assert sorted(sent) == [(k, "_py2js_update") for k in range(figures)]
    assert e.charts.loss.layout.uirevision == e.charts._revision
    e.state.current = None
    e.close()


@pytest.mark.parametrize("limit, mode", [(100, "lines+markers"), (5, "lines")])
def test_evaluation_lines_lose_their_markers_past_a_few_points(monkeypatch, limit, mode):
    """300 SVG markers cost a redraw in Chromium as much as the rest of the chart: the test loss and accuracy
    lines keep markers only while they have at most MARKER_POINTS points (a run has at least 10 evaluations)."""
    from gdtuo_explore.explorer import charts

    monkeypatch.setattr(charts, "MARKER_POINTS", limit)
    e = explorer_for("sgd(0.1)/sgd(1e-4)", 30)
    assert e.run(wait=True) == "done"
    no_observer_errors(e)
    evaluations = [t for fig in (e.charts.loss, e.charts.accuracy) for t in fig.data
                   if t.name in ("test loss", "test accuracy")]
    assert len(evaluations) == 2 and all(len(t.x) >= 10 for t in evaluations)
    assert [t.mode for t in evaluations] == [mode, mode]
    assert [t.mode for t in e.charts.loss.data if t.name.startswith("train loss")] == ["lines", "lines"]
    e.close()
