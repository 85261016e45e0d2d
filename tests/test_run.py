"""The run engine: configs, the training thread and its controls, divergence, errors, observers, export, reports."""
import csv
import dataclasses
import json
import math
import re
import sys
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gdtuo_explore import parse_tower
from gdtuo_explore.engine.config import Budget, RunConfig, baseline_spec, default, parse_numbers
from gdtuo_explore.engine.report import report_html, run_figures
from gdtuo_explore.engine.threads import own_threads, process_threads
from gdtuo_explore.engine.run import FINISHED, Run, Update, throughput
from gdtuo_explore.engine.tasks import TASKS, Task, TaskSpec, make_task

DIVERGES = "adam/sgd(1e3)"  # the top level's huge step sends Adam's betas out of (0, 1) within a few steps
LONG = 1_000_000            # a run the tests stop long before its end


def config(**kw) -> RunConfig:
    kw.setdefault("device", "cpu")
    kw.setdefault("steps", 40)
    return RunConfig(**kw)


def poll(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.005)


# ------------------------------------------------------------------------------------------------ config

def test_config_json_round_trip(tmp_path):
    c = RunConfig(task="spirals", tower="Adam(alpha=1e-3) / SGD(1e-5)", batch_size=32, epochs=3, seed=7,
                  device="cpu", eval_every=5, task_options={"n": 200}, hypergrad_clip=0.5,
                  alpha_bounds=(0.0, 1.0))
    c.to_json(tmp_path / "c.json")
    back = RunConfig.from_json(tmp_path / "c.json")
    assert back == c and back.to_dict() == c.to_dict()
    assert c.tower == str(parse_tower("adam/sgd(1e-5)"))  # canonicalised
    assert c.model == TASKS["spirals"].default_model


def test_config_defaults_to_five_epochs():
    c = RunConfig()
    assert c.budget == Budget("epochs", 5) == default("budget") and str(c.budget) == "5 epochs"
    assert c.total_steps(1000) == 5 * c.steps_per_epoch(1000)
    assert c.model == TASKS[c.task].default_model       # the task's default model, held by the config


def test_a_config_is_frozen_and_replace_checks_the_copy():
    c = RunConfig(task="digits", steps=100, seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.seed = 4
    longer = c.replace(epochs=2)
    assert longer.budget == Budget("epochs", 2) and c.budget == Budget("steps", 100)   # the original is unchanged
    assert longer.seed == 3 and c.replace(until_stopped=True).total_steps(1000) is None
    assert c.replace(budget=Budget("steps", 7)).budget.count == 7
    other = RunConfig(task="spirals", task_options={"n": 200}).replace(task="digits")
    assert other.model == TASKS["digits"].default_model and other.task_options == {}   # another task's defaults
    with pytest.raises(ValueError, match=re.escape("batch_size=0")):
        c.replace(batch_size=0)
    with pytest.raises(ValueError, match="give one budget"):
        c.replace(budget=Budget("steps", 7), epochs=3)
    assert RunConfig(**c.to_dict()) == c


@pytest.mark.parametrize("budget", [Budget("epochs", 3), Budget("steps", 40), Budget("until stopped")])
def test_every_budget_round_trips_through_json(tmp_path, budget):
    c = RunConfig(budget=budget)
    c.to_json(tmp_path / "c.json")
    saved = json.loads((tmp_path / "c.json").read_text())
    assert {k for k in ("epochs", "steps", "until_stopped") if k in saved} == set(budget.fields())   # one budget key
    assert RunConfig.from_json(tmp_path / "c.json").budget == budget


def test_a_config_file_with_every_budget_key_loads(tmp_path):
    (tmp_path / "c.json").write_text('{"task": "digits", "epochs": null, "steps": 300, "until_stopped": false}')
    assert RunConfig.from_json(tmp_path / "c.json").budget == Budget("steps", 300)


@pytest.mark.parametrize("text,kind,expected", [
    ("1e-4, 1e-2,1", float, [1e-4, 1e-2, 1.0]), ("0;1; 2", int, [0, 1, 2]), (" 3 ", int, [3])])
def test_one_parser_reads_number_lists(text, kind, expected):
    assert parse_numbers(text, "alphas", kind) == expected


@pytest.mark.parametrize("text,kind,fragment", [
    ("1e-4,x", float, "'1e-4,x' is not a comma-separated list of numbers"),
    ("1.5", int, "'1.5' is not a comma-separated list of whole numbers"), (" , ", float, "give at least one value")])
def test_a_bad_number_list_is_named(text, kind, fragment):
    with pytest.raises(ValueError, match=re.escape("alphas: ") + re.escape(fragment)):
        parse_numbers(text, "alphas", kind)


def test_messages_for_unset_fields_speak_plainly():
    for fields in (dict(eval_every=0), dict(threads=0), dict(nice=20), dict(divergence_factor=0.5)):
        with pytest.raises(ValueError) as err:
            RunConfig(**fields)
        assert "None" not in str(err.value) and ("unset" in str(err.value) or "off" in str(err.value))


@pytest.mark.parametrize("fields,fragments", [
    (dict(task="nope"), ["unknown task 'nope'", "digits", "spirals"]),
    (dict(model="resnet20"), ["unknown model 'resnet20'", "mlp"]),
    (dict(tower="adam/sgd("), ["tower='adam/sgd('", "unbalanced"]),
    (dict(tower="adamax"), ["tower='adamax'", "unknown optimizer 'adamax'"]),
    (dict(tower="sgd(-1)"), ["tower='sgd(-1)'", "alpha=-1"]),
    (dict(baseline="lion"), ["unknown baseline 'lion'", "prodigy"]),
    (dict(batch_size=0), ["batch_size=0", ">= 1"]),
    (dict(epochs=-3), ["epochs=-3", ">= 1"]),
    (dict(steps=0), ["steps=0", ">= 1"]),
    (dict(steps=2.5), ["steps=2.5", "integer"]),
    (dict(epochs=2, steps=10), ["epochs=2", "steps=10", "give one"]),
    (dict(seed=-1), ["seed=-1", ">= 0"]),
    (dict(device="tpu"), ["device='tpu'", "cpu"]),
    (dict(eval_every=0), ["eval_every=0", ">= 1"]),
    (dict(task_options=["n"]), ["task_options=['n']", "dict"]),
    (dict(hypergrad_clip=-1.0), ["hypergrad_clip=-1.0", "> 0"]),
    (dict(alpha_bounds=(1.0, 0.0)), ["alpha_bounds=(1.0, 0.0)", "low < high"]),
])
def test_bad_config(fields, fragments):
    with pytest.raises(ValueError) as err:
        RunConfig(**fields)
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused_when_a_run_is_set_up():
    config = RunConfig(device="cuda")   # a config names a device; whether this machine has it is the run's question
    with pytest.raises(ValueError, match="device='cuda' is not available"):
        Run(config)


def test_unknown_json_keys_are_named(tmp_path):
    (tmp_path / "c.json").write_text('{"task": "digits", "stack": "sgd", "lr": 1}')
    with pytest.raises(ValueError) as err:
        RunConfig.from_json(tmp_path / "c.json")
    assert "'stack'" in str(err.value) and "'lr'" in str(err.value) and "tower" in str(err.value)


def test_missing_baseline_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "prodigyopt", None)  # makes `import prodigyopt` raise ImportError
    with pytest.raises(ValueError, match=re.escape("pip install prodigyopt (or, in a clone of gdtuo-explore, pip install -e '.[baselines]')")):
        RunConfig(baseline="prodigy")


def test_baseline_spec_is_the_bottom_level_frozen():
    for spec in ["adam(0.01)/sgd(1e-5)", "sgd(0.1, mu=0.9)/adam/sgd", "rmsprop(learn=alpha)/sgd(1e-4)"]:
        base = parse_tower(baseline_spec(spec))
        bottom = parse_tower(spec)
        assert base.height() == 1
        assert base.values == bottom.values and base.kind == bottom.kind


def test_saved_config_reproduces_the_run_exactly(tmp_path):
    first = Run(config(task="digits", tower="adam/sgd(1e-4)", seed=3, steps=30))
    assert first.run() == "done"
    paths = first.export(tmp_path / "a")
    second = Run(RunConfig.from_json(paths["config"]))
    assert second.run() == "done"
    a, b = first.metrics(), second.metrics()
    assert list(a) == list(b)
    for column in a:
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)
    for column, values in first.evaluations().items():
        np.testing.assert_array_equal(values, second.evaluations()[column], err_msg=column)
    other = Run(config(task="digits", tower="adam/sgd(1e-4)", seed=4, steps=30))
    other.run()
    assert not np.array_equal(other.metrics()["train_loss"], a["train_loss"])  # the seed matters


# ------------------------------------------------------------------------------------------------ the run

def test_synchronous_run_records_every_step():
    run = Run(config(task="spirals", tower="sgd(0.1)/sgd(1e-3)", steps=45, batch_size=100))
    assert run.status == "idle"
    assert run.run() == "done"
    m = run.metrics()
    columns = run.optimizer.towers[0].columns()
    assert list(m) == ["step", "epoch", "train_loss"] + columns
    assert all(len(v) == 45 for v in m.values())
    np.testing.assert_array_equal(m["step"], np.arange(1, 46))
    np.testing.assert_array_equal(m["epoch"], (m["step"] - 1) // run.steps_per_epoch + 1)
    assert np.isfinite(m["train_loss"]).all()
    assert m["level1.alpha"][-1] != m["level1.alpha"][0]  # the tower moved alpha
    np.testing.assert_allclose(m["level1.alpha"][-1], run.optimizer.hyperparameters()[0]["alpha"], rtol=1e-6)
    e = run.evaluations()
    assert e["step"][0] == 0 and e["step"][-1] == 45
    assert np.all(np.diff(e["step"]) > 0)
    final = run.final()
    assert final["test_loss"] == e["test_loss"][-1] and final["test_accuracy"] == e["test_accuracy"][-1]
    assert run.steps_done == 45 and run.progress == 1.0 and run.steps_per_second > 0


def test_epochs_set_the_length_and_evaluations_default_to_once_per_epoch():
    run = Run(config(task="spirals", steps=None, epochs=2, batch_size=160))
    assert run.total_steps == 2 * run.steps_per_epoch
    run.run()
    e = run.evaluations()["step"]
    assert len(e) >= 3 and e[-1] == run.total_steps


def test_controls_from_another_thread():
    run = Run(config(task="digits", steps=LONG))
    run.start()
    poll(lambda: run.steps_done > 3)
    assert run.status == "running"
    controller = threading.Thread(target=run.pause)
    controller.start()
    controller.join(60)
    assert run.status == "paused"   # set by the training thread as it stops before its next step
    paused_at = run.steps_done
    assert run.metrics()["step"].tolist() == list(range(1, paused_at + 1))  # everything was fetched at the pause
    assert run.step(5) == "paused"   # exactly 5 more: none trained while paused
    assert run.steps_done == paused_at + 5
    assert run.metrics()["step"].tolist() == list(range(1, paused_at + 6))
    run.resume()
    poll(lambda: run.steps_done > paused_at + 20)
    assert run.status == "running"
    stopper = threading.Thread(target=run.stop)
    stopper.start()
    stopper.join(60)
    assert run.wait(60) == "stopped"
    stopped_at = run.steps_done
    assert paused_at + 20 < stopped_at < LONG
    assert len(run.metrics()["step"]) == stopped_at
    assert run.resume() == "stopped" and run.steps_done == stopped_at


def test_double_start_starts_one_thread():
    run = Run(config(task="digits", steps=LONG))
    run.start()
    first = run._control.thread
    run.start()
    assert run._control.thread is first
    assert sum(t.name == "gdtuo-run" and t.is_alive() for t in threading.enumerate()) == 1
    with pytest.raises(RuntimeError, match="already started"):
        run.run()
    run.stop()
    assert run.wait(60) == "stopped"


def test_step_before_start_and_wait():
    run = Run(config(task="digits", steps=30))
    assert run.wait() == "idle"
    assert run.step(3) == "paused" and run.steps_done == 3
    assert run.step(2) == "paused" and run.steps_done == 5
    run.resume()
    assert run.wait(60) == "done" and run.steps_done == 30


def test_divergence_is_reported_and_records_are_kept(tmp_path):
    run = Run(config(task="digits", tower=DIVERGES, steps=200, divergence_factor=None))  # the non-finite rule alone
    assert run.run() == "diverged"
    m = run.metrics()
    n = run.steps_done
    assert 0 < n < 200 and len(m["step"]) == n and m["step"][-1] == n
    found = re.fullmatch(rf"diverged at step {n}: non-finite (level\d\.\w+) \((\S+)\).*", run.message)
    assert found, run.message
    assert not np.isfinite(m[found.group(1)][-1])
    assert np.isfinite(m[found.group(1)][:-1]).all()
    d = run.divergence
    assert (d.step, d.kind) == (n, "non-finite") and found.group(1) in dict(d.values)
    paths = run.export(tmp_path)
    with open(paths["metrics"]) as f:
        assert len(list(csv.reader(f))) == n + 1


class _Trap(nn.Module):
    """A tanh MLP that, while training, outputs NaN (or raises) from its ``at``-th forward pass on."""

    def __init__(self, at: int, fail: str):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
        self.at, self.fail, self.calls = at, fail, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.at:
                if self.fail == "raise":
                    raise RuntimeError("boom in forward")
                out = out * float("nan")
        return out


@pytest.fixture
def trap_task(monkeypatch):
    """Register a task 'trap' whose model fails at its 7th training step (``task_options={'fail': ...}``)."""
    def build(model, data_root, seed, *, fail="nan"):
        spirals = make_task("spirals", seed=seed, n=200)
        return Task("trap", model, spirals.train_x, spirals.train_y, spirals.test_x, spirals.test_y,
                    lambda: _Trap(7, fail), F.cross_entropy, "accuracy", "spirals with a trap", 2)

    monkeypatch.setitem(TASKS, "trap", TaskSpec("trap", "test task", ("mlp",), "mlp", False, build))
    return "trap"


def test_non_finite_loss_is_divergence(trap_task):
    run = Run(config(task=trap_task, tower="sgd(0.1)", steps=100))
    assert run.run() == "diverged"
    assert run.steps_done == 7 and len(run.metrics()["train_loss"]) == 7
    assert run.message.startswith("diverged at step 7: non-finite train loss (nan)")
    assert np.isfinite(run.metrics()["train_loss"][:6]).all()


def test_error_in_the_thread_is_reported(trap_task):
    run = Run(config(task=trap_task, steps=100, task_options={"fail": "raise"}))
    run.start()
    assert run.wait(60) == "error"
    assert run.message == "error: RuntimeError: boom in forward"
    assert "boom in forward" in run.error_traceback and "Traceback" in run.error_traceback
    assert run.steps_done == 6 and len(run.metrics()["step"]) == 6
    assert not run._control.thread.is_alive()


@pytest.mark.parametrize("name", ["prodigy", "schedulefree", "dadaptation"])
def test_baselines_train_instead_of_the_tower(name):
    run = Run(config(task="digits", baseline=name, steps=30))
    assert run.run() == "done"
    m = run.metrics()
    assert list(m) == ["step", "epoch", "train_loss", "level1.alpha"] and len(m["step"]) == 30
    assert np.isfinite(m["level1.alpha"]).all() and (m["level1.alpha"] > 0).all()
    assert m["train_loss"][-5:].mean() < m["train_loss"][:5].mean()
    assert name in run.config.summary()


# ------------------------------------------------------------------------------------------------ observers

def concatenated(updates, part):
    keys = getattr(updates[0], part).keys()
    return {k: np.concatenate([getattr(u, part)[k] for u in updates]) for k in keys}


def test_observer_updates_add_up_to_the_history():
    updates = []
    run = Run(config(task="digits", steps=250), observers=[updates.append])
    started = time.monotonic()
    assert run.run() == "done"
    took = time.monotonic() - started
    assert updates and all(isinstance(u, Update) for u in updates)
    assert updates[-1].final and updates[-1].status == "done" and updates[-1].step == 250
    assert not any(u.final for u in updates[:-1])
    for part, history in (("rows", run.metrics()), ("evaluations", run.evaluations())):
        got = concatenated(updates, part)
        assert list(got) == list(history)
        for k in history:
            np.testing.assert_array_equal(got[k], history[k], err_msg=f"{part}.{k}")
    # rate-bounded: batches, not one call per step. Until the first rows the status line's messages (loading the
    # data, building the model) are sent as they change (FIRST_INTERVAL); from then on one update per 0.25 s at most
    first = next(i for i, u in enumerate(updates) if len(u.rows["step"]))
    assert len(updates) - first <= took / 0.25 + 2, [(u.status, u.message, len(u.rows["step"])) for u in updates]


def test_a_blocked_observer_does_not_hold_up_training():
    release, entered = threading.Event(), threading.Event()
    updates = []

    def stuck(update):
        updates.append(update)
        entered.set()
        release.wait(120)

    run = Run(config(task="digits", steps=300), observers=[stuck])
    run.start()
    assert entered.wait(60)
    poll(lambda: run.status in FINISHED)  # training finishes while the observer is still blocked
    assert run.status == "done" and not release.is_set() and len(updates) == 1
    release.set()
    assert run.wait(60) == "done"
    assert updates[-1].final
    np.testing.assert_array_equal(concatenated(updates, "rows")["step"], np.arange(1, 301))


def test_a_raising_observer_does_not_kill_the_run():
    seen = []

    def bad(update):
        raise ValueError("observer bug")

    run = Run(config(task="digits", steps=60), observers=[bad, seen.append])
    assert run.run() == "done" and run.steps_done == 60
    assert run.observer_errors and "ValueError: observer bug" in run.observer_errors[0]
    assert seen[-1].final


def test_add_and_remove_observers():
    late, removed = [], []
    run = Run(config(task="digits", steps=LONG), observers=[removed.append])
    run.remove_observer(removed.append)
    run.step(10)
    run.add_observer(late.append)
    run.stop()
    run.wait(60)
    assert not removed
    np.testing.assert_array_equal(concatenated(late, "rows")["step"], np.arange(1, 11))


def test_throughput_hook():
    calls = []
    assert throughput(config(task="digits", steps=30), observers=[calls.append]) > 0
    assert calls and calls[-1].final


# ------------------------------------------------------------------------------------------------ export, report

def test_export_files(tmp_path):
    run = Run(config(task="digits", tower="adam/sgd(1e-5)", steps=25))
    run.run()
    paths = run.export(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["config.json", "metrics.csv", "evaluations.csv", "nudges.csv", "report.html"])
    with open(paths["nudges"]) as f:
        assert f.read().splitlines() == ["step,column,old,new"]   # a header and no nudge
    with open(paths["metrics"]) as f:
        rows = list(csv.reader(f))
    columns = run.optimizer.towers[0].columns()
    assert rows[0] == ["step", "epoch", "train_loss"] + columns
    assert len(rows) == 26
    m = run.metrics()
    for i, name in enumerate(rows[0]):
        np.testing.assert_array_equal([float(r[i]) for r in rows[1:]], m[name])
    with open(paths["evaluations"]) as f:
        assert next(csv.reader(f)) == ["step", "test_loss", "test_accuracy"]
    page = paths["report"].read_text()
    for div in ("loss", "accuracy", "level1", "level2"):
        assert f'id="{div}"' in page
    for name in ["train loss", "train loss (smoothed)", "test loss", "test accuracy"]:
        assert f'"name":"{name}"' in page
    for name in columns:  # a chart line for every step size and every hyperparameter that moved
        if "alpha" in name or not np.all(m[name] == m[name][0]):
            assert f'"name":"{name}"' in page
        else:  # the others are listed in their level's title
            assert f'"name":"{name}"' not in page and f"{name.split('.')[1]}={m[name][0]:g}" in page
    assert page.count("plotly.js v") == 1  # plotly.js inlined once
    assert run.config.summary() in page


def history(alpha):
    steps = np.arange(1, len(alpha) + 1)
    return {"steps": {"step": steps, "epoch": steps, "train_loss": np.linspace(2, 1, len(alpha)),
                      "level1.alpha": np.asarray(alpha), "level2.alpha": np.full(len(alpha), 1e-3)},
            "evaluations": {"step": np.array([0, len(alpha)]), "test_loss": np.array([2.0, 1.0])},
            "tower": "sgd(0.01)/sgd(0.001)", "title": "made up"}


def traces(figure):
    """Each trace's real values (a symmetric log axis plots transformed ones and keeps the real ones as customdata)."""
    return {t.name: np.asarray(t.y if t.customdata is None else t.customdata, dtype=float) for t in figure.data}


def test_report_shows_negative_step_sizes_on_a_symmetric_log_axis():
    negative = dict(run_figures(history(np.linspace(0.01, -0.5, 50))))["level1"]
    assert "went negative" in negative.layout.title.text and "symmetric log axis" in negative.layout.title.text
    assert negative.layout.yaxis.type != "log" and 2 < len(negative.layout.yaxis.tickvals) < 30
    assert traces(negative)["level1.alpha"].min() == -0.5
    positive = dict(run_figures(history(np.linspace(0.01, 0.5, 50))))["level1"]
    assert "went negative" not in positive.layout.title.text and positive.layout.yaxis.type == "log"


def test_report_thins_long_series_but_keeps_extremes():
    alpha = np.full(100_000, 0.01)
    alpha[54_321] = -7.25
    alpha[77_777] = 3.5
    figures = dict(run_figures(history(alpha)))
    y = traces(figures["level1"])["level1.alpha"]
    assert len(y) <= 5000 and y.min() == -7.25 and y.max() == 3.5
    assert len(traces(figures["loss"])["train loss"]) <= 5000
    assert len(report_html(history(alpha))) < 6_000_000


def test_message_follows_the_steps_while_running():
    run = Run(config(task="spirals", steps=LONG))
    run.start()
    try:
        poll(lambda: run.steps_done > 20)
        first = run.message
        poll(lambda: run.steps_done > int(first.split()[2]) + 20)
        assert first.startswith("training: step ") and first.endswith(f" of {LONG}")
        assert run.message != first
    finally:
        run.stop()
    assert run.status == "stopped"


# ------------------------------------------------------------------------------------------------ reproducibility

def _wide_task(model, data_root, seed):
    """Spirals with a wide MLP: initialising its 1M weights takes long enough for other threads to seed and draw
    from torch's global RNG in the middle of it, unless set-up holds the lock."""
    spirals = make_task("spirals", seed=seed, n=200)
    return Task("wide", model, spirals.train_x, spirals.train_y, spirals.test_x, spirals.test_y,
                lambda: nn.Sequential(nn.Linear(2, 1000), nn.Tanh(), nn.Linear(1000, 1000), nn.Tanh(),
                                      nn.Linear(1000, 2)),
                F.cross_entropy, "accuracy", "spirals with a wide MLP", 2)


def _set_threads_elsewhere(threads):
    other = threading.Thread(target=torch.set_num_threads, args=(threads,))
    other.start()
    other.join()


def test_runs_set_up_and_trained_together_give_the_numbers_of_a_run_alone(monkeypatch, request):
    monkeypatch.setitem(TASKS, "wide", TaskSpec("wide", "test task", ("mlp",), "mlp", False, _wide_task))
    target = dict(task="wide", tower="sgd(0.05)/sgd(1e-3)", steps=4, batch_size=50)
    # As after an explorer run elsewhere in the process: the process-wide thread count changed by another thread,
    # while this thread keeps the count it took on its first parallel operation (new threads take the new one).
    mine = torch.get_num_threads()
    _set_threads_elsewhere(1 if mine > 1 else 2)
    request.addfinalizer(lambda: (_set_threads_elsewhere(mine), torch.set_num_threads(mine)))
    alone = Run(config(seed=7, **target))
    assert alone.run() == "done"
    barrier, runs = threading.Barrier(5), {}

    def build_and_train(seed):
        barrier.wait()
        runs[seed] = Run(config(seed=seed, **target))
        runs[seed].run()

    threads = [threading.Thread(target=build_and_train, args=(seed,)) for seed in (0, 1, 2, 3, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    together = runs[7]
    for column, values in alone.metrics().items():
        np.testing.assert_array_equal(together.metrics()[column], values, err_msg=column)
    for column, values in alone.evaluations().items():
        np.testing.assert_array_equal(together.evaluations()[column], values, err_msg=column)
    for p, q in zip(alone.model.parameters(), together.model.parameters()):
        assert torch.equal(p, q)
    assert not np.array_equal(runs[0].metrics()["train_loss"], together.metrics()["train_loss"])


def test_a_run_gives_the_same_numbers_before_and_after_a_run_with_its_own_threads(monkeypatch, request):
    """The explorer's runs set their own thread count (process-wide, as torch.set_num_threads is); a run with
    threads=None afterwards still uses the count from before, so it gives the numbers it gave before."""
    monkeypatch.setitem(TASKS, "wide", TaskSpec("wide", "test task", ("mlp",), "mlp", False, _wide_task))
    target = dict(task="wide", tower="sgd(0.05)/sgd(1e-3)", steps=3, batch_size=50, seed=3)
    mine = own_threads()
    request.addfinalizer(lambda: (_set_threads_elsewhere(mine), torch.set_num_threads(mine)))
    before = Run(config(**target))
    assert before.run() == "done"
    other = Run(config(**{**target, "threads": 1 if mine > 1 else 2}))
    assert other.run() == "done"
    assert process_threads() != mine     # the explorer-like run left its count set
    after = Run(config(**target))
    assert after.run() == "done"
    for column, values in before.metrics().items():
        np.testing.assert_array_equal(after.metrics()[column], values, err_msg=column)
    assert not np.array_equal(other.metrics()["level1.alpha"], before.metrics()["level1.alpha"])


# ------------------------------------------------------------------------------------------------ divergence rules

@pytest.mark.parametrize("factor,fragment", [
    (1.0, "divergence_factor=1.0"), (0.5, "divergence_factor=0.5"), (-3, "divergence_factor=-3"),
    (math.inf, "divergence_factor=inf"), (math.nan, "divergence_factor=nan"), ("100", "divergence_factor='100'"),
    (True, "divergence_factor=True"),
])
def test_bad_divergence_factor(factor, fragment):
    with pytest.raises(ValueError) as err:
        RunConfig(divergence_factor=factor)
    assert fragment in str(err.value) and "a finite number > 1 (or off)" in str(err.value)


def test_an_exploding_loss_is_divergence_and_keeps_its_records(tmp_path):
    run = Run(config(task="digits", tower="sgd/sgd(100)", steps=115))
    assert run.run() == "diverged"
    m = run.metrics()
    d = run.divergence
    assert d.kind == "exploding loss" and 1 < d.step <= run.steps_done < 115
    assert d.start == m["train_loss"][0] and d.smoothed > 100 * d.start
    assert d.smoothed == pytest.approx(m["train_loss"][max(0, d.step - 20):d.step].mean())
    assert run.message == (f"diverged at step {d.step}: the train loss (smoothed {d.smoothed:.3g}) exceeded 100x "
                           f"its start ({d.start:.3g})")
    assert len(m["step"]) == run.steps_done and run.evaluations()["step"][-1] == run.steps_done
    paths = run.export(tmp_path)
    assert RunConfig.from_json(paths["config"]).divergence_factor == 100.0
    off = Run(config(task="digits", tower="sgd/sgd(100)", steps=40, divergence_factor=None))
    assert off.run() == "done" and off.metrics()["train_loss"][-5:].mean() > 1000  # the rule, not luck, stopped it


# ----------------------------------------------------------------------------------- pace, until stopped, close

def test_pace_limits_the_speed_and_changes_at_once():
    run = Run(config(task="spirals", steps=LONG))
    assert run.pace is None
    run.pace = 20
    started = time.monotonic()
    run.start()
    poll(lambda: run.steps_done >= 10)
    paced = run.steps_done
    assert paced <= 20 * (time.monotonic() - started) + 1   # at most 20 steps a second, however slow the machine
    run.pace = 0.2                       # one step per 5 s: a pause still comes at once, not after the next step
    started = time.monotonic()
    assert run.pause() == "paused" and time.monotonic() - started < 5
    paced = run.steps_done
    run.pace = None
    run.resume()
    poll(lambda: run.steps_done > paced + 200)   # as fast as it goes: 200 steps in far less than 20 s at pace 20
    run.pace = 0.1
    started = time.monotonic()
    assert run.stop() == "stopped" and time.monotonic() - started < 10
    for bad in (0, -1.0, math.inf, math.nan, "fast", True):
        with pytest.raises(ValueError, match="pace="):
            run.pace = bad


def test_until_stopped_trains_until_stopped():
    run = Run(config(task="spirals", steps=None, until_stopped=True, batch_size=100))
    assert run.total_steps is None and run.eval_every == run.steps_per_epoch
    assert "until stopped" in run.config.summary()
    updates = []
    run.add_observer(updates.append)
    run.start()
    poll(lambda: run.steps_done > 3 * run.steps_per_epoch)
    assert run.progress == 0.0
    assert re.fullmatch(r"training: step \d+ \(until stopped\)", run.message), run.message
    assert run.stop() == "stopped" and run.wait(60) == "stopped"
    assert run.message == f"stopped at step {run.steps_done}"
    evaluations = run.evaluations()["step"]
    assert list(evaluations[:4]) == [0, run.steps_per_epoch, 2 * run.steps_per_epoch, 3 * run.steps_per_epoch]
    assert evaluations[-1] <= run.steps_done == len(run.metrics()["step"])
    assert updates[-1].final and all(u.total_steps is None for u in updates)


@pytest.mark.parametrize("fields,fragment", [
    (dict(until_stopped=True, steps=10), "steps=10 and until_stopped=True are both given"),
    (dict(until_stopped=True, epochs=2), "epochs=2 and until_stopped=True are both given"),
    (dict(until_stopped="yes"), "until_stopped='yes'"),
])
def test_bad_until_stopped(fields, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        RunConfig(**fields)


@pytest.mark.parametrize("state", ["idle", "running", "paused", "done"])
def test_close_stops_frees_and_keeps_the_records(tmp_path, state):
    import gc
    import weakref

    run = Run(config(task="digits", steps=LONG if state != "done" else 30))
    refs = [weakref.ref(x) for x in (run.model, run.optimizer, run.task.train_x, run._trainer._test_x)]
    if state == "running":
        run.start()
        poll(lambda: run.steps_done > 5)
    elif state == "paused":
        run.step(7)
    elif state == "done":
        run.run()
    assert run.close() == ("stopped" if state != "done" else "done")
    assert run.close() == run.status  # idempotent
    assert not any(t.name.startswith("gdtuo-run") and t.is_alive() for t in (run._control.thread,) if t)
    assert run.model is None and run.optimizer is None and run.task.train_x is None
    gc.collect()
    assert all(ref() is None for ref in refs)
    steps = run.metrics()["step"]
    assert len(steps) == run.steps_done
    for control in (run.start, run.resume, run.pause, run.stop, run.step):
        control()
    assert run.steps_done == len(steps) and run.status == ("stopped" if state != "done" else "done")
    paths = run.export(tmp_path)
    with open(paths["metrics"]) as f:
        assert len(list(csv.reader(f))) == len(steps) + 1


EXIT_SCRIPT = """
import atexit, sys
atexit.register(lambda: print("at exit:", *(f"{r.status.value} {r.steps_done}" for r in runs)))   # runs last
from gdtuo_explore.engine.config import RunConfig
from gdtuo_explore.engine.run import Run
runs = [Run(RunConfig(task="surface", model="quadratic", tower="sgd(0.001)/sgd(1e-6)", steps=10**7)).start()
        for _ in range(2)]
runs[1].pause()
while runs[0].steps_done < 50:
    pass
"""


@pytest.mark.parametrize("code, expected", [
    (EXIT_SCRIPT, r"at exit: stopped (\d+) stopped (\d+)"),
    ("from gdtuo_explore import Explorer\nexplorer = Explorer()\nprint('at exit:', explorer.state.status.value)",
     r"at exit: idle"),
])
def test_a_script_that_ends_while_runs_train_stops_them_and_exits_cleanly(code, expected):
    """A script that started runs (one training, one paused) or made an explorer (which builds a run in the
    background to warm up) and ended: the runs are stopped before Python shuts down, nothing aborts (a thread left
    inside torch while Python shuts down aborts the process: 'terminate called without an active exception')."""
    import os
    import subprocess
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "GDTUO_FAST": "1", "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get(
        "PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0 and "terminate" not in result.stderr, (result.returncode, result.stderr[-2000:])
    found = re.search(expected, result.stdout)
    assert found, result.stdout
    if found.groups():
        assert int(found.group(1)) >= 50   # the training one had trained; the paused one is stopped too


def test_close_from_an_observer():
    closed = threading.Event()
    run = None

    def closer(update):
        if update.step > 10 and not closed.is_set():
            run.close()
            closed.set()

    run = Run(config(task="digits", steps=LONG), observers=[closer])
    run.start()
    assert closed.wait(60)
    assert run.wait(60) == "stopped" and run.model is None
