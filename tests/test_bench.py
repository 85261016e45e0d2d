"""The benchmark's own checks: it times only towers that stay finite (a refused step skips work), and its explorer
measurements compute what they say from what they measured."""
import statistics

import numpy as np
import pytest
import torch

from gdtuo_explore.bench import explorer as explorer_bench
from gdtuo_explore.bench.steps import Stepper, halving_tower, ours, reference_module, wrapper
from gdtuo_explore.core import parse_tower
from gdtuo_explore.engine.config import RunConfig
from helpers import trace


@pytest.mark.parametrize("base,height", [("adam", 3), ("sgd", 49)])
def test_halving_tower_halves_the_step_size_level_by_level(base, height):
    levels = parse_tower(halving_tower(base, height, alpha=1e-5)).levels()
    assert [level.kind for level in levels] == [base] * (height + 1)
    assert levels[0].values == type(levels[0])().values  # the weights' optimizer keeps its defaults
    alphas = [level.values["alpha"] for level in levels[1:]]
    assert alphas[0] == 1e-5
    for above, below in zip(alphas[1:], alphas):
        assert above == pytest.approx(below / 2, rel=1e-2)  # written with 3 significant digits


def test_a_diverged_tower_is_detected_and_a_stable_one_is_not():
    cpu = torch.device("cpu")
    unstable = Stepper("x", "mlp", cpu, ours("adam/sgd(1e-5)/sgd(1e-5)/sgd(1e-5)"))  # SGD above Adam: ~1e3 steps
    stable = Stepper("y", "mlp", cpu, ours(halving_tower("adam", 5)))
    for _ in range(12):
        unstable.step()
        stable.step()
    assert unstable.diverged() and not stable.diverged()


def test_a_diverged_reference_wrapper_is_detected_and_a_stable_one_is_not():
    """The reference package has no guard: its weights and hyperparameters themselves are checked."""
    ref = reference_module()
    assert ref is not None  # a test dependency
    cpu = torch.device("cpu")
    stable = Stepper("r", "mlp", cpu, wrapper(ref, lambda g: g.Adam(optimizer=g.SGD(1e-5))), "wrapper")
    unstable = Stepper("u", "mlp", cpu, wrapper(ref, lambda g: g.Adam(optimizer=g.SGD(1e-5, optimizer=g.SGD(
        1e-5, optimizer=g.SGD(1e-5))))), "wrapper")  # as above: nan after 5 steps
    for _ in range(8):
        stable.step()
        unstable.step()
    assert not stable.diverged()
    assert unstable.diverged()


def test_the_explorer_throughput_ratio_brackets_each_explorer_run_with_headless_runs(monkeypatch):
    """Each explorer run's steps/s is divided by the mean of the headless runs just before and after it, and the
    median of those ratios is returned: checked with headless speeds the test chooses and the explorer runs' own."""
    headless = iter([100.0, 300.0, 200.0, 500.0])
    monkeypatch.setattr(explorer_bench, "headless_steps_per_second", lambda config: next(headless))
    seen = []
    run = explorer_bench.Explorer.run

    def explorer_run(self, *args, **kwargs):
        status = run(self, *args, **kwargs)
        seen.append(self.current_run.steps_per_second)
        return status

    monkeypatch.setattr(explorer_bench.Explorer, "run", explorer_run)
    ratio = explorer_bench.explorer_throughput_ratio(RunConfig(steps=30, device="cpu"), repeats=3)
    assert len(seen) == 3 and all(s > 0 for s in seen)
    assert ratio == pytest.approx(statistics.median([seen[0] / 200.0, seen[1] / 250.0, seen[2] / 350.0]))


def test_the_redraw_benchmark_feeds_the_charts_the_rows_it_times():
    """bench.redraw grows a run's records as the trainer's fetches would and times the charts' handling of the
    update that brings them: the charts end on the last step, with thinned lines and a cost measured."""
    from gdtuo_explore.bench.redraw import ROWS, _Charted
    from gdtuo_explore.explorer.charts import LIVE_POINTS

    charted = _Charted(seed=0)
    try:
        charted.grow_to(5_000)
        cost = charted.grow(ROWS, evaluation=True)
        loss = trace(charted.charts.loss, "train loss")
        assert loss.x[-1] == 5_000 + ROWS and len(loss.x) <= LIVE_POINTS + 2 and cost > 0
        assert trace(charted.charts.loss, "test loss").x[-1] == 5_000 + ROWS
        assert np.array_equal(charted.run.metrics()["step"], np.arange(1, 5_000 + ROWS + 1))
    finally:
        charted.close()


def test_the_first_points_benchmark_times_both_charts_in_a_fresh_process():
    """The loss chart is drawn before level 1's (STAGGER apart while the run trains), so its first points come first."""
    first = explorer_bench.first_points_seconds()
    assert set(first) == {"loss", "alpha"} and 0 < first["loss"] <= first["alpha"] < 120, first


def test_the_live_benchmark_drives_the_page_with_the_tests_harness():
    from gdtuo_explore.bench import live

    harness = live.harness()
    assert harness.__file__ == str(live.HARNESS) and live.HARNESS.parent.name == "tests"
    assert callable(harness.jupyter_lab) and harness.LOSS == ("<b>Loss</b>", "train loss")


def test_the_parts_to_run_are_checked():
    from gdtuo_explore.bench.steps import main

    with pytest.raises(SystemExit) as stop:
        main(["--only", "memory,nope"])
    assert stop.value.code == 2
