"""Runs that race: a pace set before a run starts holds from its first step, runs started together by race() step
together, and a paced job that fell behind catches up (engine/control.py's schedule)."""
import threading
import time

import pytest

from gdtuo_explore.engine.config import RunConfig
from gdtuo_explore.engine.control import CATCH_UP, Control
from gdtuo_explore.engine.run import Run, race


def surface_run(tower, steps, **options):
    return Run(RunConfig(task="surface", model="quadratic", tower=tower, steps=steps, **options))


def test_a_pace_set_before_the_start_holds_from_the_first_step():
    pace, steps = 40.0, 60
    run = surface_run("sgd(0.001)", steps)
    run.pace = pace
    started = time.monotonic()
    run.start()
    too_fast = []
    while run.status in ("idle", "running"):   # never ahead of its schedule (behind is allowed: a busy machine)
        if run.steps_done > 1 + pace * (time.monotonic() - started) + 1:
            too_fast.append(run.steps_done)
        time.sleep(0.01)
    assert run.wait(60) == "done" and not too_fast
    assert run.elapsed >= (steps - 1) / pace * 0.95


def test_runs_raced_together_step_together():
    pace, steps = 50.0, 150
    plain = surface_run("sgd(0.001)", steps)
    tower = surface_run("sgd(0.001)/sgd(1e-6)/sgd(1e-12)", steps, eval_every=1)   # more work per step
    assert race([plain, tower], pace=pace) == [plain, tower]
    assert plain.pace == tower.pace == pace
    gaps = []
    while plain.status == "running" and tower.status == "running":
        gaps.append(abs(plain.steps_done - tower.steps_done))
        time.sleep(0.02)
    assert plain.wait(60) == tower.wait(60) == "done"
    assert len(gaps) > 20 and max(gaps) <= 2 + pace * 0.1   # within a tenth of a second of each other


def test_race_refuses_a_started_run_or_a_bad_pace_and_starts_none():
    a, b = surface_run("sgd(0.001)", 5), surface_run("sgd(0.001)", 5)
    with pytest.raises(ValueError, match="pace=0 is out of range"):
        race([a, b], pace=0)
    b.run()
    with pytest.raises(ValueError, match=r"runs\[1\] \(surface/quadratic .*\) was already started \(status done\)"):
        race([a, b], pace=10)
    with pytest.raises(ValueError, match=r"runs\[0\] is a str, not a Run"):
        race(["a"])
    assert a.status == "idle"


def test_a_paced_job_that_stalled_catches_up_then_keeps_its_pace():
    """A job of 30 steps at 20 steps/s whose step 5 takes 0.3 s (an evaluation, a busy core): the steps after it run
    without waiting until it is back on schedule, so it ends when a job that never stalled would have."""
    pace, stamps = 20.0, []

    def body():
        for k in range(30):
            if not control.gate():
                return "stopped", None
            stamps.append(time.monotonic())
            if k == 5:
                threading.Event().wait(0.3)
        return "done", None

    control = Control(body, lambda state: state, name="paced", what="job", once="")
    control.pace = pace
    control.start()
    assert control.wait(30) == "done"
    assert 0.3 < CATCH_UP
    period = 1 / pace
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert gaps[5] >= 0.3
    assert sum(gaps[6:9]) < 1.5 * period          # three steps made up in less than one and a half periods
    total = stamps[-1] - stamps[0]
    assert total == pytest.approx(29 * period, abs=2 * period)


def test_between_steps_runs_in_the_worker_before_its_next_step():
    ran = []

    def body():
        for k in range(200):
            if not control.gate():
                return "stopped", None
            ran.append(("step", k))
        return "done", None

    control = Control(body, lambda state: state, name="job", what="job", once="")
    control.pace = 200.0
    control.start()
    while len(ran) < 10:
        time.sleep(0.005)
    worker = control.between_steps(lambda: (ran.append(("call", threading.current_thread().name)),
                                            threading.current_thread().name)[1])
    assert worker == "job"                 # run by the worker, between two of its steps
    with pytest.raises(ZeroDivisionError):
        control.between_steps(lambda: 1 / 0)   # raised again in the caller; the job goes on
    assert control.wait(30) == "done"
    with pytest.raises(ValueError, match=r"the job has finished \(done\)"):
        control.between_steps(lambda: None)
