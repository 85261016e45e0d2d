"""The explorer's widgets, driven without a browser: set widget values, click buttons, wait for the run, and check
the run and the figures' data. (The real-browser test is test_browser_explorer.py.)"""
import json
import time

import numpy as np
import pytest

from gdtuo_explore import Explorer
from gdtuo_explore.engine.config import Budget, RunConfig, baseline_spec
from gdtuo_explore.explorer import tower_edits
from gdtuo_explore.explorer.charts import LIVE_POINTS as MAX_POINTS
from gdtuo_explore.engine.tasks import TASKS
from helpers import LONG, explorer_for, no_observer_errors, points, text, trace, wait_until

# -- a newcomer's first run -----------------------------------------------------------------------------------------
def test_the_first_run_of_a_fresh_explorer_trains_for_a_while_then_stops_with_the_charts_moving():
    """A newcomer presses Run on a fresh explorer: the default setup trains for 10-30 s at a pace a person can follow,
    then stops by itself, and the loss chart and level 1's step-size chart gain points all along."""
    e = Explorer()
    try:
        loss, alpha = e.charts.loss, e.charts.levels[0]
        last = lambda fig, name: (int(trace(fig, name).x[-1])  # noqa: E731
                                  if points(fig, name) else 0)
        start = time.monotonic()
        e.run()
        seen = []   # (seconds since the click, last step on the loss chart, last step on the alpha chart)
        while e.state.status in ("starting", "running"):
            assert time.monotonic() - start < 60, f"the first run did not end in 60 s: {e.state.message}"
            if e.state.status == "running" and points(loss, "train loss"):
                now = (time.monotonic() - start, last(loss, "train loss"), last(alpha, "alpha"))
                if not seen or now[1:] != seen[-1][1:]:
                    seen.append(now)
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        assert e.wait(60) == "done", e.state.message
        assert e.state.steps_done == e.state.total_steps
        # 10-30 s at its pace; a machine too busy to keep the pace only makes it longer (the 60 s deadline above)
        assert 10 <= e.state.total_steps / e.state.pace <= 30 and elapsed >= 10, (e.state.total_steps, elapsed)
        print(f"the first run took {elapsed:.1f} s")
        moments = [t for t, _, _ in seen]
        # the charts moved all along: new points in every third of the run, at least 8 new loss steps in all
        assert len({step for _, step, _ in seen}) >= 8 and all(
            any(k * elapsed / 3 <= t < (k + 1) * elapsed / 3 for t in moments) for k in range(3)), seen
        assert all(b[1] >= a[1] and b[2] >= a[2] for a, b in zip(seen, seen[1:])), seen   # forward only
    finally:
        e.close()


# -- building and the tower editor ------------------------------------------------------------------------------
def test_default_explorer_shows_the_default_tower_and_menus():
    e = Explorer()
    assert e.state.tower == "adam/sgd(1e-05)"
    assert e.tower_editor.spec.value == "adam/sgd(1e-05)"
    assert e.tower_editor.preset.value == "Adam / SGD(1e-5)"
    assert [c.kind.value for c in e.tower_editor.cards] == ["Adam", "SGD"]
    assert list(e.tower_editor.cards[0].rows) == ["alpha", "beta1", "beta2"]
    assert e.tower_editor.cards[0].rows["alpha"].text.value == "0.001"
    assert [v for _, v in e.task_controls.task.options] == list(TASKS)
    assert e.task_controls.task.value == "digits" and not TASKS["digits"].needs_download
    assert e.task_controls.device.options[-1][1] == "cpu"   # GPU (if any) first, cpu last
    assert len(e.charts.levels) == 1                                   # the fixed top level is a line of text
    assert "Level 2" in e.charts.fixed.value and "alpha = 1e-05" in e.charts.fixed.value
    state = e.widget.get_state()
    assert state["_view_name"] == "VBoxView" and "gd-root" in state["_dom_classes"]
    assert "application/vnd.jupyter.widget-view+json" in e._repr_mimebundle_()


def test_presets_and_spec_text_both_ways():
    e = Explorer()
    ed = e.tower_editor
    ed.preset.value = "SGD tower, 5 levels"
    assert e.state.tower == tower_edits.canonical(tower_edits.PRESETS["SGD tower, 5 levels"])
    assert len(ed.cards) == 5 and len(e.charts.levels) == 4
    ed.spec.value = "SGD(0.1) / sgd(1e-3, mu=0.9) / adam"          # typed text rebuilds the cards
    assert e.state.tower == "sgd(0.1)/sgd(0.001, mu=0.9)/adam"
    assert ed.spec.value == e.state.tower                            # shown canonical
    assert [c.kind.value for c in ed.cards] == ["SGD", "SGD with momentum", "Adam"]
    assert ed.preset.value == ""                                     # a custom tower
    assert list(ed.cards[1].rows) == ["alpha", "mu"]
    ed.cards[0].rows["alpha"].text.value = "0.05"                    # a typed value edits the spec
    assert e.state.tower == "sgd(0.05)/sgd(0.001, mu=0.9)/adam"
    ed.cards[0].rows["alpha"].slider.value = 0.2                     # so does the log slider
    assert e.state.tower.startswith("sgd(0.2)/")
    assert ed.cards[0].rows["alpha"].text.value == "0.2"
    ed.cards[1].rows["mu"].learn.value = False                       # learn toggle
    assert e.state.tower == "sgd(0.2)/sgd(0.001, mu=0.9, learn=alpha)/adam"
    assert ed.cards[2].rows["alpha"].learn.layout.visibility == "hidden"  # the top level learns nothing
    ed.cards[2].kind.value = "RMSProp"                               # optimizer menu
    assert e.state.tower == "sgd(0.2)/sgd(0.001, mu=0.9, learn=alpha)/rmsprop"
    ed.add_level.click()                                             # add a level on top
    assert e.state.tower.endswith("/rmsprop/rmsprop") and len(ed.cards) == 4
    ed.cards[1].remove.click()                                       # remove a level
    assert e.state.tower == "sgd(0.2)/rmsprop/rmsprop" and len(ed.cards) == 3
    assert len(e.charts.levels) == 2                                 # the charts follow while nothing runs
    ed.cards[0].kind.value = "SGD with momentum"
    assert e.state.tower.startswith("sgd(0.2, mu=0.9)/")
    assert [c.kind.value for c in ed.cards][0] == "SGD with momentum"


def test_a_bad_spec_shows_the_parse_error_and_changes_nothing():
    e = Explorer()
    ed = e.tower_editor
    before = e.state.tower
    ed.spec.value = "adam/sgd(1e-5"
    assert "unbalanced '(' in 'adam/sgd(1e-5'" in text(ed.error) and "gd-error" in ed.error.value
    assert e.state.tower == before and len(ed.cards) == 2
    ed.spec.value = "adamax/sgd"
    assert "unknown optimizer 'adamax'" in text(ed.error)
    ed.cards[0].rows["beta1"].text.value = "1.5"                      # out of range
    assert "beta1=1.5 is invalid for adam" in text(ed.error)
    ed.cards[0].rows["alpha"].text.value = "fast"                     # not a number
    assert "alpha='fast' is not a number" in text(ed.error)
    assert e.state.tower == before
    ed.cards[0].rows["alpha"].text.value = "0.01"                     # a good edit clears the error
    assert ed.error.value == "" and e.state.tower == "adam(0.01)/sgd(1e-05)"
    ed.cards[0].remove.click()                                        # remove the bottom level
    assert e.state.tower == "sgd(1e-05)" and len(ed.cards) == 1 and ed.cards[0].remove.disabled


def test_task_model_batch_size_and_budget_controls_set_the_config():
    e = Explorer()
    tc = e.task_controls
    tc.task.value = "mnist"
    assert tuple(tc.model.options) == TASKS["mnist"].models
    tc.model.value = "cnn"
    tc.batch_size.value = 128
    tc.unit.value = "steps"
    tc.budget.value = 77
    tc.seed.value = 3
    config = e.state.config()
    assert (config.task, config.model, config.batch_size, config.budget, config.seed) == \
        ("mnist", "cnn", 128, Budget("steps", 77), 3)
    assert "MNIST" in tc.about.value
    tc.task.value = "digits"                                          # a model digits lacks falls back
    assert e.state.model == "mlp" and tc.model.value == "mlp"


# -- running ------------------------------------------------------------------------------------------------------
def test_run_button_trains_and_the_charts_get_the_data():
    e = explorer_for("sgd(0.01)/sgd(0.01)", 150)
    e.run_controls.run.click()
    assert e.wait(120) == "done"
    run = e.current_run
    assert run.steps_done == 150 and run.config.tower == "sgd/sgd"
    assert "Done after 150 steps" in e.run_controls.status.value and e.run_controls.progress.value == 1.0
    loss = trace(e.charts.loss, "train loss")
    assert len(loss.x) == 150 and loss.x[-1] == 150
    assert np.allclose(loss.y, run.metrics()["train_loss"])
    assert len(trace(e.charts.loss, "train loss (smoothed)").y) == 150
    assert len(trace(e.charts.loss, "test loss").x) == len(run.evaluations()["step"]) >= 2
    assert len(trace(e.charts.accuracy, "test accuracy").y) >= 2
    assert len(e.charts.levels) == 1                                  # a chart per level that learns
    alpha = trace(e.charts.levels[0], "alpha")
    assert len(alpha.x) == 150 and np.allclose(alpha.y, run.metrics()["level1.alpha"])
    assert alpha.y[-1] != pytest.approx(0.01)                         # level 2 tuned it
    assert "alpha = 0.01" in e.charts.fixed.value and "fixed" in e.charts.fixed.value   # the top level
    assert e.charts.levels[0].layout.yaxis.type == "log"              # positive step sizes: log axis
    assert "negative" not in e.charts.levels[0].layout.title.text
    assert e.alerts.alerts == []
    no_observer_errors(e)


def test_a_long_run_is_drawn_thinned_and_its_status_line_counts_steps():
    e = explorer_for("sgd(0.01)/sgd(0.01)", 3 * MAX_POINTS)
    e.run_controls.run.click()
    wait_until(lambda: "Training: step" in e.run_controls.status.value and e.state.steps_done > 0, "the status line")
    assert e.wait(300) == "done"
    loss = trace(e.charts.loss, "train loss")
    assert MAX_POINTS // 2 < len(loss.x) <= MAX_POINTS + 2 and loss.x[-1] == 3 * MAX_POINTS
    assert min(loss.y) == pytest.approx(e.current_run.metrics()["train_loss"].min())  # spikes survive


def test_pause_step_and_stop_from_button_clicks():
    e = explorer_for("sgd(0.01)/sgd(0.01)", LONG)
    rc = e.run_controls
    rc.run.click()
    wait_until(lambda: e.state.status == "running" and e.current_run.steps_done > 5, "the run to train")
    assert not rc.pause.disabled and rc.run.disabled
    rc.pause.click()
    wait_until(lambda: "Paused at step" in rc.status.value, "Pause on the status line")
    assert e.state.status == "paused" and not rc.run.disabled
    done = e.current_run.steps_done
    rc.step.click()                                                   # exactly one more: none while paused
    # the run's own status: it says paused again once the step's row is recorded (the explorer's status, relayed
    # from the run's thread, can still say paused from before the step while the step trains)
    wait_until(lambda: e.current_run.steps_done == done + 1 and e.current_run.status == "paused", "one Step")
    assert e.current_run.metrics()["step"].tolist() == list(range(1, done + 2))
    wait_until(lambda: points(e.charts.loss, "train loss") == done + 1, "the step on the chart")
    rc.run.click()                                                    # Run resumes a paused run
    wait_until(lambda: e.current_run.steps_done > done + 5, "the resumed run to train")
    rc.stop.click()
    assert e.wait(30) == "stopped"
    assert "Stopped at step" in rc.status.value and rc.stop.disabled
    assert points(e.charts.loss, "train loss") == e.current_run.steps_done
    no_observer_errors(e)


def test_a_double_click_on_run_starts_one_run_and_finished_runs_stay_as_overlays():
    e = explorer_for("sgd(0.01)/sgd(0.01)", 100)
    e.run_controls.run.click()
    first = e.state.current
    e.run_controls.run.click()                                        # a double click
    assert e.state.current is first and e.state.compared == []
    e.wait(60)
    e.run_controls.run.click()                                        # a new run: the finished one is kept
    assert e.state.current is not first and e.state.compared == [first]
    e.wait(60)
    assert points(e.charts.loss, first.label) == 100                  # its smoothed loss, dashed
    assert trace(e.charts.loss, first.label).line.dash == "dash"
    assert f"{first.label}: alpha" in [t.name for t in e.charts.levels[0].data]
    rows = e.compare_panel.text()
    assert first.label in rows and "(on the charts)" in rows
    e.compare_panel.clear.click()
    assert e.state.compared == [] and points(e.charts.loss, first.label) == 0


def test_changing_the_tower_during_a_run_applies_to_the_next_run_and_says_so():
    e = explorer_for("sgd(0.01)/sgd(0.01)", LONG)
    e.run_controls.run.click()
    wait_until(lambda: e.state.status == "running", "the run to start")
    e.tower_editor.preset.value = "Adam / Adam"
    assert "next run" in e.run_controls.notice.value and "sgd/sgd" in e.run_controls.notice.value
    assert e.current_run.config.tower == "sgd/sgd"
    assert len(e.charts.levels) == 1 and "SGD" in e.charts.levels[0].layout.title.text
    e.run_controls.stop.click()
    e.wait(30)
    e.state.budget = 50
    e.run_controls.run.click()
    assert e.run_controls.notice.value == ""
    assert e.wait(60) == "done" and e.current_run.config.tower == "adam/adam"
    assert "Adam" in e.charts.levels[0].layout.title.text
    assert {"alpha", "beta1", "beta2"} <= {t.name for t in e.charts.levels[0].data}
    layout = e.charts.levels[0].layout   # betas in a strip of their own, below the step size, on the same steps
    assert layout.yaxis2.overlaying is None and layout.yaxis2.domain[1] < layout.yaxis.domain[0]
    assert layout.xaxis.anchor == "y2" and {t.yaxis for t in e.charts.levels[0].data} == {"y", "y2"}
    for fig in [e.charts.loss, e.charts.accuracy, *e.charts.levels]:   # no tick label measured at each redraw
        axes = {k: v for k, v in fig.layout.to_plotly_json().items() if k.startswith(("xaxis", "yaxis"))}
        assert {k: v.get("ticklabeloverflow") for k, v in axes.items()} == dict.fromkeys(axes, "allow")


def test_reset_forgets_the_current_run():
    e = explorer_for("sgd(0.01)/sgd(0.01)", 60)
    e.run(wait=True)
    e.run_controls.reset.click()
    assert e.state.current is None and e.state.status == "idle" and e.run_controls.progress.value == 0
    assert points(e.charts.loss, "train loss") == 0


# -- comparing ------------------------------------------------------------------------------------------------------
def test_the_frozen_baseline_button_adds_a_second_run_as_an_overlay():
    e = explorer_for("sgd(0.02)/sgd(0.01)", 120)
    e.run(wait=True)
    e.compare_panel.baseline.click()
    assert len(e.state.compared) == 1
    baseline = e.state.compared[0]
    assert baseline.config.tower == baseline_spec("sgd(0.02)/sgd(0.01)") == "sgd(0.02)"
    assert baseline.wait(60) == "done"
    wait_until(lambda: points(e.charts.loss, baseline.label) == 120, "the baseline's loss overlay")
    frozen = trace(e.charts.levels[0], f"{baseline.label}: alpha")
    assert np.allclose(frozen.y, 0.02)                                # frozen at its initial value
    assert not np.allclose(trace(e.charts.levels[0], "alpha").y, 0.02)
    wait_until(lambda: "frozen: sgd(0.02)" in e.compare_panel.text() and "done" in e.compare_panel.text(),
               "the compare table")
    no_observer_errors(e)


def test_a_learning_rate_free_reference_run_prodigy():
    e = explorer_for("adam/sgd(1e-5)", 80)
    button = e.compare_panel.references["prodigy"]
    assert not button.disabled, button.tooltip
    button.click()
    shown = e.state.compared[0]
    assert shown.wait(60) == "done" and shown.run.config.baseline == "prodigy"
    wait_until(lambda: points(e.charts.loss, "Prodigy") == 80, "Prodigy's loss overlay")
    assert points(e.charts.accuracy, "Prodigy") >= 2
    assert points(e.charts.levels[0], "Prodigy: alpha") == 80          # its effective step size
    no_observer_errors(e)


# -- things going wrong ------------------------------------------------------------------------------------------
def test_a_negative_step_size_is_shown_and_flagged():
    e = explorer_for("sgd(0.01)/sgd(100)", 100)                       # the paper's example drives alpha negative
    e.run(wait=True)
    alpha = trace(e.charts.levels[0], "alpha")
    assert min(alpha.y) < 0                                           # shown, not hidden
    level1 = e.charts.levels[0].layout
    assert level1.yaxis.type == "linear" and level1.yaxis.zeroline
    assert "went negative" in level1.title.text
    assert "alpha = 100" in e.charts.fixed.value                      # the top level's step size stays put
    run = e.current_run
    alpha = run.metrics()["level1.alpha"]
    step = int(run.metrics()["step"][np.argmax(alpha < 0)])
    assert e.alerts.alerts == [f"Level 1's alpha went negative at step {step} ({alpha[alpha < 0][0]:.3g}): that level "
                               "now steps uphill."]                    # once, where it first happened
    assert f"went negative at step {step} " in e.run_controls.alerts.value
    e.state.budget = 3                                                 # a run too short to go negative
    e.run(wait=True)
    assert e.alerts.alerts == [] and e.run_controls.alerts.value == ""   # a new run: its own alerts only
    e.alerts._on_update(e.state.compared[-1], _update_of(run))        # a late update of the old run adds nothing
    assert e.alerts.alerts == []


def _update_of(run):
    from gdtuo_explore.engine.dispatch import Update

    return Update(status=run.status, message=run.message, step=run.steps_done, total_steps=run.total_steps,
                  epoch=run.epoch, progress=run.progress, elapsed=run.elapsed, steps_per_second=0.0,
                  rows=run.metrics(), evaluations=run.evaluations())


def test_divergence_shows_the_step_and_the_reason():
    e = explorer_for("adam(0.01)/sgd(1e6)", 200)
    assert e.run(wait=True) == "diverged"
    status = e.run_controls.status.value
    assert "Diverged at step" in status and "non-finite" in status and "gd-diverged" in status
    step = e.current_run.steps_done
    assert f"step {step + 1}" in status or f"step {step}" in status
    assert points(e.charts.loss, "train loss") == step


def test_a_run_that_cannot_start_shows_a_plain_message(tmp_path):
    e = explorer_for("sgd", 10, task="mnist")
    e.state.options = {"data_root": str(tmp_path), "task_options": {"download": False}}
    e.run_controls.run.click()
    assert e.wait(60) == "error"
    assert "Could not start" in e.run_controls.status.value and "MNIST" in e.run_controls.status.value
    assert not e.run_controls.run.disabled                             # fix the setup and try again


# -- sweep, export, restore -----------------------------------------------------------------------------------
def test_the_sweep_panel_runs_a_tiny_grid_in_the_background():
    e = Explorer()
    sp = e.sweep_panel
    sp.alphas.value, sp.heights.value, sp.steps.value = "0.001, 0.1", "0, 1", 20
    sp.start.click()
    assert e.state.sweep.status == "running" and sp.stop.disabled is False
    assert e.state.sweep.wait(300) == "done"
    rows = e.state.sweep.rows
    assert len(rows) == 4 and {(r["height"], r["alpha"]) for r in rows} == {(0, 0.001), (0, 0.1), (1, 0.001),
                                                                           (1, 0.1)}
    assert sp.progress.value == 4 == sp.progress.max
    for fig in (sp.loss, sp.accuracy):
        assert [t.name for t in fig.data] == ["height 0", "height 1"]
        assert all(list(t.x) == [0.001, 0.1] for t in fig.data)
        assert fig.layout.xaxis.type == "log"
    assert list(sp.accuracy.data[0].y) == [r["final_test_accuracy"] for r in rows[:2]]
    sp.heights.value = "0, x"
    sp.start.click()
    assert e.state.sweep.status == "error" and "heights" in sp.status.value


def test_export_writes_files_and_the_explorer_json_restores_the_setup(tmp_path):
    e = explorer_for("rmsprop(0.003)/sgd(1e-4)", 40, batch_size=32, seed=5)
    e.state.sweep.alphas = "0.01, 1"
    e.run(wait=True)
    e.export_panel.folder.value = str(tmp_path / "out")
    e.export_panel.export.click()
    assert "Wrote" in e.export_panel.result.value
    out = tmp_path / "out"
    for name in ("explorer.json", "config.json", "metrics.csv", "evaluations.csv", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert len((out / "metrics.csv").read_text().splitlines()) == 41
    saved = json.loads((out / "explorer.json").read_text())
    assert saved["config"]["tower"] == "rmsprop(0.003)/sgd(0.0001)"

    again = Explorer(config=out / "explorer.json")
    s = again.state
    assert (s.tower, s.batch_size, s.seed, s.unit, s.budget, s.task) == \
        ("rmsprop(0.003)/sgd(0.0001)", 32, 5, "steps", 40, "digits")
    assert again.tower_editor.spec.value == s.tower and again.tower_editor.cards[0].kind.value == "RMSProp"
    assert again.sweep_panel.alphas.value == "0.01, 1"
    assert again.state.config().to_dict() == e.state.config().to_dict()
    from_run = Explorer(config=str(out / "config.json"))               # a run's config.json opens too
    assert from_run.state.tower == s.tower and from_run.state.budget == 40
    from_object = Explorer(config=RunConfig(tower="sgd/sgd", epochs=2, device="cpu"))
    assert (from_object.state.tower, from_object.state.unit, from_object.state.budget) == ("sgd/sgd", "epochs", 2)
    with pytest.raises(ValueError, match="cannot read"):
        Explorer(config=tmp_path / "missing.json")
    with pytest.raises(ValueError, match="tower='sgd/' is invalid: empty level"):
        Explorer(config={"tower": "sgd/"})
    with pytest.raises(ValueError, match="unknown task 'foo'"):
        Explorer(config={"task": "foo"})
    elsewhere = Explorer(config={"tower": "sgd", "device": "cuda:7"})  # saved on a bigger machine
    assert elsewhere.state.device == e.task_controls.device.options[0][1] and "no device 'cuda:7'" in \
        elsewhere.state.notice


def test_a_view_that_connects_after_the_run_sees_the_charts():
    """Voila and a page reload build their views from the widgets' synced state, not from the update messages."""
    e = explorer_for("sgd/sgd", 40)
    e.run(wait=True)
    no_observer_errors(e)
    for fig in [e.charts.loss] + e.charts.levels:
        state = fig.get_state()
        assert state["_widget_layout"]["title"]["text"] == fig.layout.title.text != ""
        synced = {t["uid"]: t for t in state["_widget_data"]}
        for t in fig.data:
            assert len(synced[t.uid]["x"]) == len(t.x) > 0
