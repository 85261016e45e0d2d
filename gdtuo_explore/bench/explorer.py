"""What the live charts cost in the kernel alone, NO browser attached: training throughput with an Explorer updating
its widgets, relative to a headless run of the same configuration, and the time from a click on Run to the charts'
first points in a fresh process. This never sees the page's cost (the browser's CPU, redraws, comm traffic):
:mod:`.live` measures the explorer in JupyterLab in Chromium."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys

from ..engine.config import RunConfig
from ..engine.run import Run
from ..explorer import Explorer

DEFAULT = RunConfig(task="digits", tower="adam/sgd(1e-5)", steps=3000)


def headless_steps_per_second(config: RunConfig) -> float:
    """Steps per second of ``config`` trained in the engine's background thread with no observer -- the same
    thread set-up as an explorer run. (Training in the calling thread instead, as ``Run.run`` does, can differ a
    lot on a CPU: there torch may use several intra-op threads.)"""
    run = Run(config).start()
    if run.wait() != "done":
        raise RuntimeError(f"the headless run ended {run.status}: {run.message}")
    return run.steps_per_second


def explorer_throughput_ratio(config: RunConfig | None = None, repeats: int = 3) -> float:
    """Steps per second of ``config`` run from an :class:`Explorer` (charts, status line and compare table
    updating from the engine's dispatcher thread; no browser attached) over steps per second of the same config run
    headless (:func:`headless_steps_per_second`). Each explorer run is bracketed by headless runs and compared with
    their mean, so drifting machine load cancels; returns the median of ``repeats`` such ratios. Default config:
    Adam / SGD(1e-5) on digits, 3000 steps."""
    explorer = Explorer(config=config or DEFAULT)
    config = explorer.state.config()   # the explorer's own reading of it (e.g. device "auto" made explicit)
    before = headless_steps_per_second(config)
    ratios = []
    for _ in range(repeats):
        explorer.reset()                # no overlays piling up between repeats
        if explorer.run(wait=True) != "done":
            raise RuntimeError(f"the explorer's run ended {explorer.state.status}: {explorer.state.message}")
        after = headless_steps_per_second(config)
        ratios.append(explorer.current_run.steps_per_second / ((before + after) / 2))
        before = after
    return statistics.median(ratios)


FIRST_POINTS = """
import json, time
from gdtuo_explore import Explorer
e = Explorer()
e.state.unit, e.state.budget = "steps", 2000
start = time.perf_counter()
e.run_controls.run.click()
first = {}
while len(first) < 2 and time.perf_counter() - start < 120:
    for key, fig, name in (("loss", e.charts.loss, "train loss"), ("alpha", e.charts.levels[0], "alpha")):
        t = [t for t in fig.data if t.name == name]
        if key not in first and t and t[0].x is not None and len(t[0].x):
            first[key] = time.perf_counter() - start
    time.sleep(0.005)
e.close()
print(json.dumps(first))
"""


def first_points_seconds() -> dict:
    """``{"loss": s, "alpha": s}``: seconds from a click on Run to the first points of the loss chart and of level
    1's step-size chart, in a fresh process (nothing imported or loaded before the explorer is made; the click comes
    right after), on the explorer's default setup. Raises if either chart got no points in 120 s."""
    out = subprocess.run([sys.executable, "-c", FIRST_POINTS], capture_output=True, text=True, timeout=300,
                         check=True)
    first = json.loads(out.stdout.strip().splitlines()[-1])
    if set(first) != {"loss", "alpha"}:
        raise RuntimeError(f"no first points in 120 s: {first}")
    return first
