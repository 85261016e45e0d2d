"""Overlays that race (gdtuo_explore.explorer.state, compare_panel), without a browser: full-spec labels with the
default kappa, names, colours fixed by name or role across Clear and Reset, the Speed setting on every run, and Race:
the run and every overlay that is a setup started together from step 0."""
import threading
import time

import pytest

from helpers import LONG, explorer_for, no_observer_errors, text, wait_until
from gdtuo_explore.explorer import compare_panel, tower_edits


@pytest.mark.parametrize("spec, full", [("sgd(0.001)/sgd", "sgd(0.001)/sgd(0.01)"),
                                        ("adam/sgd(1e-5)", "adam(0.001)/sgd(1e-05)"),
                                        ("sgd(mu=0.9)/sgd", "sgd(0.01, mu=0.9)/sgd(0.01)"),
                                        ("sgd(0.01, learn=none)/adam(beta1=0.5)",
                                         "sgd(0.01, learn=none)/adam(0.001, beta1=0.5)")])
def test_full_spec_writes_every_step_size_and_parses_to_the_same_tower(spec, full):
    assert tower_edits.full_spec(spec) == full
    assert tower_edits.canonical(full) == tower_edits.canonical(spec)


def test_labels_names_and_colours_fixed_across_clear_and_reset():
    e = explorer_for("sgd(0.0001)/sgd", 50, task="surface")
    try:
        plain = e.add_compare("sgd(0.0001)", name="plain")
        frozen = e.add_baseline()
        tower = e.add_compare("sgd(0.0001)/sgd(1e-8)", name="tower")
        assert [x.label for x in e.state.compared] == ["plain: sgd(0.0001)", "frozen: sgd(0.0001)",
                                                      "tower: sgd(0.0001)/sgd(1e-08)"]
        colours = {x.label: x.color for x in (plain, frozen, tower)}
        assert len(set(colours.values())) == 3
        e.run(wait=True, timeout=60)
        assert e.state.current.label.endswith(": sgd(0.0001)/sgd(0.01)")   # the default kappa, written out
        assert e.state.current.color not in colours.values()
        e.state.clear_compared()
        e.reset()
        again = [e.add_compare("sgd(0.0001)/sgd(1e-8)", name="tower"), e.add_baseline(),
                 e.add_compare("sgd(0.0001)", name="plain")]   # another order
        assert {x.label: x.color for x in again} == colours
        for x in again:
            x.wait(60)
        no_observer_errors(e)
    finally:
        e.close()


def test_a_refused_tower_in_the_compare_bar_shows_why_and_adds_nothing():
    e = explorer_for("sgd(0.0001)/sgd", 50, task="surface")
    try:
        panel = e.compare_panel
        panel.spec.value = "sgd(0.01"
        assert not panel.add_compare()
        assert "spec='sgd(0.01' is invalid" in text(panel.error) and e.state.compared == []
        panel.spec.value, panel.name.value = "sgd(0.01)", "plain"
        assert panel.add_compare() and panel.error.value == ""
        assert [x.label for x in e.state.compared] == ["plain: sgd(0.01)"]
        e.state.compared[0].wait(60)
    finally:
        e.close()


def test_the_speed_setting_applies_to_every_run_of_a_race():
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", LONG, task="surface", pace=30.0)
    try:
        plain = e.add_compare("sgd(0.0001)", name="plain")
        e.run()
        wait_until(lambda: plain.run is not None and e.current_run is not None, "both runs to be built")
        assert plain.run.pace == 30.0 and e.current_run.pace == 30.0
        e.state.pace = 10.0
        assert plain.run.pace == 10.0 and e.current_run.pace == 10.0
        no_observer_errors(e)
    finally:
        e.close()


def _steps(raced):
    return [s.run.steps_done for s in raced]


def test_race_starts_every_run_together_even_one_slow_to_build_and_each_trains_its_full_budget(monkeypatch):
    """The frozen baseline takes half a second longer to build than the others (a task's data loading): a race
    starts no run before it is built, so at 30 steps per second the three stay within a few steps of each other."""
    from gdtuo_explore.explorer import shown_run

    class SlowFrozen(shown_run.Run):
        def __init__(self, config, *args, **kwargs):
            if config.tower == "sgd(0.0001)":   # the frozen baseline's (and plain's) tower
                threading.Event().wait(0.5)
            super().__init__(config, *args, **kwargs)

    steps, pace = 90, 30.0
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", steps, task="surface")
    try:
        plain = e.add_compare("sgd(0.001)", name="plain", wait=True, timeout=60)
        frozen = e.add_baseline(wait=True, timeout=60)   # trained once, as fast as it goes
        e.state.pace = pace
        monkeypatch.setattr(shown_run, "Run", SlowFrozen)
        raced = e.race()
        assert raced[0] is e.state.current and raced[1:] == e.state.compared
        assert [x.label for x in raced[1:]] == [plain.label, frozen.label] == ["plain: sgd(0.001)",
                                                                            "frozen: sgd(0.0001)"]
        assert [x.color for x in raced[1:]] == [plain.color, frozen.color]
        assert all(x.status == "starting" for x in raced)   # none trains before the slowest is built
        wait_until(lambda: all(x.status != "starting" for x in raced), "every raced run to start")
        samples = []
        while all(x.status == "running" for x in raced):
            samples.append(_steps(raced))
            time.sleep(0.02)
        assert len(samples) > 20, samples
        assert max(max(s) - min(s) for s in samples) <= 2 + pace * 0.1, samples   # a tenth of a second apart
        assert all(x.wait(60) == "done" for x in raced)
        for x in raced:
            assert x.run.pace == pace and x.run.steps_done == steps
            assert list(x.run.metrics()["step"][[0, -1]]) == [1, steps]   # from step 0 to the full budget
        no_observer_errors(e)
    finally:
        e.close()


def test_pause_step_run_and_stop_act_on_every_run_of_a_race():
    """A race is one thing to the run buttons: Pause pauses every run, Step moves each by the same steps, Run
    resumes them all, Stop stops them all; after a Run of its own, the buttons act on that run alone."""
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", 100_000, task="surface")
    try:
        e.add_compare("sgd(0.001)", name="plain")
        e.add_baseline()
        e.state.pace = 30.0
        raced = e.race()
        wait_until(lambda: all(x.run is not None and x.run.steps_done >= 5 for x in raced), "the race to train")
        e.pause()
        wait_until(lambda: all(x.status == "paused" for x in raced), "every raced run to pause")
        before = _steps(raced)
        e.step(7)
        wait_until(lambda: _steps(raced) == [n + 7 for n in before], f"7 more steps each after {before}")
        wait_until(lambda: all(x.status == "paused" for x in raced) and e.state.status == "paused",
                   "every raced run, and the status line, to say paused after Step")
        e.run()   # resume: every run of the race
        wait_until(lambda: all(x.status == "running" for x in raced), "every raced run to resume")
        resumed = _steps(raced)
        wait_until(lambda: all(n > m + 3 for n, m in zip(_steps(raced), resumed)), "every raced run to train on")
        e.stop()
        assert all(x.wait(30) == "stopped" for x in raced)
        own = e.state.current
        e.run()   # a run of its own: the race's overlays are no longer raced
        wait_until(lambda: e.state.current is not own and e.state.status in ("running", "done"), "a new run")
        e.stop()
        assert [x.status for x in raced[1:]] == ["stopped", "stopped"]
        assert e.state._racing() == []
        no_observer_errors(e)
    finally:
        e.close()


def test_race_replaces_its_own_runs_and_leaves_finished_runs_of_other_setups():
    e = explorer_for("sgd(0.0001)", 30, task="surface")
    try:
        e.run(wait=True, timeout=60)
        earlier = e.state.current                      # a run of another setup: Run leaves it, so does Race
        e.state.set_tower("sgd(0.0001)/sgd(1e-8)")
        plain = e.add_compare("sgd(0.001)", name="plain")
        first = e.race(wait=True, timeout=60)
        assert e.state.compared == [first[1], earlier] and earlier.status == "done" and earlier.key is None
        assert plain.status == "stopped" or plain.status == "done"
        assert [x.status for x in first] == ["done", "done"]
        second = e.race(wait=True, timeout=60)        # the same race again: its runs give way to the new ones
        assert e.state.compared == [second[1], earlier]
        assert second[0].color == first[0].color and second[1].color == first[1].color == plain.color
        assert second[1].label == first[1].label == plain.label
        assert [x.run.steps_done for x in second] == [30, 30] and earlier.run.steps_done == 30
        no_observer_errors(e)
    finally:
        e.close()


def test_race_refuses_a_setup_that_cannot_run_and_keeps_every_overlay():
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", 20, task="surface")
    try:
        panel = e.compare_panel
        assert panel.race.disabled and "Add an overlay" in panel.race.tooltip   # nothing to race beside the run
        plain = e.add_compare("sgd(0.001)", name="plain", wait=True, timeout=60)
        assert not panel.race.disabled and panel.race.tooltip == compare_panel.RACE_TIP
        e.state.set_tower("sgd(0.01")
        assert panel.race.disabled and "the tower is invalid" in panel.race.tooltip
        with pytest.raises(ValueError, match=r"cannot race: the setup cannot run: the tower is invalid"):
            e.race()
        assert not panel.start_race() and "cannot race" in text(panel.error)
        assert e.state.compared == [plain] and e.state.current is None and plain.status == "done"
        e.state.set_tower("sgd(0.0001)")
        assert panel.start_race() and text(panel.error) == ""
        assert [x.wait(60) for x in [e.state.current, *e.state.compared]] == ["done", "done"]
        no_observer_errors(e)
    finally:
        e.close()


def test_a_run_that_cannot_be_built_shows_why_and_the_others_race_without_it(monkeypatch):
    from gdtuo_explore.explorer import shown_run

    class NoFrozen(shown_run.Run):
        def __init__(self, config, *args, **kwargs):
            if config.tower == "sgd(0.0001)":
                raise ValueError("no data for the frozen baseline")
            super().__init__(config, *args, **kwargs)

    e = explorer_for("sgd(0.0001)/sgd(1e-8)", 20, task="surface")
    try:
        e.add_baseline(wait=True, timeout=60)
        e.add_compare("sgd(0.001)", name="plain", wait=True, timeout=60)
        monkeypatch.setattr(shown_run, "Run", NoFrozen)
        current, frozen, plain = e.race(wait=True, timeout=60)
        assert frozen.status == "error" and "no data for the frozen baseline" in frozen.error
        assert current.status == plain.status == "done" and current.run.steps_done == plain.run.steps_done == 20
    finally:
        e.close()
