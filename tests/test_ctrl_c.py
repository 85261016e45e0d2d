"""Ctrl-C at any moment of ``gdtuo-explore run``: one line on stderr, exit status 130, no file half-written.

Each test starts the real command (this environment's ``gdtuo-explore`` script) in a session of its own and sends
SIGINT to its process group, as a terminal's Ctrl-C does, at a moment it has seen happen:

* while PyTorch imports: Python's own ``-X importtime`` lines (``PYTHONPROFILEIMPORTTIME=1``) say when a module of
  ``torch`` has been imported; the signal goes then, and the test checks afterwards that ``torch.optim``, which a
  whole ``import torch`` imports, never was;
* while the run is set up, while it trains, while it writes its files: a module given with ``--import`` (the
  command line's way to load a user's code) registers a task that builds the two-spirals task, and leaves marker
  files at those moments; at the set-up and at the writing it holds until the test says the signal was sent.
"""
import csv
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("gdtuo-explore")   # what `pip install -e .` put beside the interpreter
DEADLINE = 120

HOOK = '''
"""A user's module for the Ctrl-C tests: the task `held` (two spirals) that marks the moments the test waits for."""
import dataclasses
import os
import time
from pathlib import Path

import torch

import gdtuo_explore.engine.report as report
from gdtuo_explore.engine.tasks import make_task, register_task

MARKS = Path(os.environ["CTRL_C_MARKS"])
HOLD = os.environ.get("CTRL_C_HOLD")


def hold(moment):
    """Leave the marker `moment`; if the test asked to hold here, wait until it says the signal was sent."""
    (MARKS / moment).touch()
    if HOLD != moment:
        return
    deadline = time.monotonic() + 60
    while not (MARKS / "sent").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the test did not send Ctrl-C within 60 s of {moment!r}")
        time.sleep(0.01)


class Marked(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        if self.training and not (MARKS / "train").exists():
            hold("train")
        return self.inner(x)


@register_task("held", description="two spirals, marking set-up, training and writing", models=("mlp",))
def build(model, data_root, seed):
    hold("build")
    task = make_task("spirals", model, data_root, seed)
    return dataclasses.replace(task, name="held", make_model=lambda: Marked(task.make_model()))


_report_html = report.report_html


def report_html(*args, **kwargs):   # the run's last file: config.json and the CSV files are written by now
    hold("write")
    return _report_html(*args, **kwargs)


report.report_html = report_html
'''


class Command:
    """The command line in its own session; stderr read line by line as it comes."""

    def __init__(self, tmp_path, *args, env=None):
        if not SCRIPT.is_file():
            pytest.fail(f"no {SCRIPT}: install the project (make install, or pip install -e .)", pytrace=False)
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        (tmp_path / "held_task.py").write_text(HOOK)
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        # Ctrl-C at its default in the command, as in a terminal's foreground job, even where the suite itself
        # runs with SIGINT ignored (a job started with & from a script ignores it, and its children inherit that)
        self.process = subprocess.Popen(
            [str(SCRIPT), *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, env={**os.environ, "CTRL_C_MARKS": str(self.marks), **(env or {})},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))
            self.lines.put(line)

    def wait_for_line(self, pattern: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.process.poll() is None, f"the command ended before {pattern!r}: {self.stderr}"
                continue
            if re.search(pattern, line):
                return line
        raise TimeoutError(f"no line matching {pattern!r} in {DEADLINE} s: {self.stderr[-5:]}")

    def wait_for_mark(self, name: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not (self.marks / name).exists():
            assert self.process.poll() is None, f"the command ended before {name!r}: {self.stderr}"
            assert time.monotonic() < deadline, f"no {name!r} in {DEADLINE} s: {self.stderr}"
            time.sleep(0.02)

    def ctrl_c(self) -> None:
        """SIGINT to the whole process group, as the terminal sends it; then tell a holding hook it was sent."""
        os.killpg(self.process.pid, signal.SIGINT)
        (self.marks / "sent").touch()

    def finish(self) -> tuple[int, str, list[str]]:
        """Wait for the end: (exit status, stdout, stderr lines)."""
        try:
            stdout = self.process.stdout.read()
            self.process.wait(DEADLINE)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._reader.join(10)
        return self.process.returncode, stdout, self.stderr


def run_args(out, *more):
    return ["run", "--import", "held_task.py", "--task", "held", "--device", "cpu", "--quiet", "--out", str(out),
            *more]


def one_line(stderr: list[str]) -> str:
    lines = [line for line in stderr if not line.startswith("import time:")]
    assert len(lines) == 1, "\n".join(stderr[-40:])
    assert lines[0].startswith("gdtuo-explore: interrupted (Ctrl-C): "), lines
    return lines[0]


def test_ctrl_c_while_pytorch_imports(tmp_path):
    command = Command(tmp_path, *run_args(tmp_path / "out", "--steps", "5"), env={"PYTHONPROFILEIMPORTTIME": "1"})
    command.wait_for_line(r"\|\s+torch\.\S+\s*$")   # a module of torch is imported, torch itself is not yet
    command.ctrl_c()
    status, stdout, stderr = command.finish()
    assert status == 130, stderr[-20:]
    assert one_line(stderr) == "gdtuo-explore: interrupted (Ctrl-C): nothing was written"
    # torch had begun (a module of it imported) and never got as far as its optimizers (a whole import does)
    assert not any(re.search(r"\|\s+torch\.optim\s*$", line) for line in stderr), "torch finished importing first"
    assert stdout == "" and not (tmp_path / "out").exists()


def test_ctrl_c_while_the_run_is_set_up(tmp_path):
    command = Command(tmp_path, *run_args(tmp_path / "out", "--steps", "5"), env={"CTRL_C_HOLD": "build"})
    command.wait_for_mark("build")
    command.ctrl_c()
    status, stdout, stderr = command.finish()
    assert status == 130, stderr
    assert one_line(stderr) == "gdtuo-explore: interrupted (Ctrl-C): nothing was written"
    assert stdout == "" and not (tmp_path / "out").exists()


def whole_files(out: Path, steps: int) -> None:
    """Every file of the run, complete: metrics.csv has a row per step, report.html its end."""
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == steps + 1 and [int(r[0]) for r in rows[1:]] == list(range(1, steps + 1))
    assert len({len(r) for r in rows}) == 1
    with open(out / "evaluations.csv", newline="") as f:
        assert list(csv.reader(f))[0][:2] == ["step", "test_loss"]
    assert json.loads((out / "config.json").read_text())["task"] == "held"
    assert (out / "report.html").read_text().rstrip().endswith("</html>")


def test_ctrl_c_while_training_stops_the_run_and_writes_its_files(tmp_path):
    out = tmp_path / "out"
    command = Command(tmp_path, *run_args(out, "--steps", "1000000"), env={"CTRL_C_HOLD": "train"})
    command.wait_for_mark("train")
    command.ctrl_c()
    status, stdout, stderr = command.finish()
    assert status == 130, stderr
    line = one_line(stderr)
    match = re.fullmatch(r"gdtuo-explore: interrupted \(Ctrl-C\): stopped at step (\d+) of 1000000; wrote (.+)", line)
    assert match and match.group(2) == str(out), line
    assert stdout == ""
    whole_files(out, int(match.group(1)))


def test_ctrl_c_while_the_files_are_written_finishes_them(tmp_path):
    out = tmp_path / "out"
    command = Command(tmp_path, *run_args(out, "--steps", "30"), env={"CTRL_C_HOLD": "write"})
    command.wait_for_mark("write")
    assert not (out / "report.html").exists()   # the signal comes before the last file
    command.ctrl_c()
    status, stdout, stderr = command.finish()
    assert status == 130, stderr
    line = one_line(stderr)
    assert re.fullmatch(r"gdtuo-explore: interrupted \(Ctrl-C\): done after 30 steps, test accuracy [0-9.]+, test "
                        r"loss [0-9.]+; wrote " + re.escape(str(out)), line), line
    assert stdout == ""
    whole_files(out, 30)


def test_a_second_ctrl_c_while_the_files_are_written_changes_nothing(tmp_path):
    out = tmp_path / "out"
    command = Command(tmp_path, *run_args(out, "--steps", "30"), env={"CTRL_C_HOLD": "write"})
    command.wait_for_mark("write")
    os.killpg(command.process.pid, signal.SIGINT)
    command.ctrl_c()
    status, stdout, stderr = command.finish()
    assert status == 130, stderr
    one_line(stderr)
    whole_files(out, 30)
