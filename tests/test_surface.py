"""The surface task: a point (x, y) on a named 2-D function, in the library, a Run, the command line, a sweep, the
report and the explorer; its functions, minima and grid for charts."""
import csv
import json
import math

import numpy as np
import pytest
import torch

from gdtuo_explore.cli import main
from gdtuo_explore.engine.config import RunConfig
from gdtuo_explore.engine.report import report_html, run_figures
from gdtuo_explore.engine.run import Run
from gdtuo_explore.engine.tasks import TASKS, make_task, surface
from gdtuo_explore.engine.tasks.surface import EPOCH_STEPS, MODELS


def grad64(model, x, y, **options):
    """The gradient of the surface at (x, y), by autograd in float64."""
    p = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
    surface.surface(model, **options)(p[0], p[1]).backward()
    return p.grad


def run(model="rosenbrock", tower="sgd(0.001)", steps=50, **options):
    config = RunConfig(task="surface", model=model, tower=tower, steps=steps, **options)
    r = Run(config)
    assert r.run() == "done", r.message
    return r


# -- the functions ------------------------------------------------------------------------------------------------
def test_the_task_is_registered_offline_with_its_five_models():
    spec = TASKS["surface"]
    assert spec.models == ("rosenbrock", "quadratic", "beale", "himmelblau", "saddle")
    assert spec.default_model == "rosenbrock" and not spec.needs_download


@pytest.mark.parametrize("model", MODELS)
def test_every_documented_minimum_is_a_zero_of_the_function_with_a_zero_gradient(model):
    s = surface.surface(model)
    assert surface.minima(model) == list(s.minima)
    for mx, my in s.minima:
        assert s(mx, my) == pytest.approx(0.0, abs=1e-20)
        assert float(grad64(model, mx, my).norm()) < 1e-9
        (x0, x1), (y0, y1) = s.bounds
        assert x0 < mx < x1 and y0 < my < y1
    sx, sy = s.start
    assert s(sx, sy) > 0.1 and s.distance(sx, sy) > 0.5
    assert s.bounds[0][0] < sx < s.bounds[0][1] and s.bounds[1][0] < sy < s.bounds[1][1]


def test_the_saddle_is_a_saddle_and_the_quadratic_has_the_asked_condition():
    h = torch.autograd.functional.hessian(lambda p: surface.surface("saddle")(p[0], p[1]),
                                          torch.zeros(2, dtype=torch.float64))
    eig = torch.linalg.eigvalsh(h)
    assert eig[0] < 0 < eig[1]
    assert float(grad64("saddle", 0.0, 0.0).norm()) == 0.0
    h = torch.autograd.functional.hessian(lambda p: surface.surface("quadratic", condition=7)(p[0], p[1]),
                                          torch.zeros(2, dtype=torch.float64))
    assert torch.linalg.eigvalsh(h).tolist() == pytest.approx([1.0, 7.0])


def test_the_grid_holds_the_function_rows_along_y():
    x, y, z = surface.grid("himmelblau", bounds=((-1, 2), (0, 4)), n=7)
    assert x.tolist() == pytest.approx(np.linspace(-1, 2, 7).tolist())
    assert y.tolist() == pytest.approx(np.linspace(0, 4, 7).tolist())
    assert z.shape == (7, 7)
    f = surface.surface("himmelblau")
    for i, j in [(0, 0), (2, 5), (6, 1)]:
        assert z[i, j] == pytest.approx(f(x[j], y[i]))
    x, y, z = surface.grid("quadratic", condition=10)
    assert z.shape == (200, 200) and (x[0], x[-1], y[0], y[-1]) == (-5.0, 5.0, -2.0, 2.0)
    assert z.min() >= 0


@pytest.mark.parametrize("call,message", [
    (lambda: surface.grid("beale", n=1), r"n=1 is out of range"),
    (lambda: surface.grid("beale", bounds=((1, 0), (0, 1))), r"bounds=\(\(1, 0\), \(0, 1\)\) is invalid"),
    (lambda: surface.grid("beale", bounds="wide"), r"bounds='wide' is invalid"),
    (lambda: surface.surface("ackley"), r"unknown surface 'ackley'; the surfaces: rosenbrock, quadratic"),
    (lambda: surface.surface("beale", condition=3), r"option condition=3 is for the model quadratic only"),
    (lambda: surface.surface("quadratic", condition=0.5), r"condition=0.5 is out of range"),
    (lambda: surface.surface("quadratic", condition=math.inf), r"condition=inf is out of range"),
])
def test_bad_chart_input_is_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the task -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("start", ["1,1", "1, 1", [1, 1], (1.0, 1.0)])
def test_start_takes_the_command_line_s_text_and_two_numbers(start):
    task = make_task("surface", "beale", start=start)
    torch.manual_seed(0)
    assert task.make_model().point.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("options,message", [
    ({"start": "1"}, r"option start='1' is invalid: give two finite numbers X,Y"),
    ({"start": "a,b"}, r"option start: 'a,b' is not a comma-separated list of numbers"),
    ({"start": [1, 2, 3]}, r"option start=\[1, 2, 3\] is invalid"),
    ({"start": [1, math.nan]}, r"option start=\[1, nan\] is invalid"),
    ({"start": 1}, r"option start=1 is invalid"),
    ({"noise": -1}, r"option noise=-1 is out of range"),
    ({"noise": math.inf}, r"option noise=inf is out of range"),
    ({"condition": 10}, r"option condition=10 is for the model quadratic only, not 'rosenbrock'"),
    ({"steps": 3}, r"unknown option 'steps' for task 'surface'; its options: start, noise, condition"),
])
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        make_task("surface", "rosenbrock", **options)


def test_metrics_hold_the_point_each_loss_was_computed_at_starting_from_the_start():
    alpha = 1e-3
    r = run("rosenbrock", f"sgd({alpha})", steps=40)
    m = r.metrics()
    assert (m["x"][0], m["y"][0]) == pytest.approx((-1.2, 1.0))
    f = surface.surface("rosenbrock")
    xy = torch.tensor(np.stack([m["x"], m["y"]], axis=1), dtype=torch.float32)
    assert np.array_equal(m["train_loss"], f(xy[:, 0], xy[:, 1]).double().numpy())   # float32, as computed
    # each next point is one plain SGD step from the one before (x, y are taken before the step)
    for t in range(len(m["x"]) - 1):
        g = grad64("rosenbrock", m["x"][t], m["y"][t])
        assert [m["x"][t + 1], m["y"][t + 1]] == pytest.approx((torch.tensor([m["x"][t], m["y"][t]],
                                                                              dtype=torch.float64)
                                                                 - alpha * g).tolist(), rel=1e-5, abs=1e-6)


def test_evaluations_report_the_loss_and_the_distance_to_the_nearest_minimum_and_no_accuracy():
    r = run("himmelblau", "adam(0.05)", steps=300)
    ev = r.evaluations()
    assert list(ev) == ["step", "test_loss", "distance_to_minimum"]
    assert ev["step"][0] == 0 and ev["test_loss"][0] == pytest.approx(170.0)       # f(0, 0)
    assert ev["distance_to_minimum"][0] == pytest.approx(math.hypot(3, 2))         # (3, 2) is the nearest
    final = r.final()
    assert final["test_accuracy"] is None
    assert final["distance_to_minimum"] == pytest.approx(ev["distance_to_minimum"][-1])
    assert final["distance_to_minimum"] < 1e-2 and final["test_loss"] < 1e-3
    assert "distance to the nearest minimum" in r.message and "accuracy" not in r.message


def test_an_epoch_is_a_fixed_number_of_steps_and_the_batch_size_does_nothing():
    a = Run(RunConfig(task="surface", tower="sgd(1e-4)", epochs=2, batch_size=7))
    b = Run(RunConfig(task="surface", tower="sgd(1e-4)", epochs=2, batch_size=64))
    assert a.total_steps == b.total_steps == 2 * EPOCH_STEPS
    assert a.eval_every == 20   # at least 10 evaluations per run: 200 steps / 10
    a.run()
    b.run()
    assert np.array_equal(a.metrics()["x"], b.metrics()["x"])
    assert a.metrics()["epoch"][-1] == 2


def test_noise_moves_the_gradient_not_the_loss_and_is_seeded():
    alpha, s = 0.01, 0.5
    noisy = run("quadratic", f"sgd({alpha})", steps=2000, task_options={"noise": s}, seed=3)
    m = noisy.metrics()
    f = surface.surface("quadratic")
    xy = torch.tensor(np.stack([m["x"], m["y"]], axis=1), dtype=torch.float32)
    assert np.array_equal(m["train_loss"], f(xy[:, 0], xy[:, 1]).double().numpy())
    p = np.stack([m["x"], m["y"]], axis=1)
    grads = np.stack([p[:, 0], 50 * p[:, 1]], axis=1)             # the exact gradient of (x^2 + 50 y^2) / 2
    noise = (p[:-1] - p[1:]) / alpha - grads[:-1]
    assert noise.std(axis=0) == pytest.approx([s, s], rel=0.1)
    assert abs(noise.mean()) < 0.05
    again = run("quadratic", f"sgd({alpha})", steps=2000, task_options={"noise": s}, seed=3)
    other = run("quadratic", f"sgd({alpha})", steps=2000, task_options={"noise": s}, seed=4)
    assert np.array_equal(again.metrics()["x"], m["x"])
    assert not np.array_equal(other.metrics()["x"], m["x"])


def test_the_saddle_holds_a_path_started_on_its_axis_and_noise_frees_it():
    on_axis = run("saddle", "sgd(0.1)", steps=300, task_options={"start": "-1.5,0"})
    assert on_axis.final()["test_loss"] == pytest.approx(0.25, abs=1e-6)          # stuck at the saddle (0, 0)
    noisy = run("saddle", "sgd(0.1)", steps=300, task_options={"start": "-1.5,0", "noise": 0.1})
    assert noisy.final()["distance_to_minimum"] < 0.1


def test_a_tower_runs_on_the_surface_with_hypergradients_and_a_report():
    r = run("quadratic", "sgd(0.001)/sgd(1e-5)", steps=200, record_hypergrads=True)
    m = r.metrics()
    assert {"x", "y", "level1.alpha", "level1.alpha.hypergrad"} <= set(m)
    assert m["level1.alpha"][-1] > 0.005                                        # it learned to step longer
    html = report_html(r)
    assert "Test accuracy" not in html and "Final test accuracy" not in html
    ids = [name for name, _ in run_figures(r)]
    assert ids[:2] == ["landscape", "loss"] and "accuracy" not in ids
    landscape = dict(run_figures(r))["landscape"]
    path = [t for t in landscape.data if t.name == "path"][0]
    assert len(path.x) == len(m["x"]) + 1 and path.x[0] == pytest.approx(-4.0)  # the start, each step's point, the end


# -- the command line, a sweep and the explorer ---------------------------------------------------------------------
def test_the_command_line_runs_the_issue_s_example(tmp_path, capsys):
    out = tmp_path / "beale"
    code = main(["run", "--task", "surface", "--model", "beale", "--option", "start=1,1", "--steps", "500",
                 "--stack", "adam(0.02)", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "distance to the nearest minimum" in capsys.readouterr().out
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 500 and (float(rows[0]["x"]), float(rows[0]["y"])) == (1.0, 1.0)
    assert json.loads((out / "config.json").read_text())["task_options"] == {"start": "1,1"}
    with open(out / "evaluations.csv") as f:
        assert next(csv.reader(f)) == ["step", "test_loss", "distance_to_minimum"]
    assert RunConfig.from_json(out / "config.json").task_options == {"start": "1,1"}


def test_the_command_line_lists_the_task_as_offline(capsys):
    assert main(["tasks"]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("surface")][0]
    assert "rosenbrock (default), quadratic, beale, himmelblau, saddle" in line and "offline" in line


def test_the_command_line_refuses_a_bad_start_with_status_2(tmp_path, capsys):
    assert main(["run", "--task", "surface", "--option", "start=1", "--steps", "5", "--out", str(tmp_path)]) == 2
    assert "option start=1 is invalid" in capsys.readouterr().err


def test_the_explorer_shows_a_surface_run_and_its_frozen_baseline_without_an_error():
    """The explorer's own landscape view is not here; what it shows today must work: the charts, the compare table
    (no made-up accuracy) and an overlay."""
    from gdtuo_explore import Explorer

    e = Explorer(RunConfig(task="surface", model="beale", tower="sgd(0.001)/sgd(1e-7)", steps=200,
                           task_options={"start": "1,1"}))
    try:
        e.state.pace = None
        assert e.state.start()
        assert e.state.wait(120) == "done"
        assert e.state.current.run.metrics()["x"][0] == 1.0
        baseline = e.state.add_baseline()
        assert baseline.wait(120) == "done", baseline.error
        e.compare_panel.redraw()
        rows = e.compare_panel.text().splitlines()
        assert rows[0].split(" | ")[3:5] == ["test accuracy", "test loss"]
        for row in rows[1:]:
            cells = row.split(" | ")
            assert cells[2] == "done" and cells[3] == "" and float(cells[4]) > 0
        assert not e.state.current.run.observer_errors and not baseline.run.observer_errors
    finally:
        e.close()
