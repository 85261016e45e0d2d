"""The command line, run as a user runs it: `python -m gdtuo_explore ...` in a subprocess."""
import csv
import json
import signal
import subprocess
import sys
import time

import pytest

from gdtuo_explore.cli import main
from gdtuo_explore.engine.tasks import TASKS

DIVERGES = "adam/sgd(1e3)"


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gdtuo_explore", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def one_line_error(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gdtuo-explore: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def test_run_writes_files_and_a_final_line(tmp_path):
    out = tmp_path / "demo"
    result = cli("run", "--task", "digits", "--stack", "adam/sgd(1e-5)", "--steps", "30", "--device", "cpu",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("config.json", "metrics.csv", "evaluations.csv", "report.html"):
        assert (out / name).is_file()
    with open(out / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["step", "epoch", "train_loss", "level1.alpha"] and len(rows) == 31
    with open(out / "evaluations.csv") as f:
        accuracy = float(list(csv.DictReader(f))[-1]["test_accuracy"])
    last = result.stdout.strip().splitlines()[-1]
    assert f"test accuracy {accuracy:.4f}" in last and str(out) in last
    assert json.loads((out / "config.json").read_text())["tower"] == "adam/sgd(1e-05)"


@pytest.mark.parametrize("args,named", [
    (["--task", "nope"], "'nope'"),
    (["--stack", "adam/sgd("], "adam/sgd("),
    (["--stack", "adamw(hypergrad=closed)/sgd"], "adamw has no closed-form hypergradient"),
    (["--epochs", "-3"], "argument --epochs: '-3' is not a whole number >= 1"),
    (["--task", "mnist", "--option", "download=false"], "MNIST was not found"),
    (["--divergence-factor", "1"], "argument --divergence-factor: '1' is not a number > 1 or 'off'"),
    (["--divergence-factor", "fast"], "'fast' is not a number > 1 or 'off'"),
    (["--until-stopped", "--steps", "5"], "steps=5 and until_stopped=True are both given"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, named):
    result = cli("run", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "out"), *args)
    assert result.returncode == 2
    assert named in one_line_error(result)
    assert not (tmp_path / "out").exists()


SIGN_SGD = """
import torch
from gdtuo_explore import AutoLevel, register
from gdtuo_explore.core.hyperparams import Hyper


@register
class SignSGD(AutoLevel):
    kind = "sign_sgd_cli"
    HYPERS = (Hyper("alpha", 0.01, low=0.0),)

    def update(self, state, g, hp, learn, out=None):
        return torch.sign(g), hp["alpha"]
"""


@pytest.mark.parametrize("how", ["file", "module"])
def test_import_makes_a_registered_level_usable_in_stack(tmp_path, how):
    (tmp_path / "my_levels.py").write_text(SIGN_SGD)
    out = tmp_path / "out"
    common = ["run", "--steps", "20", "--device", "cpu", "--out", str(out), "--stack", "sign_sgd_cli(0.01)/sgd(1e-4)"]
    unknown = cli(*common, cwd=tmp_path)
    assert unknown.returncode == 2 and "sign_sgd_cli" in one_line_error(unknown)
    result = cli(common[0], "--import", "my_levels.py" if how == "file" else "my_levels",
                 *common[1:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20 and rows[-1]["level1.alpha"] != rows[0]["level1.alpha"]   # it learned
    assert json.loads((out / "config.json").read_text())["tower"].startswith("sign_sgd_cli")


@pytest.mark.parametrize("what,named", [
    ("no_such_levels", "--import no_such_levels: ModuleNotFoundError"),
    ("missing.py", "--import missing.py: FileNotFoundError: no such file 'missing.py'"),
    ("broken.py", "--import broken.py: ZeroDivisionError"),
])
def test_a_failed_import_exits_2_naming_it(tmp_path, what, named):
    (tmp_path / "broken.py").write_text("1 / 0\n")
    result = cli("run", "--import", what, "--steps", "5", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert named in one_line_error(result)
    assert not (tmp_path / "out").exists()


def test_diverging_run_exits_3_and_writes_its_files(tmp_path):
    out = tmp_path / "boom"
    result = cli("run", "--stack", DIVERGES, "--steps", "200", "--device", "cpu", "--out", str(out), "--quiet",
                 "--divergence-factor", "off")  # the non-finite rule alone
    assert result.returncode == 3, result.stderr
    assert "diverged at step" in result.stdout and ": non-finite " in result.stdout
    with open(out / "metrics.csv") as f:
        rows = list(csv.reader(f))
    step = int(result.stdout.split("diverged at step ")[1].split(":")[0])
    assert len(rows) == step + 1 and int(rows[-1][0]) == step
    assert (out / "report.html").is_file()


def test_an_exploding_loss_exits_3_and_writes_its_files(tmp_path):
    out = tmp_path / "explodes"
    result = cli("run", "--stack", "sgd/sgd(100)", "--epochs", "5", "--device", "cpu", "--out", str(out), "--quiet")
    assert result.returncode == 3, result.stderr
    assert "exceeded 100x its start" in result.stdout
    step = int(result.stdout.split("diverged at step ")[1].split(":")[0])
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= step and max(float(r["train_loss"]) for r in rows[:step]) > 100 * float(rows[0]["train_loss"])
    assert (out / "report.html").is_file() and json.loads((out / "config.json").read_text())["divergence_factor"] == 100
    off = main(["run", "--config", str(out / "config.json"), "--divergence-factor", "off", "--steps", "30",
                "--out", str(tmp_path / "off"), "--quiet"])  # in this process, to save a start-up
    assert off == 0
    assert json.loads((tmp_path / "off" / "config.json").read_text())["divergence_factor"] is None


def test_until_stopped_runs_until_ctrl_c_and_writes_its_files(tmp_path):
    out = tmp_path / "long"
    process = subprocess.Popen([sys.executable, "-m", "gdtuo_explore", "run", "--task", "spirals", "--until-stopped",
                                "--device", "cpu", "--out", str(out), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()  # said once training starts
        assert line.startswith("training until stopped: press Ctrl-C"), line
        time.sleep(1.5)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    step = int(stderr.split("interrupted (Ctrl-C): stopped at step ")[1].split(";")[0])
    with open(out / "metrics.csv") as f:
        assert step > 0 and len(list(csv.reader(f))) == step + 1
    saved = json.loads((out / "config.json").read_text())
    assert saved["until_stopped"] is True and "steps" not in saved and "epochs" not in saved   # one budget


def test_config_rerun_reproduces_and_flags_override(tmp_path):
    first = cli("run", "--task", "spirals", "--stack", "sgd(0.1)/sgd(1e-3)", "--steps", "40", "--seed", "5",
                "--device", "cpu", "--out", str(tmp_path / "a"), "--quiet")
    assert first.returncode == 0, first.stderr
    again = cli("run", "--config", str(tmp_path / "a" / "config.json"), "--out", str(tmp_path / "b"), "--quiet")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (tmp_path / "b" / "metrics.csv").read_bytes()
    assert (tmp_path / "a" / "evaluations.csv").read_bytes() == (tmp_path / "b" / "evaluations.csv").read_bytes()
    other = main(["run", "--config", str(tmp_path / "a" / "config.json"), "--seed", "6", "--epochs", "1",
                  "--out", str(tmp_path / "c"), "--quiet"])  # in this process, to save a start-up
    assert other == 0
    saved = json.loads((tmp_path / "c" / "config.json").read_text())
    assert (saved["seed"], saved["epochs"], saved["tower"]) == (6, 1, "sgd(0.1)/sgd(0.001)") and "steps" not in saved


def test_tasks_lists_every_task():
    result = cli("tasks")
    assert result.returncode == 0
    for name, spec in TASKS.items():
        assert name in result.stdout and spec.description in result.stdout


def test_sweep_writes_csv_and_report(tmp_path):
    out = tmp_path / "sweep"
    result = cli("sweep", "--task", "digits", "--alphas", "1e-3,0.1", "--heights", "0,1", "--steps", "30",
                 "--processes", "2", "--device", "cpu", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((int(r["height"]), float(r["alpha"])) for r in rows) == [(0, 1e-3), (0, 0.1), (1, 1e-3), (1, 0.1)]
    assert all(r["status"] == "done" and 0 <= float(r["final_test_accuracy"]) <= 1 for r in rows)
    page = (out / "sweep.html").read_text()
    assert 'id="final_test_loss"' in page and 'id="final_test_accuracy"' in page
    assert '"name":"height 0"' in page and '"name":"height 1"' in page
    assert str(out) in result.stdout.strip().splitlines()[-1]


def test_bad_sweep_input_exits_2(tmp_path):
    result = cli("sweep", "--heights", "0,-1", "--out", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "height -1" in one_line_error(result)
