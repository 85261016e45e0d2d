"""The nudge row of the level cards (gdtuo_explore.explorer.nudge_controls) and the nudge marks on the level charts,
without a browser: x30 and ÷30 on a paused and on a running run, any value, refused values shown on the card with
nothing changed."""
import pytest

from helpers import LONG, explorer_for, no_observer_errors, text, wait_until
from gdtuo_explore.explorer.nudge_controls import FACTOR, nudge_marks


def _paused(e, steps):
    e.step(steps)
    wait_until(lambda: e.state.status == "paused" and e.state.steps_done == steps, f"a pause after {steps} steps")


def test_a_refused_nudge_shows_the_error_on_the_card_and_changes_nothing():
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", LONG, task="surface", pace=100.0)
    try:
        card = e.tower_editor.cards[0].nudge
        assert not card.by(FACTOR)
        assert "no run is training or paused" in text(card.message)
        _paused(e, 10)
        run = e.current_run
        before = run.optimizer.hyperparameters()
        for value, why in (("-1", "alpha=-1.0 is invalid for level 1 (sgd): must be a finite number >= 0"),
                           ("nan", "must be a finite number"), ("fast", "'fast' is not a number")):
            assert not card.to(value)
            assert why in text(card.message) and "cannot nudge level1.alpha" in text(card.message)
        assert run.nudges() == [] and run.optimizer.hyperparameters() == before
        assert e.charts.levels[0].layout.shapes == ()
        no_observer_errors(e)
    finally:
        e.close()


def test_x30_on_a_paused_run_and_a_value_on_the_fixed_top_level_are_marked_on_the_level_chart():
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", LONG, task="surface", pace=100.0)
    try:
        _paused(e, 20)
        run = e.current_run
        old = run.optimizer.hyperparameters()[0]["alpha"]
        level1, level2 = (card.nudge for card in e.tower_editor.cards)
        assert level1.by(FACTOR)
        assert run.optimizer.hyperparameters()[0]["alpha"] == pytest.approx(old * FACTOR, rel=1e-6)
        assert "level1.alpha" in text(level1.message) and "at step 20" in text(level1.message)
        assert level2.column == "level2.alpha" and level2.to("1e-6")
        assert run.optimizer.hyperparameters()[1]["alpha"] == pytest.approx(1e-6)
        assert [n["column"] for n in run.nudges()] == ["level1.alpha", "level2.alpha"]
        chart = e.charts.levels[0]   # the top level is fixed: its nudge is marked on the chart below it
        wait_until(lambda: len(chart.layout.shapes) == 2, "two nudge marks on level 1's chart")
        assert [s.x0 for s in chart.layout.shapes] == [21, 21]   # the first row the new values made
        assert chart.layout.shapes[0].label.text.startswith("level1.alpha")
        e.step(5)
        wait_until(lambda: e.state.status == "paused" and e.state.steps_done == 25, "five more steps")
        rows = run.metrics()
        assert rows["level1.alpha"][20] > rows["level1.alpha"][19] * FACTOR / 2   # the run took the kick
        no_observer_errors(e)
    finally:
        e.close()


def test_divide_by_30_while_the_run_trains():
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", LONG, task="surface", pace=100.0)
    try:
        e.run()
        wait_until(lambda: e.state.status == "running" and e.state.steps_done > 5, "the run to train")
        card = e.tower_editor.cards[0].nudge
        assert card.by(1 / FACTOR)
        record = e.current_run.nudges()[0]
        # the value read at the click, divided; the training thread may take one more step before it applies it
        assert record["new"] == pytest.approx(record["old"] / FACTOR, rel=1e-3)
        wait_until(lambda: len(e.charts.levels[0].layout.shapes) == 1, "the nudge mark while running")
        assert e.charts.levels[0].layout.shapes[0].x0 == record["step"] + 1
        no_observer_errors(e)
    finally:
        e.close()


def test_factor_buttons_only_for_step_sizes():
    e = explorer_for("adam/sgd(1e-5)", 10, task="surface")
    try:
        card = e.tower_editor.cards[0].nudge
        assert card.up.layout.display is None
        card.name.value = "beta1"
        assert card.up.layout.display == "none" and card.down.layout.display == "none"
        assert card.column == "level1.beta1"
    finally:
        e.close()


def test_marks_go_to_the_chart_of_their_level():
    nudges = [{"step": 5, "column": "level1.alpha", "old": 1, "new": 2},
              {"step": 9, "column": "level3.alpha", "old": 1, "new": 2},
              {"step": 7, "column": "level2.alpha", "old": 1, "new": 2}]
    assert [m["x0"] for m in nudge_marks(nudges, 1, 2)] == [6]
    assert [m["x0"] for m in nudge_marks(nudges, 2, 2)] == [10, 8]
    assert nudge_marks(nudges, 1, 1)[2]["label"]["text"] == "level2.alpha → 2"


def test_a_new_run_and_a_race_drop_the_last_runs_nudge_marks_and_card_lines():
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", 40, task="surface", pace=100.0)
    try:
        chart = e.charts.levels[0]
        for start in (lambda: e.run(wait=True, timeout=60),
                      lambda: (e.add_compare("sgd(0.001)", name="plain"), e.race(wait=True, timeout=60))):
            _paused(e, 10)
            assert e.tower_editor.cards[0].nudge.by(FACTOR)
            assert "level1.alpha" in e.tower_editor.cards[0].nudge.message.value
            wait_until(lambda: len(chart.layout.shapes) == 1, "the nudge mark")
            e.stop()
            wait_until(lambda: e.state.status == "stopped", "the run to stop")
            start()   # a new run, no nudge: its chart has no mark (drawn to its last update)
            assert e.state.status == "done" and e.current_run.nudges() == []
            assert chart.layout.shapes == ()
            assert e.tower_editor.cards[0].nudge.message.value == ""   # the card's line spoke of the last run
        no_observer_errors(e)
    finally:
        e.close()
