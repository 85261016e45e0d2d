"""The sensitivity sweep: towers of each height from each initial step size, in a process pool."""
import csv

import pytest

from gdtuo_explore import parse_tower
from gdtuo_explore.engine.config import RunConfig
from gdtuo_explore.engine.run import Run
from gdtuo_explore.engine.sweep import COLUMNS, Sweep, sweep, tower_spec


def test_tower_spec_stacks_sgd_levels():
    for height in range(4):
        levels = parse_tower(tower_spec(0.05, height, kappa=1e-3)).levels()
        assert len(levels) == height + 1
        assert levels[0].kind == "sgd" and levels[0].values["alpha"] == 0.05
        assert all(level.kind == "sgd" and level.values["alpha"] == 1e-3 for level in levels[1:])


def test_tiny_sweep_in_two_processes_matches_single_runs():
    calls = []
    rows = sweep("digits", alphas=(1e-3, 0.1), heights=(0, 1), kappa=1e-2, steps=30, device="cpu", processes=2,
                 progress=lambda done, total, row: calls.append((done, total, row)))
    assert [(r["height"], r["alpha"]) for r in rows] == [(0, 1e-3), (0, 0.1), (1, 1e-3), (1, 0.1)]
    assert all(list(r) == COLUMNS and r["status"] == "done" for r in rows)
    assert [(done, total) for done, total, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(c[2]["tower"] for c in calls) == sorted(r["tower"] for r in rows)
    row = rows[3]  # one of them, trained again here, gives the same numbers (up to the workers' thread count)
    run = Run(RunConfig(task="digits", tower=row["tower"], steps=30, device="cpu"))
    run.run()
    assert run.final()["test_loss"] == pytest.approx(row["final_test_loss"], rel=1e-4)
    assert run.final()["test_accuracy"] == pytest.approx(row["final_test_accuracy"], abs=0.01)


def test_background_sweep_stops_and_exports(tmp_path):
    job = Sweep("digits", alphas=(1e-3, 1e-2, 0.1), heights=(0, 1, 2), steps=100_000, device="cpu", processes=2)
    assert (job.total, job.done, job.status) == (9, 0, "idle")
    job.start()
    assert job.status == "running"
    job.stop()
    assert job.wait(60) == "stopped"
    assert job.done < job.total and job.progress < 1
    paths = job.export(tmp_path)
    with open(paths["csv"]) as f:
        assert next(csv.reader(f)) == COLUMNS
    assert paths["report"].read_text().count("plotly.js v") == 1


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(heights=(0, -1)), "height -1"),
    (dict(alphas=(-0.1,)), "alpha=-0.1"),
    (dict(alphas=()), "at least one alpha"),
    (dict(task="nope"), "unknown task 'nope'"),
    (dict(steps=0), "steps=0"),
    (dict(processes=0), "processes=0"),
])
def test_bad_sweeps_are_refused_at_once(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        Sweep(**kwargs)
    assert fragment in str(err.value)


def test_a_sweep_has_the_life_cycle_of_a_run():
    """Sweep shares Run's life-cycle part: one state machine under one lock, the same answers to the controls."""
    job = Sweep("digits", alphas=(1e-3,), heights=(0,), steps=10, device="cpu", processes=1)
    assert (job.status, job.message) == ("idle", "not started")
    assert job.wait(0) == "idle"
    assert job.stop() == "stopped" and job.message == "stopped before it started"
    assert job.start().status == "stopped" and job.done == 0  # a stopped sweep does not start
    with pytest.raises(RuntimeError, match="this sweep was already started .*a Sweep runs once"):
        job.run()
    with pytest.raises(AttributeError):
        job.status = "running"  # the status changes only through the controls
