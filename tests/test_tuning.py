"""A tower or a tuner? (``gdtuo-explore versus-tuning``, gdtuo_explore.engine.tuning): the command writes its files
and lines, the tuner is Optuna's TPE with the run's seed (checked against Optuna itself), the summary's counts follow
the rows, bad input exits 2."""
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import optuna

import pytest
from PIL import Image

from gdtuo_explore.engine.tuning import COLUMNS, VersusTuning, summary_lines

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "gdtuo_explore", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=env)


def test_the_command_writes_its_files_and_a_line_per_method(tmp_path):
    result = _cli("versus-tuning", "--task", "digits", "--steps", "40", "--trials", "3", "--seed", "2",
                  "--alpha-range", "1e-4,0.5", "--device", "cpu", "--quiet", "--out", "vt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "vt" / "versus_tuning.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COLUMNS
    methods = [r["method"] for r in rows]
    assert methods == ["adam(1e-05)/sgd(1e-05)", "adam(1e-05) alone", "sgd(1e-05)/sgd/sgd", "sgd(1e-05) alone",
                       *["TPE tunes Adam"] * 3, *["TPE tunes SGD"] * 3]
    assert all(r["steps"] == "40" and r["status"] == "done" for r in rows)
    for name in ("TPE tunes Adam", "TPE tunes SGD"):
        trials = [r for r in rows if r["method"] == name]
        assert [int(r["total_steps"]) for r in trials] == [40, 80, 120]
        assert all(1e-4 <= float(r["alpha"]) <= 0.5 for r in trials)
        best = [float(r["best_test_accuracy"]) for r in trials]
        assert best == [max(float(r["test_accuracy"]) for r in trials[:i + 1]) for i in range(3)]

        # the tuner is TPE seeded by --seed: Optuna, told the same accuracies, suggests the same step sizes
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=2))
        for r in trials:
            trial = study.ask()
            assert trial.suggest_float("alpha", 1e-4, 0.5, log=True) == pytest.approx(float(r["alpha"]), rel=1e-12)
            study.tell(trial, float(r["test_accuracy"]))
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "10 runs of 40 steps on digits; wrote vt"
    assert lines[4].startswith("TPE tunes Adam: best test accuracy ") and "after 3 runs, 120 steps" in lines[4]
    html = (tmp_path / "vt" / "versus_tuning.html").read_text()
    assert "TPE tunes SGD (3 trials)" in html and "plotly" in html
    png = (tmp_path / "vt" / "versus_tuning.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread
    # the figure drawn by engine/static.py at its own height (460 px) and the renderer's default width
    assert imread(tmp_path / "vt" / "versus_tuning.png").shape[:2] == (460, 900)


def _fake(job, method, kind, accuracies, steps=100):
    for i, accuracy in enumerate(accuracies):
        job._add({"method": method, "kind": kind, "trial": i if kind == "tuner" else None, "tower": "t",
                  "alpha": 0.1 * (i + 1), "steps": steps, "test_accuracy": accuracy, "test_loss": 1.0,
                  "seconds": 0.5, "status": "done"})


def test_the_summary_counts_the_steps_a_tuner_spent_to_match_each_tower():
    job = VersusTuning("digits", steps=100, trials=4)
    _fake(job, "tower A", "tower", [0.90])
    _fake(job, "tower B", "tower", [0.97])
    _fake(job, "TPE tunes Adam", "tuner", [0.5, 0.92, None, 0.95])
    summary = {s["method"]: s for s in job.summary()}
    tuner = summary["TPE tunes Adam"]
    assert tuner["steps_to_match"] == {"tower A": 200, "tower B": None}
    assert (tuner["runs"], tuner["total_steps"], tuner["best_test_accuracy"], tuner["alpha"]) == (4, 400, 0.95, 0.4)
    assert tuner["seconds"] == 2.0
    assert [r["best_test_accuracy"] for r in job.rows[2:]] == [0.5, 0.92, 0.92, 0.95]
    assert summary_lines(job.summary())[2] == ("TPE tunes Adam: best test accuracy 0.9500 (alpha 0.4) after 4 runs, "
                                               "400 steps, 2.0 s; matched tower A after 200 steps; did not match "
                                               "tower B")


@pytest.mark.parametrize("args, named", [
    (["--trials", "0"], "trials=0 is out of range"),
    (["--tune", "adam,nope"], "cannot tune 'nope'"),
    (["--tune", "adam/sgd"], "cannot tune 'adam/sgd'"),
    (["--alpha-range", "1,0.1"], "'1,0.1' is not LOW,HIGH: two numbers with LOW < HIGH"),
    (["--alpha-range", "0.1"], "'0.1' is not LOW,HIGH"),
    (["--tower", "adam("], "tower='adam(' is invalid"),
    (["--task", "nope"], "unknown task 'nope'"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, named):
    result = _cli("versus-tuning", "--quiet", "--steps", "5", "--out", "vt", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdtuo-explore: error: ") and named in lines[0], result.stderr
    assert not (tmp_path / "vt").exists()


def test_a_task_without_accuracy_is_refused_with_a_clear_error(monkeypatch):
    import torch

    from gdtuo_explore.engine.tasks import TASKS
    from gdtuo_explore.engine.tasks.registry import Task, register_task

    monkeypatch.setitem(TASKS, "regression", None)   # taken out again after the test

    @register_task("regression", description="y = sum(x), no accuracy", models=("linear",))
    def build(model, data_root, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(64, 3, generator=g)
        return Task("regression", model, x[:48], x[:48].sum(1, keepdim=True), x[48:], x[48:].sum(1, keepdim=True),
                    lambda: torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, None, "generated", 0)

    job = VersusTuning("regression", tuned=[], towers=["sgd"], trials=1, steps=3, device="cpu")
    with pytest.raises(ValueError, match="task 'regression' has no test accuracy: compare on a classification task"):
        job.run()


def test_the_notebook_stores_a_png_beside_each_interactive_figure():
    """Opened with no kernel (GitHub, nbviewer, an HTML export offline), notebooks/versus_tuning.ipynb shows its
    figures: each Plotly output carries a PNG of the same figure."""
    import base64
    import json

    nb = json.loads((ROOT / "notebooks" / "versus_tuning.ipynb").read_text())
    outputs = [o["data"] for cell in nb["cells"] for o in cell.get("outputs", []) if "data" in o]
    figures = [d for d in outputs if "application/vnd.plotly.v1+json" in d]
    assert len(figures) == 2
    for data in figures:
        figure = data["application/vnd.plotly.v1+json"]
        assert figure["data"]   # the interactive figure has its traces
        with Image.open(io.BytesIO(base64.b64decode(data["image/png"]))) as png:   # and its picture: its size,
            assert png.format == "PNG"
            assert png.size == (figure["layout"].get("width") or 900, figure["layout"].get("height") or 450)
            assert len(png.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 8   # lines drawn
