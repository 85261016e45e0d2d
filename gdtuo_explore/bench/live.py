"""What the live charts cost with the page open: the explorer in a real JupyterLab in Chromium trains a run while its
charts draw; the config that explorer trains (its own options included: the explorer records the hypergradients
for its step table and trains at a lower priority) is trained headless in this process before and after, and the live
speed is compared with their mean, so the ratio is the cost of the page. The plain config (without the explorer's
options) is trained headless once too: what those options cost. Also measured: the time from the Run click to the
first loss points in the page, and every Plotly redraw in the page (its duration, per chart) and the page's long
tasks. With ``--race SPEC`` (repeatable) those towers are added in the compare bar and raced with the setup (the
Race button): the steps per second of all raced runs together against the same runs raced headless.

``python -m gdtuo_explore.bench.live [--steps N] [--tower SPEC] [--threads N] [--task T --model M] [--race SPEC]``
prints one table (with ``--task surface``, also the landscape's path redraws); the benchmark
(``python -m gdtuo_explore.bench --browser``) prints its row. Targets: live >= 0.8 of headless, first points
< 1 s after the click, no redraw > 50 ms.

It drives the page with the browser tests' harness, ``tests/browser.py`` of the clone, so that the tests and this
measurement start the server, open the page and time the redraws one way; like those tests it needs the clone's
development set-up (``make test`` installs Chromium, playwright and jupyterlab).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..engine.config import RunConfig
from ..engine.run import Run, race
from ..explorer.defaults import EXPLORER_THREADS
from ..explorer.state import ExplorerState
from .explorer import headless_steps_per_second

HARNESS = Path(__file__).resolve().parents[2] / "tests" / "browser.py"

PATH_REDRAWS = 10   # surface task: redraws of the finished path timed in the page

CELL = """from gdtuo_explore import Explorer
explorer = Explorer(config={config!r})
explorer.state.pace = None   # as fast as it goes: live against headless
explorer"""


def harness():
    """The browser tests' harness module (``tests/browser.py``); RuntimeError outside a clone."""
    if not HARNESS.is_file():
        raise RuntimeError(f"the live benchmark drives the page with the browser tests' harness, {HARNESS}, which "
                           "only a clone of the repository has: run it from a clone")
    spec = importlib.util.spec_from_file_location("gdtuo_browser_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _say(what: str, t0=[None]) -> None:
    """Progress on stderr (the run takes minutes): seconds since the first call, and what happens."""
    now = time.perf_counter()
    t0[0] = t0[0] or now
    print(f"[{now - t0[0]:6.1f} s] {what}", file=sys.stderr, flush=True)


@dataclass
class LiveResult:
    live: float                 # steps/s with the page open
    headless: float             # steps/s headless (mean of before and after)
    first_points: float         # s from the Run click to the first loss points in the page
    redraws: int                # Plotly calls that drew, during the run
    redraw_max_ms: float
    redraw_median_ms: float
    long_tasks: int             # page tasks over 50 ms during the run
    long_task_max_ms: float
    long_task_times: list       # s after the click at which each long task began
    threads: int
    slowest: list               # the three slowest redraws: (chart, Plotly call, s after the click, ms)
    path_redraws: list = None   # surface task: ms of each redraw of the finished run's whole path (landscape chart)
    path_points: int = 0        # the points that path has in the page
    plain: float = 0.0          # steps/s headless of the config without the explorer's options
    runs: int = 1               # runs raced (live and headless are then their steps/s summed)

    @property
    def slowest_chart(self) -> str:
        return self.slowest[0][0] if self.slowest else "-"

    @property
    def ratio(self) -> float:
        return self.live / self.headless

    def lines(self) -> list[str]:
        return [f"live {self.live:.0f} steps/s, headless {self.headless:.0f} steps/s: {self.ratio:.2f} "
                f"(torch threads {self.threads}" + (f"; {self.runs} runs raced, steps/s summed)" if self.runs > 1
                                                    else ")"),
                *([f"the explorer's options (hypergradients recorded, lower priority): headless {self.headless:.0f} "
                   f"against {self.plain:.0f} steps/s without them: {self.headless / self.plain:.2f}"]
                  if self.runs == 1 else []),
                f"click {'Race' if self.runs > 1 else 'Run'} -> first loss points in the page: "
                f"{self.first_points:.2f} s",
                f"{self.redraws} Plotly redraws: median {self.redraw_median_ms:.1f} ms, max {self.redraw_max_ms:.1f} "
                f"ms ({self.slowest_chart}); {self.long_tasks} long tasks, longest {self.long_task_max_ms:.0f} ms"
                + (" (at " + ", ".join(f"{t:.1f}" for t in self.long_task_times) + " s after the click)"
                   if self.long_task_times else ""),
                "slowest redraws: " + "; ".join(f"{chart[:24]} ({call}, {t:.1f} s after the click) {ms:.0f} ms"
                                                 for chart, call, t, ms in self.slowest)] + (
            [f"landscape: the finished path ({self.path_points} points in the page) redrawn {len(self.path_redraws)} "
             f"times: median {statistics.median(self.path_redraws):.1f} ms, max {max(self.path_redraws):.1f} ms"]
            if self.path_redraws else [])


def explorer_config(config: RunConfig) -> RunConfig:
    """The config that an explorer set up with ``config`` trains (its options added, as :class:`ExplorerState`
    adds them)."""
    state = ExplorerState()
    state.load_config(config)
    return state.config()


def _notebook(path: Path, config: dict) -> Path:
    source = CELL.format(config=config)
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "explorer", "metadata": {}, "outputs": [],
                     "source": source}],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


# the runs of a race in the kernel, the run on the charts first (ExplorerState.race)
RACED = "[explorer.state.current, *explorer.state.race_overlays()]"


def _race_headless(configs: list[RunConfig]) -> float:
    """Steps per second of ``configs`` raced headless (the engine's :func:`~..engine.run.race`, as fast as they go),
    summed over the runs."""
    runs = race([Run(c) for c in configs])
    for run in runs:
        if run.wait() != "done":
            raise RuntimeError(f"a headless racer ended {run.status}: {run.message}")
    return sum(run.steps_per_second for run in runs)


def measure(steps: int = 10_000, tower: str | None = None, threads: int | None = None,
            timeout: float = 600, task: str = "digits", model: str | None = None,
            race_towers: list[str] | None = None) -> LiveResult:
    """Train ``steps`` steps of the explorer's default setup (or ``tower``) on ``task`` (default digits; ``model``:
    its model) live in the page and headless; ``threads``: torch intra-op threads of both runs (default: the
    explorer's, :data:`EXPLORER_THREADS`). On the surface task, the landscape chart's finished path is then sent
    again :data:`PATH_REDRAWS` times (one point short every other time, so that each is a change) and each redraw
    timed in the page.

    ``race_towers``: towers added in the compare bar and raced with the setup (the Race button): live is then the
    steps per second of all raced runs together, against the same runs raced headless twice after (the configs
    the kernel raced)."""
    fields = {"task": task, "steps": steps, "threads": threads or EXPLORER_THREADS,
              **({"tower": tower} if tower else {}), **({"model": model} if model else {})}
    plain = RunConfig(**fields)
    config = explorer_config(plain)
    browser = harness()
    plain_speed = 0.0   # a race compares with the same runs raced headless, after it (below)
    if not race_towers:
        _say("headless run of the plain config")
        plain_speed = headless_steps_per_second(plain)
        _say("headless run of the explorer's config (before)")
        before = headless_steps_per_second(config)
        _say(f"headless: {before:.0f} steps/s")
    _say("starting JupyterLab")
    with tempfile.TemporaryDirectory() as tmp:
        notebook = _notebook(Path(tmp) / "live.ipynb", fields)
        with browser.jupyter_lab(notebook, name="bench-live", timeout=120) as lab:
            page = lab.open()
            _say("page open; running the cell")
            page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
            page.set_viewport_size({"width": 1500, "height": 1400})
            lab.run_all(timeout=300)
            lab.wait_plots(3)
            lab.check_charts()
            for spec in race_towers or []:
                _say(f"adding the tower {spec} to compare (it trains once before the race)")
                lab.kernel_execute(f"explorer.add_compare({spec!r}, wait=True, timeout={timeout})")
            button = "Race" if race_towers else "Run"
            _say(f"charts drawn; clicking {button}")
            lab.watch_redraws()
            lab.redraws(clear=True)
            clicked = page.evaluate("() => performance.now()")
            start = time.perf_counter()
            lab.click_button(button)
            lab.wait_for(lambda: page.evaluate(browser.TRACE, list(browser.LOSS))["n"] > 0, "the first loss points",
                         poll=0.02)
            first = time.perf_counter() - start
            _say(f"first points after {first:.2f} s")
            # wait in the kernel, not by polling the page: reading the outputs' text forces a layout of the whole
            # notebook in the page, work a user's page does not do while it draws
            lab.kernel_execute(f"_raced = {RACED}\nfor _s in _raced: _s.wait({timeout})")
            ended = json.loads(lab.kernel_execute("import json; print(json.dumps([[s.status.value, s.run.steps_done, "
                                                  "s.run.steps_per_second, s.run.config.to_dict()] for s in _raced]))"))
            if len(ended) != 1 + len(race_towers or []) or any(e[:2] != ["done", steps] for e in ended):
                raise RuntimeError(f"the runs did not all finish {steps} steps in {timeout} s: {ended}")
            log = lab.redraws(clear=True)
            live = sum(e[2] for e in ended)
            if ended[0][3] != json.loads(json.dumps(config.to_dict())):
                raise RuntimeError(f"the explorer trained {ended[0][3]}, not the config run headless "
                                   f"{config.to_dict()}")
            raced = [RunConfig.from_dict(e[3]) for e in ended]
            path_redraws, path_points = [], 0
            if task == "surface":
                label = lab.kernel_execute("print(explorer.state.current.label)").strip()
                path_points = page.evaluate(browser.TRACE, ["<b>Landscape</b>", label])["n"]
                lab.kernel_execute(f"_path = [t for t in explorer.landscape.fig.data if t.name == {label!r}][0]; "
                                   "_xy = (_path.x, _path.y)")
                for i in range(PATH_REDRAWS):   # the whole path sent again, one point short every other time
                    cut = "[:-1]" if i % 2 == 0 else ""
                    lab.kernel_execute(f"_path.update(x=_xy[0]{cut}, y=_xy[1]{cut})")
                    lab.wait_for(lambda: any(r["chart"].startswith("Landscape") for r in lab.redraws()["redraws"]),
                                 "the landscape's redraw", poll=0.02)
                    path_redraws += [r["ms"] for r in lab.redraws(clear=True)["redraws"]
                                     if r["chart"].startswith("Landscape")]
            used = config.threads   # set by the run in its training thread (torch reports it per thread)
    if race_towers:   # the same runs raced headless, twice (their configs were known only once raced)
        _say(f"headless race of {len(raced)} runs (1 of 2)")
        before = _race_headless(raced)
        _say("headless race (2 of 2)")
        after = _race_headless(raced)
    else:
        _say("headless run (after)")
        after = headless_steps_per_second(config)
    times = [r["ms"] for r in log["redraws"]] or [0.0]
    long_ms = [t["ms"] for t in log["longtasks"]] or [0.0]
    worst = [(r["chart"], r.get("call", "?"), (r["t"] - clicked) / 1e3, r["ms"])
             for r in sorted(log["redraws"], key=lambda r: -r["ms"])[:3]]
    return LiveResult(live, (before + after) / 2, first, len(log["redraws"]), max(times), statistics.median(times),
                      len(log["longtasks"]), max(long_ms), [(t["t"] - clicked) / 1e3 for t in log["longtasks"]], used,
                      worst, path_redraws, path_points, plain_speed, 1 + len(race_towers or []))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gdtuo_explore.bench.live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--tower", default=None, help="tower spec (default: the explorer's default tower)")
    parser.add_argument("--threads", type=int, default=None,
                        help=f"torch intra-op threads of both runs (default: the explorer's, here {EXPLORER_THREADS})")
    parser.add_argument("--task", default="digits", help="the task (default digits; surface: the landscape too)")
    parser.add_argument("--model", default=None, help="the task's model (e.g. rosenbrock for the surface task)")
    parser.add_argument("--race", action="append", metavar="SPEC", default=None,
                        help="a tower raced with the setup (repeat for more): live is then all raced runs together")
    args = parser.parse_args(argv)
    result = measure(args.steps, args.tower, args.threads, task=args.task, model=args.model, race_towers=args.race)
    print("\n".join(result.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
