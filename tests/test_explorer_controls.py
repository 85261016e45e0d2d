"""The explorer's controls, driven without a browser: Run is off (and says why) while the setup is invalid, the
status line follows the charts, one overlay can be removed, overlays are capped and an evicted one stops,
``Explorer.close`` ends every thread, the speed menu reaches the run, "until stopped", one format for step counts,
whole numbers in specs, the "(download)" mark, and the export folder."""
import multiprocessing
import re
import threading
from pathlib import Path

import pytest

from gdtuo_explore import Explorer, parse_tower
from gdtuo_explore.engine.config import Budget, RunConfig, default
from gdtuo_explore.engine.sweep import QUICK_ALPHAS, QUICK_HEIGHTS, QUICK_STEPS
from gdtuo_explore.explorer import state as state_module, tower_edits
from gdtuo_explore.explorer.controls import SPEEDS, counts, found_offline, status_text
from gdtuo_explore.explorer.defaults import EXPLORER_BUDGET, EXPLORER_PACE
from gdtuo_explore.explorer.state import UNTIL_STOPPED, ExplorerState

from helpers import LONG, explorer_for, points, text, wait_until


def gdtuo_threads():
    return {t for t in threading.enumerate() if t.name.startswith("gdtuo")}


# -- an invalid setup ------------------------------------------------------------------------------------------------
BAD_SETUPS = [  # (how the setup goes bad, what the reason next to Run says)
    (lambda e: setattr(e.tower_editor.spec, "value", "adam/sgd(1e-5"), "unbalanced '('"),
    (lambda e: setattr(e.tower_editor.cards[0].rows["beta1"].text, "value", "1.5"), "beta1=1.5 is invalid"),
    (lambda e: setattr(e.tower_editor.cards[0].rows["alpha"].text, "value", "fast"), "alpha='fast' is not a number"),
    (lambda e: setattr(e.state, "options", {"eval_every": 0}), "eval_every=0 is out of range"),
    (lambda e: setattr(e.state, "options", {"hypergrad_clip": -1.0}), "hypergrad_clip=-1.0 is invalid"),
]


@pytest.mark.parametrize("spoil, reason", BAD_SETUPS)
def test_an_invalid_setup_turns_run_and_step_off_and_says_why(spoil, reason):
    e = Explorer()
    rc = e.run_controls
    assert not rc.run.disabled and rc.blocked.value == ""
    spoil(e)
    assert rc.run.disabled and rc.step.disabled
    assert reason in text(rc.blocked) and "Run is off" in text(rc.blocked) and reason in rc.run.tooltip
    assert e.state.start() is False and e.state.step() is False          # the command refuses too
    assert e.state.current is None and e.state.status == "idle"


def test_fixing_the_setup_turns_run_back_on_and_a_paused_run_can_still_resume():
    e = explorer_for("sgd(0.01)/sgd(0.01)", LONG)
    rc = e.run_controls
    e.tower_editor.spec.value = "sgd/"
    assert rc.run.disabled
    e.tower_editor.spec.value = "sgd(0.01)/sgd(0.01)"                    # the same tower again: error cleared
    assert not rc.run.disabled and rc.blocked.value == ""
    rc.step.click()                                                      # one step, then paused
    wait_until(lambda: e.state.status == "paused" and e.current_run.steps_done == 1, "one step")
    e.tower_editor.spec.value = "sgd(0.01"                               # a typo while paused
    assert not rc.run.disabled and rc.blocked.value == ""                # Run resumes the run on the charts
    rc.run.click()
    wait_until(lambda: e.current_run.steps_done > 5, "the paused run to resume")
    assert e.current_run.config.tower == "sgd/sgd"
    e.close()


# -- the status line follows the charts ------------------------------------------------------------------------------
def test_listeners_get_each_update_before_the_status_line_changes():
    e = explorer_for("sgd/sgd", 80)
    seen = []
    e.state.on_update(lambda shown, update: seen.append((update.final, update.status, e.state.status,
                                                         e.state.steps_done, update.step)))
    assert e.run(wait=True) == "done"
    final = [s for s in seen if s[0]]
    assert len(final) == 1 and final[0][1] == "done" and final[0][2] != "done"   # status still the old one
    assert all(state_steps <= step for _, _, _, state_steps, step in seen)
    assert e.state.status == "done" and e.state.steps_done == 80


def test_stop_leaves_the_status_line_and_the_chart_on_the_same_step():
    e = explorer_for("sgd/sgd", LONG)
    e.run()
    wait_until(lambda: e.state.status == "running" and e.state.steps_done > 20, "the run to train")
    e.run_controls.stop.click()
    assert e.wait(30) == "stopped"
    step = e.current_run.steps_done
    assert f"Stopped at step {step:,}" in text(e.run_controls.status)
    trace = next(t for t in e.charts.loss.data if t.name == "train loss")
    assert trace.x[-1] == step == e.state.steps_done     # the chart is thinned: its last point is the last step


# -- overlays ----------------------------------------------------------------------------------------------------
def test_the_x_on_a_row_removes_that_overlay_and_stops_it():
    e = explorer_for("sgd(0.02)/sgd(0.01)", 40)
    e.run(wait=True)
    first = e.state.current
    e.run(wait=True)                                                    # first is now an overlay, finished
    e.state.budget = LONG
    running = e.add_baseline()                                          # a second overlay, still training
    wait_until(lambda: running.status == "running", "the baseline to train")
    assert e.state.compared == [first, running]
    panel = e.compare_panel
    assert panel.rows[e.state.current.number].remove.layout.visibility == "hidden"   # no x for the current run
    panel.rows[running.number].remove.click()
    assert e.state.compared == [first] and running.status == "stopped"
    assert running.number not in panel.rows and running.label not in panel.text()
    assert points(e.charts.loss, running.label) == 0 and points(e.charts.loss, first.label) == 40
    assert e.state.remove_compared(running) is False                    # already gone
    panel.rows[first.number].remove.click()
    assert e.state.compared == [] and first.label not in panel.text()
    assert first.run.metrics()["step"][-1] == 40                        # records kept
    e.close()


def test_overlays_are_capped_and_the_evicted_one_stops(monkeypatch):
    monkeypatch.setattr(state_module, "MAX_COMPARED", 2)
    e = explorer_for("sgd(0.02)/sgd(0.01)", LONG)
    oldest = e.add_baseline()
    wait_until(lambda: oldest.status == "running", "the first overlay to train")
    others = [e.add_baseline(), e.add_baseline()]
    assert e.state.compared == others
    assert oldest.status == "stopped"                                   # evicted: no longer training unseen
    assert oldest.number not in e.compare_panel.rows and len(e.compare_panel.rows) == 2
    assert f"run{oldest.number}" not in {t.legendgroup for t in e.charts.loss.data}
    e.close()
    assert all(x.status == "stopped" for x in others)


# -- close -----------------------------------------------------------------------------------------------------------
def test_close_ends_every_thread_the_explorer_started():
    before = gdtuo_threads()
    children = set(multiprocessing.active_children())
    e = explorer_for("sgd(0.01)/sgd(0.01)", LONG)
    e.step(3)                                                           # a paused run
    wait_until(lambda: e.state.status == "paused", "the run to pause")
    overlay = e.add_baseline()                                          # a running overlay
    wait_until(lambda: overlay.status == "running", "the overlay to train")
    sp = e.sweep_panel
    sp.alphas.value, sp.heights.value, sp.steps.value = "0.01, 0.1", "0", 100_000
    sp.start.click()                                                    # a sweep
    assert e.state.sweep.status == "running"
    assert gdtuo_threads() - before
    e.close()
    assert not {t for t in gdtuo_threads() - before if t.is_alive()}, gdtuo_threads() - before
    assert set(multiprocessing.active_children()) <= children           # the sweep's worker processes too
    assert e.state.status == "paused" or e.current_run.status == "stopped"
    assert overlay.status == "stopped" and e.state.sweep.status == "stopped"
    assert e.current_run.metrics()["step"][-1] == 3                     # what was recorded stays
    e.close()                                                           # twice is fine


def test_reset_stops_a_paused_run():
    e = explorer_for("sgd/sgd", LONG)
    e.step(2)
    wait_until(lambda: e.state.status == "paused", "the run to pause")
    run = e.current_run
    e.reset()
    assert run.status == "stopped" and not [t for t in threading.enumerate() if t is run._control.thread]


# -- speed and "until stopped" ---------------------------------------------------------------------------------------
def test_the_speed_menu_sets_the_pace_of_the_run_on_the_charts_at_once():
    assert Explorer().run_controls.speed.value == EXPLORER_PACE == 50                 # a pace to watch by default
    e = explorer_for("sgd/sgd", LONG)                                   # (which sets max)
    speed = e.run_controls.speed
    assert list(SPEEDS) == ["max"] + [f"{n:,} steps/s" for n in (1000, 300, 100, 50, 30, 10, 3)] + ["1 step/s"]
    assert speed.value == 0.0 and e.state.pace is None
    speed.value = SPEEDS["30 steps/s"]
    assert e.state.pace == 30.0
    e.run()
    wait_until(lambda: e.current_run is not None, "the run to be built")
    assert e.current_run.pace == 30.0                                   # a new run starts at the chosen pace
    speed.value = SPEEDS["3 steps/s"]
    assert e.current_run.pace == 3.0                                    # and follows a change at once
    speed.value = SPEEDS["max"]
    assert e.state.pace is None and e.current_run.pace is None
    e.state.pace = 100.0                                                # the state drives the menu too
    assert speed.value == 100.0 and e.current_run.pace == 100.0
    e.close()


def test_until_stopped_trains_until_stop_and_the_status_line_has_no_total():
    e = explorer_for("sgd/sgd", 50)
    tc = e.task_controls
    assert list(tc.unit.options) == ["epochs", "steps", UNTIL_STOPPED]
    tc.unit.value = UNTIL_STOPPED
    assert tc.budget.disabled and e.state.setup_error == ""
    config = e.state.config()
    assert config.budget == Budget("until stopped") and config.total_steps(1000) is None
    tc.unit.value = "steps"
    assert not tc.budget.disabled and e.state.config().budget == Budget("steps", 50)
    saved = e.state.config()
    again = ExplorerState()
    again.load_config(saved)
    assert (again.unit, again.budget) == ("steps", 50)


def test_the_run_bar_of_a_run_until_stopped_hides_the_progress_bar_and_the_total():
    e = Explorer()
    s, rc = e.state, e.run_controls
    s.total_steps, s.steps_done, s.epoch, s.status = None, 4321, 7, "running"   # as an until-stopped update sets them
    assert rc.progress.layout.visibility == "hidden"
    assert "step 4,321 (until stopped), epoch 7" in text(rc.status) and " of " not in text(rc.status)
    s.total_steps = 10_000
    assert rc.progress.layout.visibility == "visible" and "step 4,321 of 10,000" in text(rc.status)


STATUS_LINES = [  # (status, message, steps done, total steps, epoch, steps/s) -> the line
    (("running", "", 200_000, 1_000_000, 3, 1234.4), "Training: step 200,000 of 1,000,000, epoch 3 · 1,234 steps/s"),
    (("running", "", 1234, None, 2, 0.0), "Training: step 1,234 (until stopped), epoch 2"),
    (("paused", "paused at step 200000 of 1000000", 0, 0, 0, 0.0), "Paused at step 200,000 of 1,000,000"),
    (("paused", "paused at step 200000", 0, None, 0, 0.0), "Paused at step 200,000"),
    (("stopped", "stopped at step 999 of 1000", 0, 0, 0, 0.0), "Stopped at step 999 of 1,000"),
    (("diverged", "diverged at step 41200: non-finite level1.alpha (1e+06)", 0, 0, 0, 0.0),
     "Diverged at step 41,200: non-finite level1.alpha (1e+06)"),
    (("done", "done after 1500 steps, test accuracy 0.9611, test loss 0.0001234", 0, 0, 0, 0.0),
     "Done after 1,500 steps, test accuracy 0.9611, test loss 0.0001234"),
]


@pytest.mark.parametrize("args, line", STATUS_LINES)
def test_step_counts_read_the_same_running_paused_and_stopped(args, line):
    assert status_text(*args) == line


def test_counts_groups_whole_numbers_only():
    assert counts("step 200000 of 1000000") == "step 200,000 of 1,000,000"
    assert counts("1e+06 0.00012345 level12.alpha 999 3.14159") == "1e+06 0.00012345 level12.alpha 999 3.14159"


# -- text ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, shown", [
    ("sgd(0.01)/sgd(100)", "sgd/sgd(100)"),
    ("sgd(100.0, mu=0.5)", "sgd(100, mu=0.5)"),
    ("adam(1.0)/sgd(2.5)", "adam(1)/sgd(2.5)"),
    ("sgd(1e-5)/sgd(1e20)", "sgd(1e-05)/sgd(1e+20)"),
])
def test_specs_show_whole_numbers_without_a_point_zero(spec, shown):
    assert tower_edits.canonical(spec) == shown == tower_edits.canonical(shown)


def test_the_negative_step_size_preset_reads_sgd_100_everywhere():
    e = Explorer()
    e.tower_editor.preset.value = "SGD / SGD(100): step size goes negative"
    assert e.tower_editor.spec.value == e.state.tower == "sgd/sgd(100)"
    assert e.tower_editor.preset.value == "SGD / SGD(100): step size goes negative"
    e.tower_editor.cards[1].rows["alpha"].text.value = "250"
    assert e.state.tower == "sgd/sgd(250)"


def test_the_optimizer_menu_has_every_level_kind_of_the_core():
    from gdtuo_explore.core.optimizers import KINDS
    menu = tower_edits.choices()
    assert set(menu.values()) == set(KINDS)
    assert menu["SGD, a step size per tensor"] == "sgd_per_param"
    assert menu["AdamW"] == "adamw" and menu["Lion"] == "lion"
    assert list(menu)[:3] == ["SGD", "SGD with momentum", "SGD with Nesterov momentum"]


@pytest.mark.parametrize("label,spec", [
    ("SGD with Nesterov momentum", "sgd(0.05, mu=0.9, nesterov=true)/sgd(0.001)"),
    ("SGD with momentum", "sgd(0.05, mu=0.9)/sgd(0.001)"),
    ("AdamW", "adamw/sgd(0.001)"),
    ("Lion", "lion/sgd(0.001)"),
])
def test_the_menu_switches_to_the_automatic_levels(label, spec):
    """Nesterov momentum, AdamW and Lion from the level menu; edits keep an option such as nesterov=true."""
    assert tower_edits.with_choice("sgd(0.05)/sgd(1e-3)", 0, label) == spec
    card_label = tower_edits.choice(tower_edits.levels(spec)[0])
    assert card_label == label
    edited = tower_edits.with_value(spec, 0, "alpha", 0.02)
    assert tower_edits.levels(edited)[0].options() == tower_edits.levels(spec)[0].options()
    assert tower_edits.levels(edited)[0].values["alpha"] == 0.02


def test_the_download_mark_shows_only_when_the_data_is_not_on_this_machine(tmp_path):
    root = str(tmp_path)
    assert found_offline("digits", root)
    assert not found_offline("mnist", root) and not found_offline("cifar10", root)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"")
    assert found_offline("mnist", root)
    debian = bool(list(Path("/usr/share/datasets/fashion-mnist").glob("*-ubyte.gz")))
    assert found_offline("fashion-mnist", root) == debian
    e = ExplorerState(options={"data_root": root})
    from gdtuo_explore.explorer.controls import TaskControls
    labels = dict((v, k) for k, v in TaskControls(e).task.options)
    assert labels["mnist"] == "mnist" and labels["cifar10"] == "cifar10 (download)"
    assert labels["fashion-mnist"] == ("fashion-mnist" if debian else "fashion-mnist (download)")


# -- defaults and export ---------------------------------------------------------------------------------------------
def test_defaults_come_from_the_engine_and_the_explorers_own():
    s = ExplorerState()
    config, scripted = s.config(), RunConfig()
    for name in ("task", "batch_size", "seed", "divergence_factor"):   # RunConfig's defaults
        assert getattr(config, name) == getattr(scripted, name) == default(name), name
    assert config.model == scripted.model and config.tower == scripted.tower == str(parse_tower(default("tower")))
    assert config.budget == EXPLORER_BUDGET and s.pace == EXPLORER_PACE                  # the explorer's own
    assert s.sweep.alphas == ", ".join(f"{a:g}" for a in QUICK_ALPHAS)
    assert s.sweep.heights == ", ".join(map(str, QUICK_HEIGHTS)) and s.sweep.steps == QUICK_STEPS


def test_export_goes_to_a_new_folder_in_the_home_folder_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    e = explorer_for("sgd/sgd", 20)
    folder = e.export_panel.folder.value
    assert re.fullmatch(r"~/gdtuo-explore-exports/explorer-\d{8}-\d{6}", folder) and e.exporter.folder == folder
    e.run(wait=True)
    e.export_panel.export.click()
    written = next((tmp_path / "gdtuo-explore-exports").iterdir())
    assert (written / "explorer.json").is_file() and (written / "metrics.csv").is_file()
    assert str(written) in text(e.export_panel.result) and "Wrote" in text(e.export_panel.result)
    e.export_panel.folder.value = str(tmp_path / "mine")                 # a folder the user picks
    e.export_panel.export.click()
    assert (tmp_path / "mine" / "report.html").is_file() and str(tmp_path / "mine") in text(e.export_panel.result)
    e.export_panel.folder.value = " "
    e.export_panel.export.click()
    assert "needs a folder" in text(e.export_panel.result)
