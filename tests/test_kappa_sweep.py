"""The sensitivity sweep over kappa (the step size of the levels above) as well as alpha and height: the grid, the
Sweep, its report, the command line and the explorer's SweepState; and a sweep of the surface task."""
import csv
import subprocess
import sys

import pytest

from gdtuo_explore.engine.config import RunConfig
from gdtuo_explore.engine.report import sweep_report_html
from gdtuo_explore.engine.run import Run
from gdtuo_explore.engine.sweep import COLUMNS, DEFAULT_KAPPA, Sweep, grid, grid_points, sweep, tower_spec
from gdtuo_explore.explorer.sweep_state import SweepState

SURFACE = dict(task="surface", model="quadratic", device="cpu")


def test_the_grid_runs_height_0_once_per_alpha_and_every_height_above_per_kappa():
    base = RunConfig(**SURFACE, steps=10)
    points = grid_points(base, [1e-3, 1e-2], [0, 1, 2], [1e-6, 1e-5])
    assert [(p.height, p.kappa, p.alpha) for p in points] == [
        (0, None, 1e-3), (0, None, 1e-2),
        (1, 1e-6, 1e-3), (1, 1e-6, 1e-2), (1, 1e-5, 1e-3), (1, 1e-5, 1e-2),
        (2, 1e-6, 1e-3), (2, 1e-6, 1e-2), (2, 1e-5, 1e-3), (2, 1e-5, 1e-2)]
    assert points[0].config.tower == "sgd(0.001)"
    assert points[-1].config.tower == tower_spec(1e-2, 2, 1e-5) == "sgd/sgd(1e-05)/sgd(1e-05)"   # 0.01: the default
    assert all(p.config.task == "surface" and p.seed == 0 for p in points)


def test_the_one_kappa_grid_is_unchanged():
    base = RunConfig(**SURFACE, steps=10)
    old = grid(base, [1e-3, 1e-2], [0, 1], 1e-4, seeds=[0, 1])
    assert [(h, a, s, c.tower) for h, a, s, c in old] == [
        (0, 1e-3, 0, "sgd(0.001)"), (0, 1e-3, 1, "sgd(0.001)"), (0, 1e-2, 0, "sgd"), (0, 1e-2, 1, "sgd"),
        (1, 1e-3, 0, "sgd(0.001)/sgd(0.0001)"), (1, 1e-3, 1, "sgd(0.001)/sgd(0.0001)"),
        (1, 1e-2, 0, "sgd/sgd(0.0001)"), (1, 1e-2, 1, "sgd/sgd(0.0001)")]
    assert Sweep(**SURFACE, alphas=[1e-3], heights=[1], steps=5).kappas == [DEFAULT_KAPPA]


@pytest.mark.parametrize("kwargs,message", [
    (dict(kappa=1e-3, kappas=[1e-4]), r"kappa=0.001 and kappas=\[0.0001\] are both given: give one"),
    (dict(kappas=[1e-4, 1e-4]), r"kappas=\[0.0001, 0.0001\] repeats a value"),
    (dict(kappas=[]), r"kappas=\[\] is empty"),
    (dict(kappas=[-1e-3]), r"alpha=0.001, kappa=-0.001: alpha=-0.001 is invalid for sgd"),
])
def test_bad_kappas_are_refused_at_once(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Sweep(**SURFACE, alphas=[1e-3], heights=[0, 1], steps=5, **kwargs)


def test_a_kappa_sweep_of_the_surface_task_matches_single_runs_and_reports_per_kappa(tmp_path):
    rows = sweep(alphas=(1e-3, 1e-2), heights=(0, 1), kappas=(1e-6, 1e-5), steps=60, processes=2,
                 task_options={"start": "-4,0.5"}, **SURFACE)
    assert [(r["height"], r["kappa"], r["alpha"]) for r in rows] == [
        (0, None, 1e-3), (0, None, 1e-2), (1, 1e-6, 1e-3), (1, 1e-6, 1e-2), (1, 1e-5, 1e-3), (1, 1e-5, 1e-2)]
    assert all(list(r) == COLUMNS and r["status"] == "done" for r in rows)
    assert all(r["final_test_accuracy"] is None for r in rows)            # a surface has no accuracy
    row = rows[-1]
    again = Run(RunConfig(**SURFACE, tower=row["tower"], steps=60, task_options={"start": "-4,0.5"}))
    again.run()
    assert again.final()["test_loss"] == pytest.approx(row["final_test_loss"], rel=1e-6)
    page = sweep_report_html(rows, tmp_path / "sweep.html")
    for name in ("height 0", "height 1, kappa 1e-06", "height 1, kappa 1e-05"):
        assert f'"name":"{name}"' in page
    assert 'id="final_test_loss"' in page and 'id="final_test_accuracy"' not in page
    assert "kappa 1e-06, 1e-05" in page


def cli(*args):
    return subprocess.run([sys.executable, "-m", "gdtuo_explore", *args], capture_output=True, text=True, timeout=600)


def test_the_command_line_sweeps_kappas_on_the_surface_task(tmp_path):
    out = tmp_path / "sweep"
    result = cli("sweep", "--task", "surface", "--model", "quadratic", "--option", "start=-4,0.5", "--alphas",
                 "1e-3,1e-2", "--kappas", "1e-6,1e-5", "--heights", "0,1", "--steps", "40", "--processes", "2",
                 "--device", "cpu", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("height 0 final loss by initial alpha: 0.001: ")
    assert lines[1].startswith("height 1, kappa 1e-06 final loss by initial alpha: ")
    assert lines[2].startswith("height 1, kappa 1e-05 final loss by initial alpha: ")
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["height"], r["kappa"], r["alpha"]) for r in rows] == [
        ("0", "", "0.001"), ("0", "", "0.01"), ("1", "1e-06", "0.001"), ("1", "1e-06", "0.01"),
        ("1", "1e-05", "0.001"), ("1", "1e-05", "0.01")]
    assert all(r["final_test_accuracy"] == "" and float(r["final_test_loss"]) >= 0 for r in rows)
    assert '"name":"height 1, kappa 1e-05"' in (out / "sweep.html").read_text()


@pytest.mark.parametrize("args,message", [
    (["--kappa", "1e-3", "--kappas", "1e-4,1e-3"], "--kappa and --kappas are both given"),
    (["--kappas", "1e-4,x"], "argument --kappas"),
    (["--storage", "sqlite:///x.db", "--kappas", "1e-4,1e-3"], "--kappas is for the local sweep"),
    (["--storage", "sqlite:///x.db", "--option", "start=1,1"], "--option is for the local sweep"),
])
def test_bad_kappa_flags_exit_2_with_one_line(tmp_path, args, message):
    result = cli("sweep", "--task", "surface", "--steps", "5", "--out", str(tmp_path / "s"), *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_explorer_s_sweep_model_takes_kappas():
    state = SweepState(alphas="0.001, 0.01", heights="0, 1", kappas="1e-6, 1e-5", steps=30)
    assert state.settings()["kappas"] == "1e-6, 1e-5"
    copy = SweepState()
    copy.load(state.settings())
    assert copy.kappas == "1e-6, 1e-5"
    assert state.start("surface", "quadratic", 64, 0, "cpu")
    assert state.wait(300) == "done"
    assert [(r["height"], r["kappa"]) for r in state.rows] == [(0, None), (0, None), (1, 1e-6), (1, 1e-6),
                                                              (1, 1e-5), (1, 1e-5)]
    bad = SweepState(kappas="1e-6, x")
    assert not bad.start("surface", "quadratic", 64, 0, "cpu")
    assert "kappas: '1e-6, x' is not a comma-separated list of numbers" in bad.message
