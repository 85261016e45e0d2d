"""The shared sweep against a real PostgreSQL server (tests/pg_server.py): workers that open a new database at the
same instant all succeed, no password is ever printed or written, and a database lost mid-sweep ends a worker
with one line. (The grid sharing, the killed worker's point and the report run on PostgreSQL too, in
test_shared_sweep.py.)"""
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import optuna
import pytest

from gdtuo_explore.engine.shared_sweep import open_study

ROOT = Path(__file__).resolve().parents[1]
STUDY = "pg-grid"


def _open_at_barrier(urls, barrier, results):
    """In a fresh process: import everything once, then for each URL wait until every process is at the barrier and
    open the shared sweep there."""
    import traceback

    from gdtuo_explore.engine.shared_sweep import SharedSweep

    for url in urls:
        barrier.wait(timeout=120)
        try:
            study = SharedSweep(url, STUDY, alphas=[0.01, 0.1], heights=[0, 1], seeds=[0], steps=5).open()
            results.put((url, "ok", study.user_attrs.get("gdtuo_ready")))
        except BaseException as err:  # noqa: BLE001 - reported to the test
            results.put((url, "error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def test_workers_opening_a_new_database_at_the_same_instant_all_succeed(postgres):
    """Four processes open the same new database at once, lined up by a barrier, in six rounds (a new database
    each): Optuna's schema (tables, version row, Alembic's stamp) and the study are made once and all four join.
    Without the advisory lock around the schema's creation most rounds lose a worker to ``UniqueViolation``."""
    spawn = multiprocessing.get_context("spawn")
    urls = [postgres.database("race") for _ in range(6)]
    barrier, results = spawn.Barrier(4), spawn.Queue()
    workers = [spawn.Process(target=_open_at_barrier, args=(urls, barrier, results)) for _ in range(4)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=300) for _ in range(4 * len(urls))]
    for w in workers:
        w.join(timeout=60)
    errors = [(url, why) for url, kind, why in outcomes if kind != "ok"]
    assert errors == []
    assert [ready for _, _, ready in outcomes] == [4] * len(outcomes)   # every worker saw the whole grid enqueued
    for url in urls:
        waiting = open_study(url, STUDY).get_trials(states=(optuna.trial.TrialState.WAITING,))
        assert sorted(t.user_attrs["grid_point"] for t in waiting) == [0, 1, 2, 3]   # enqueued once


def _cli(tmp_path, *args, env=None):
    return subprocess.Popen([sys.executable, "-m", "gdtuo_explore", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {}),
                                 "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})


def _secrets(password):
    """Every form of ``password`` that could leak: as given and percent-encoded as in the URL."""
    return {password, quote(password, safe=""), quote(password)}


def test_no_password_in_any_output_log_or_file(postgres, tmp_path):
    """Real CLI workers with alice's real password (it has ``@ : / %`` in it, so the URL carries it encoded) against
    the real server: their output (final lines, warnings, error messages), the run folders (config.json, CSV) and
    the report show the URL masked, and the password nowhere. One worker keeps it out of the URL (PGPASSWORD)."""
    url = postgres.database()
    grid = ["--alphas", "0.01,1", "--heights", "0,1", "--seeds", "0", "--steps", "20", "--study", STUDY,
            "--out", "runs"]
    outputs = []
    workers = [_cli(tmp_path, "sweep", "--storage", url, *grid),
               _cli(tmp_path, "sweep", "--storage", url, *grid, "--quiet"),
               _cli(tmp_path, "sweep", "--storage", re.sub(r":[^:@/]+@", "@", url, count=1), *grid, "--quiet",
                    env={"PGPASSWORD": postgres.password})]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        outputs.append(out + err)
    masked = f"postgresql://alice:***@127.0.0.1:{postgres.port}/"
    assert masked in outputs[0] and "the password is masked" in outputs[0]

    report = tmp_path / "sweep.html"
    bad_password = url.replace(quote(postgres.password, safe=""), quote(postgres.password + "x", safe=""))
    for args, status in [
        (["sweep", "--storage", url, "--study", STUDY, "--report", str(report)], 0),
        (["sweep", "--storage", url, "--study", "nosuch", "--report", "x.html"], 2),            # no such study
        (["sweep", "--storage", url, *grid[:-4], "--steps", "21", "--study", STUDY], 2),       # another grid
        (["sweep", "--storage", bad_password, *grid], 2),                                       # wrong password
        (["sweep", "--storage", url.replace("/sweeps", "/nosuchdb"), *grid], 2),               # no such database
    ]:
        worker = _cli(tmp_path, *args)
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == status, err
        outputs.append(out + err)
    assert "has no study 'nosuch'" in outputs[4] and "holds another grid" in outputs[5]
    assert "password authentication failed" in outputs[6] and 'database "nosuchdb' in outputs[7]
    assert all(masked in text for text in outputs[3:] if "error" in text)

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".json", ".csv", ".html"} <= kinds, kinds
    leaks = [f"output {i}" for i, text in enumerate(outputs) if any(s in text for s in _secrets(postgres.password))]
    for path in files:
        text = path.read_text(errors="replace")
        leaks += [str(path) for s in _secrets(postgres.password) if s in text]
    assert leaks == []
    assert sum(1 for _ in (tmp_path / "runs").glob("*/config.json")) == 4   # the runs were really written


def test_a_database_lost_mid_sweep_ends_the_worker_with_one_line(tmp_path):
    """A server of its own, stopped while a worker trains a point: the worker ends with exit 1 and one line naming
    the masked storage and saying how to resume, no traceback, no password."""
    from pg_server import PostgresServer

    with PostgresServer.start() as server:
        url = server.database()
        worker = _cli(tmp_path, "sweep", "--storage", url, "--study", STUDY, "--alphas", "0.01,0.1,1", "--heights",
                      "0,1", "--seeds", "0", "--steps", "3000", "--heartbeat", "1", "--quiet", "--out", "runs")
        deadline = time.monotonic() + 240
        while True:
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "the worker never took a point"
            time.sleep(0.2)
            try:
                if open_study(url, STUDY).get_trials(states=(optuna.trial.TrialState.RUNNING,)):
                    break
            except ValueError:  # the study is not made yet
                continue
        server.process.send_signal(signal.SIGINT)   # the database goes away (fast shutdown)
        server.process.wait(timeout=60)
        out, err = worker.communicate(timeout=300)
    assert worker.returncode == 1, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"gdtuo-explore: error: storage postgresql://alice:***@127.0.0.1:{server.port}/sweeps1 "
                           "failed during the sweep (")
    assert last.endswith("start the command again to resume")
    assert not any(s in out + err for s in _secrets(server.password))



def test_optuna_dashboard_shows_the_study_with_the_password_in_pgpassword(postgres, tmp_path):
    """docs/sweeps.md's recipe: ``optuna-dashboard postgresql://alice@HOST/DB`` with PGPASSWORD set lists the
    sweep's study, its grid and its waiting points."""
    import json
    import shutil
    import urllib.request

    from browser import free_port
    from gdtuo_explore.engine.shared_sweep import SharedSweep

    dashboard = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) or \
        shutil.which("optuna-dashboard")
    assert dashboard, "optuna-dashboard is missing: pip install optuna-dashboard (the dev extra installs it)"
    url = postgres.database()
    SharedSweep(url, STUDY, alphas=[0.01, 1.0], heights=[0, 1], seeds=[0], steps=5).open()
    port = free_port()
    server = subprocess.Popen([dashboard, re.sub(r":[^:@/]+@", "@", url, count=1), "--host", "127.0.0.1", "--port",
                               str(port)], env={**os.environ, "PGPASSWORD": postgres.password}, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    studies = json.load(response)["study_summaries"]
                break
            except OSError:
                assert time.monotonic() < deadline, "optuna-dashboard did not answer within 120 s"
                time.sleep(0.3)
        assert [s["study_name"] for s in studies] == [STUDY]
        attrs = {a["key"]: a["value"] for a in studies[0]["user_attrs"]}
        assert json.loads(attrs["gdtuo_grid"])["alphas"] == [0.01, 1.0] and attrs["gdtuo_ready"] == "4"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}",
                                    timeout=30) as response:
            trials = json.load(response)["trials"]
        assert [t["state"] for t in trials] == ["Waiting"] * 4
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert not any(s in output for s in _secrets(postgres.password))
