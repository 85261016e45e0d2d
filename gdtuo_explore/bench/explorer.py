"""What the live charts cost in the kernel alone: training throughput with an Explorer updating its widgets, NO
browser attached, relative to a headless run of the same configuration. This never sees the page's cost (the
browser's CPU, redraws, comm traffic): :mod:`.live` measures the explorer in JupyterLab in Chromium."""
from __future__ import annotations

import statistics

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
