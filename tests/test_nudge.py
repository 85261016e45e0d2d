"""Nudging a run (Run.nudge: set one hyperparameter between two steps while it trains, is paused or has not
started), its record (Run.nudges, nudges.csv, observers' updates) and the last step's details (Run.last_update)."""
import csv
import threading

import numpy as np
import pytest

from gdtuo_explore.engine.config import RunConfig
from gdtuo_explore.engine.run import Run

KAPPA = 1e-5


def bowl(steps=400, tower=f"sgd(0.001)/sgd({KAPPA})", **options):
    """SGD/SGD on the ill-conditioned bowl, recording hypergradients."""
    return Run(RunConfig(task="surface", model="quadratic", tower=tower, steps=steps, record_hypergrads=True,
                         **options))


def wait_for(predicate, what, timeout=60.0):
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        done.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_nudge_while_training_is_applied_between_two_steps_and_learning_goes_on_from_it():
    run = bowl(steps=3000)
    run.pace = 500
    run.start()
    wait_for(lambda: run.steps_done >= 20, "20 steps")
    record = run.nudge("level1.alpha", 0.02)
    assert run.wait(60) == "done"
    s = record["step"]
    assert 20 <= s < 3000 and record["column"] == "level1.alpha" and record["new"] == 0.02
    m = run.metrics()
    alpha, hg = m["level1.alpha"], m["level1.alpha.hypergrad"]
    assert record["old"] == pytest.approx(alpha[s - 1], rel=1e-6)     # row s-1 is step s, the last before it
    # step s+1 started from the nudged value: one hypergradient step from 0.02
    assert alpha[s] == pytest.approx(0.02 - KAPPA * hg[s], rel=1e-6)
    # before the nudge, every step followed the rule from the step before
    np.testing.assert_allclose(alpha[1:s], alpha[:s - 1] - KAPPA * hg[1:s], rtol=1e-5)
    assert run.nudges() == [record]


def test_a_paused_run_takes_a_nudge_at_once_and_a_run_not_started_from_its_first_step():
    run = bowl()
    assert run.step(10) == "paused"
    record = run.nudge("level1.alpha", 0.01)
    assert record["step"] == 10 and run.nudges() == [record]
    assert run.optimizer.hyperparameters()[0]["alpha"] == pytest.approx(0.01)
    run.step(1)
    m = run.metrics()
    assert m["level1.alpha"][10] == pytest.approx(0.01 - KAPPA * m["level1.alpha.hypergrad"][10], rel=1e-6)
    run.close()

    fresh = bowl(steps=5)
    assert fresh.nudge("level1.alpha", 0.004)["step"] == 0
    fresh.run()
    assert fresh.metrics()["level1.alpha"][0] == pytest.approx(0.004)   # the first step does not move it


def test_a_fixed_hyperparameter_keeps_the_nudged_value_and_its_column_shows_when():
    run = bowl(steps=30)
    run.step(10)
    run.nudge("level2.alpha", 2e-5)
    run.resume()
    assert run.wait(60) == "done"
    kappa = run.metrics()["level2.alpha"]
    assert kappa[:10].tolist() == [KAPPA] * 10 and kappa[10:].tolist() == [2e-5] * 20


def test_after_a_kick_past_the_stability_limit_the_level_above_moves_alpha_down():
    """What a teacher shows: multiply alpha by 30, past the stability limit of the bowl (2/50). The kicked step
    overshoots along y, the steep direction, and the overshoots grow; within a few steps the successive gradients
    point against each other: the hypergradient turns positive and the level above lowers alpha at every step.
    (Whether it is lowered in time is another matter: see notebooks/landscape.ipynb.)"""
    run = bowl(steps=400, tower="sgd(0.001)/sgd(1e-6)")
    run.step(15)
    kicked = 30 * run.optimizer.hyperparameters()[0]["alpha"]
    assert kicked > 2 / 50
    run.nudge("level1.alpha", kicked)
    run.step(5)
    m = run.metrics()
    alpha, hg = m["level1.alpha"], m["level1.alpha.hypergrad"]
    assert alpha[15] == pytest.approx(kicked - 1e-6 * hg[15], rel=1e-6)
    # the overshoot along y grows until its gradients outweigh the steady ones along x
    first = 16 + int(np.argmax(hg[16:] > 0))
    assert hg[first] > 0 and first <= 18
    assert (hg[first:] > 0).all() and (np.diff(alpha[first - 1:]) < 0).all()
    run.close()


@pytest.mark.parametrize("column,value,message", [
    ("level3.alpha", 0.1, r"cannot nudge 'level3.alpha': it is not a hyperparameter of this run; its "
                          r"hyperparameters: level1.alpha, level1.mu, level2.alpha, level2.mu"),
    ("alpha", 0.1, r"cannot nudge 'alpha': it is not a hyperparameter"),
    ("level1.alpha.hypergrad", 0.1, r"cannot nudge 'level1.alpha.hypergrad'"),
    ("level1.beta1", 0.5, r"cannot nudge 'level1.beta1'"),
    ("level1.alpha", float("nan"), r"cannot nudge level1.alpha: alpha=nan is invalid for level 1 \(sgd\): must be "
                                   r"a finite number >= 0"),
    ("level1.alpha", float("inf"), r"alpha=inf is invalid"),
    ("level1.alpha", -1.0, r"alpha=-1.0 is invalid"),
    ("level1.alpha", "big", r"alpha='big' is invalid"),
    ("level1.mu", 1.5, r"cannot nudge level1.mu: mu=1.5 is invalid for level 1 \(sgd\): must be in the interval"),
])
def test_a_bad_nudge_names_what_is_wrong_and_leaves_the_run_as_it_was(column, value, message):
    run = bowl(steps=40)
    run.step(10)
    before = run.optimizer.hyperparameters()
    with pytest.raises(ValueError, match=message):
        run.nudge(column, value)
    assert run.optimizer.hyperparameters() == before and run.nudges() == []
    assert run.status == "paused"
    run.resume()
    assert run.wait(60) == "done"


def test_a_finished_or_baseline_run_cannot_be_nudged():
    run = bowl(steps=5)
    run.run()
    with pytest.raises(ValueError, match=r"cannot nudge level1.alpha: the run has finished \(done\); a nudge needs "
                                         r"a run that trains, is paused or has not started"):
        run.nudge("level1.alpha", 0.1)
    stopped = bowl(steps=5)
    stopped.close()
    with pytest.raises(ValueError, match="finished"):
        stopped.nudge("level1.alpha", 0.1)
    baseline = Run(RunConfig(task="surface", baseline="prodigy", steps=5))
    with pytest.raises(ValueError, match="a prodigy baseline run has no tower hyperparameters"):
        baseline.nudge("level1.alpha", 0.1)


def test_export_writes_the_nudges_and_observers_get_them(tmp_path):
    seen = []
    run = bowl(steps=60)
    run.add_observer(lambda update: seen.extend(update.nudges))
    run.step(10)
    first = run.nudge("level1.alpha", 0.01)
    run.step(10)
    second = run.nudge("level2.alpha", 3e-5)
    run.resume()
    assert run.wait(60) == "done"
    paths = run.export(tmp_path)
    with open(paths["nudges"]) as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["step"]), r["column"], float(r["old"]), float(r["new"])) for r in rows] == [
        (n["step"], n["column"], n["old"], n["new"]) for n in (first, second)]
    assert seen == [first, second]
    empty = bowl(steps=3)
    empty.run()
    with open(empty.export(tmp_path / "none")["nudges"]) as f:
        assert f.read().splitlines() == ["step,column,old,new"]


def test_last_update_gives_the_step_table_of_a_paused_run():
    run = bowl(tower=f"sgd(0.001)/sgd({KAPPA})/sgd(1e-13)")
    run.step(25)
    update = run.last_update()
    m = run.metrics()
    assert update["step"] == 25 and [level["level"] for level in update["levels"]] == [1, 2]
    level1 = update["levels"][0]
    values = level1["values"]["alpha"]
    assert values["before"] == pytest.approx(m["level1.alpha"][-2])
    assert values["after"] == pytest.approx(m["level1.alpha"][-1])
    assert values["hypergrad"] == pytest.approx(m["level1.alpha.hypergrad"][-1])
    assert values["after"] == pytest.approx(values["before"] - m["level2.alpha"][-1] * values["hypergrad"], rel=1e-6)
    product = level1["product"]
    assert product["dot"] == pytest.approx(-values["hypergrad"], rel=1e-6)
    # level 1's vectors are the gradients of f at the last two points: (x, 50 y)
    (x0, y0), (x1, y1) = zip(m["x"][-2:], m["y"][-2:])
    assert product["direction"]["head"] == pytest.approx([x0, 50 * y0], rel=1e-5)
    assert product["gradient"]["head"] == pytest.approx([x1, 50 * y1], rel=1e-5)
    assert product["dot"] == pytest.approx(x0 * x1 + 2500 * y0 * y1, rel=1e-4)
    run.close()


def test_last_update_needs_record_hypergrads():
    run = Run(RunConfig(task="surface", tower="sgd(0.001)/sgd(1e-9)", steps=5))
    run.run()
    with pytest.raises(ValueError, match=r"RunConfig\(\.\.\., record_hypergrads=True\)"):
        run.last_update()
    assert not [c for c in run.metrics() if c.endswith(".hypergrad")]
    with pytest.raises(ValueError, match="record_hypergrads=1 is invalid"):
        RunConfig(record_hypergrads=1)
    assert RunConfig.from_dict(RunConfig(record_hypergrads=True).to_dict()).record_hypergrads is True
