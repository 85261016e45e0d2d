"""The sweep shared through an Optuna storage: workers split the grid, a killed worker's point is run again by
another, nothing runs twice to completion, the figure comes from the stored results, bad input exits 2. Each storage
kind is tested the same way: a SQLite file, a journal file and a database on the tests' own PostgreSQL server
(tests/pg_server.py)."""
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from packaging.specifiers import SpecifierSet

from gdtuo_explore.cli import main
from gdtuo_explore.engine.shared_sweep import OPTUNA_MADE_FOR, open_study, report_rows, stored_rows

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--alphas", "0.001,0.1,1", "--heights", "0,1", "--seeds", "0,1", "--steps", "12"]   # 12 points
STUDY = "test-grid"


def _worker(tmp_path, url, *extra, grid=GRID, out="runs"):
    """A worker process: ``gdtuo-explore sweep`` on ``url`` with ``grid`` and ``extra`` arguments."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "gdtuo_explore", "sweep", "--storage", url, "--study", STUDY,
                             *grid, "--quiet", "--out", str(tmp_path / out), *extra],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _storage(kind, tmp_path, request, name="sweep"):
    """A new, empty storage of ``kind``: a SQLite file, a journal file, or a database on the tests' PostgreSQL server
    (its URL carries a password)."""
    if kind == "postgresql":
        return request.getfixturevalue("postgres").database()
    return f"sqlite:///{tmp_path / (name + '.db')}" if kind == "sqlite" else str(tmp_path / (name + ".log"))


KINDS = ["sqlite", "journal", "postgresql"]


def _point(trial):
    return trial.params["height"], trial.params["alpha"], trial.params["seed"]


@pytest.mark.parametrize("kind", KINDS)
def test_two_workers_share_the_grid_and_a_killed_workers_point_runs_again(tmp_path, capsys, request, kind):
    url = _storage(kind, tmp_path, request)
    a, b = _worker(tmp_path, url, "--heartbeat", "1"), _worker(tmp_path, url, "--heartbeat", "1")
    deadline, victim = time.monotonic() + 240, None
    while victim is None:  # SIGKILL worker a while it holds a point
        assert a.poll() is None, f"worker a exited ({a.returncode}) before it held a point: {a.communicate()[1]}"
        assert time.monotonic() < deadline, "worker a never held a point"
        time.sleep(0.05)
        try:
            study = open_study(url, STUDY)
        except ValueError:  # not created yet
            continue
        held = [t for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
                if t.user_attrs.get("worker", "").endswith(f":{a.pid}")]
        if held:
            a.send_signal(signal.SIGKILL)
            a.wait()
            victim = held[0].number
    out, err = b.communicate(timeout=300)
    assert b.returncode == 0, err
    # a restarted worker resumes: nothing is left, so it trains nothing
    assert main(["sweep", "--storage", url, "--study", STUDY, *GRID, "--quiet", "--out", str(tmp_path / "runs")]) == 0
    assert "12 of 12 points complete (0 trained here)" in capsys.readouterr().out

    trials = open_study(url, STUDY).get_trials()
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(Counter(map(_point, complete)).values()) == [1] * 12   # every point complete exactly once
    killed = [t for t in trials if t.number == victim][0]
    assert killed.state == optuna.trial.TrialState.FAIL   # failed by its stale heartbeat...
    retry = [t for t in complete if _point(t) == _point(killed)][0]
    assert retry.user_attrs["worker"] != killed.user_attrs["worker"]   # ...and run by another worker
    ran = [t for t in trials if "grid_point" in t.user_attrs and t.params]   # every trial that started a run
    assert len(ran) == 13   # the 12 points plus the killed one
    for t in complete:
        assert t.user_attrs["status"] == "done"
        assert t.value == t.user_attrs["final_test_loss"]
        assert 0 <= t.user_attrs["final_test_accuracy"] <= 1
        assert len(t.user_attrs["hyperparameters"]) == t.params["height"] + 1   # one dict per level
        assert Path(t.user_attrs["metrics"]).is_file()
        assert sum(1 for _ in open(t.user_attrs["metrics"])) == 13   # header + 12 steps

    report = tmp_path / "sweep.html"
    assert main(["sweep", "--storage", url, "--study", STUDY, "--report", str(report)]) == 0
    text = report.read_text()
    assert "mean over 2 seeds" in text and "height 1" in text


def _row(height, alpha, seed, loss, accuracy, status="done"):
    return {"height": height, "alpha": alpha, "seed": seed, "tower": "t", "final_test_loss": loss,
            "final_test_accuracy": accuracy, "status": status}


def test_report_rows_average_the_seeds_and_count_unfinished_ones():
    rows = [_row(0, 0.1, 0, 1.0, 0.5), _row(0, 0.1, 1, 3.0, 0.7), _row(1, 0.1, 0, 2.0, 0.6),
            _row(1, 0.1, 1, None, None, "pending")]
    points = report_rows(rows)
    assert points[0] == {"height": 0, "alpha": 0.1, "tower": "t", "final_test_loss": 2.0,
                         "final_test_accuracy": pytest.approx(0.6), "status": "done", "seeds": 2}
    assert points[1]["final_test_loss"] == 2.0 and points[1]["status"] == "1 done, 1 pending"


def test_stored_rows_of_a_study_not_run_yet_are_pending(tmp_path):
    from gdtuo_explore.engine.shared_sweep import SharedSweep

    url = f"sqlite:///{tmp_path / 's.db'}"
    sweep = SharedSweep(url, "pending", alphas=[0.01, 1.0], heights=[0, 2], seeds=[3], steps=5)
    study = sweep.open()
    rows = stored_rows(study)
    assert [(r["height"], r["alpha"], r["seed"], r["status"]) for r in rows] == [
        (0, 0.01, 3, "pending"), (0, 1.0, 3, "pending"), (2, 0.01, 3, "pending"), (2, 1.0, 3, "pending")]
    assert rows[2]["tower"] == "sgd/sgd/sgd"   # sgd(0.01) is sgd's default step
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == 4


@pytest.mark.parametrize("kind", KINDS)
def test_workers_starting_together_enqueue_the_grid_once(tmp_path, request, kind):
    from concurrent.futures import ThreadPoolExecutor

    from gdtuo_explore.engine.shared_sweep import SharedSweep

    url = _storage(kind, tmp_path, request, "s")
    workers = [SharedSweep(url, "together", alphas=[0.01, 0.1, 1.0], heights=[0, 1], seeds=[0, 1], steps=5)
               for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        studies = list(pool.map(lambda w: w.open(), workers))
    assert all(s.user_attrs["gdtuo_ready"] == 12 for s in studies)
    waiting = studies[0].get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert sorted(t.user_attrs["grid_point"] for t in waiting) == list(range(12))


@pytest.mark.parametrize("argv, message", [
    (["--storage", "nosuchdb://host/x"], "cannot be opened"),
    (["--storage", "sweep.db"], "is not a storage URL"),
    (["--storage", "no/such/folder/sweep.log"], "does not exist"),
    (["--storage", "sqlite:///grid.db", "--alphas", "0.5"], "holds another grid (alphas: stored [0.001, 0.1, 1.0], "
                                                             "given [0.5]"),
    (["--storage", "sqlite:///grid.db", "--study", "other", "--report", "x.html"], "has no study 'other'; its "
                                                                                   "studies: test-grid"),
    (["--storage", "sqlite:///grid.db", "--processes", "2"], "start the command once per worker"),
    (["--storage", "sqlite:///grid.db", "--heartbeat", "0"], "argument --heartbeat: '0' is not a whole number >= 1"),
    (["--seeds", "0,1"], "--seeds needs --storage"),
])
def test_bad_storage_input_exits_2_with_a_clear_message(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    from gdtuo_explore.engine.shared_sweep import SharedSweep
    SharedSweep("sqlite:///grid.db", STUDY, alphas=[0.001, 0.1, 1], heights=[0, 1], seeds=[0, 1], steps=12).open()
    argv = ["sweep", *argv] + ([] if "--study" in argv or "--storage" not in argv else ["--study", STUDY])
    argv += [] if "--alphas" in argv else GRID
    try:
        status = main(argv + ["--quiet"])
    except SystemExit as exit:   # argparse's own checks end the parse
        status = exit.code
    assert status == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("kind", KINDS)
def test_workers_started_at_once_on_a_new_storage_each_train_their_own_points(tmp_path, request, kind):
    """Four workers open a storage that does not exist yet, at the same moment, on a 2-point grid of 2-step runs.
    The races this guards against: in SQLite two workers can both take the same waiting point (a transaction begins
    at its first write), and one then fails with "Trial#0 has already finished"; two can both create the file's
    tables; on a new PostgreSQL database all but one can die creating Optuna's schema (``UniqueViolation``).
    test_postgres.py lines the workers up more tightly still."""
    grid = ["--alphas", "0.1", "--heights", "0", "--seeds", "0,1", "--steps", "2"]
    for attempt in range(3):  # the race needs the workers' timing to line up: three rounds of four
        store = _storage(kind, tmp_path, request, f"sweep{attempt}")
        workers = [_worker(tmp_path, store, grid=grid, out=f"runs{attempt}") for _ in range(4)]
        results = [w.communicate(timeout=300) for w in workers]
        for worker, (_, err) in zip(workers, results):
            assert worker.returncode == 0, err
        trials = open_study(store, STUDY).get_trials()
        ran = [t for t in trials if "worker" in t.user_attrs]   # every trial that started a run
        assert sorted(_point(t) for t in ran) == [(0, 0.1, 0), (0, 0.1, 1)]   # each point trained once, by one worker
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in ran)


@pytest.mark.parametrize("url, shown, secret", [
    ("postgresql://alice:s3cret@db.example.org:5432/sweeps", "postgresql://alice:***@db.example.org:5432/sweeps",
     "s3cret"),
    ("postgresql://alice:p%40ss%2Fw@host/db", "postgresql://alice:***@host/db", "p@ss/w"),   # percent-encoded
    ("postgresql://alice:p@ss/w@host/db", "postgresql://alice:***@host/db", "p@ss/w"),       # not encoded
    ("postgresql+psycopg://alice@host/db?password=s3cret&sslmode=require",
     "postgresql+psycopg://alice@host/db?password=***&sslmode=require", "s3cret"),
    ("mysql+pymysql://bob:hunter22@10.0.0.5/optuna", "mysql+pymysql://bob:***@10.0.0.5/optuna", "hunter22"),
    ("alice:s3cret@host/db", "alice:***@host/db", "s3cret"),                                 # no scheme
    ("postgresql://alice@host:5432/db", "postgresql://alice@host:5432/db", None),            # no password
    ("sqlite:///runs/sweep.db", "sqlite:///runs/sweep.db", None),
    ("runs/sweep.log", "runs/sweep.log", None),
])
def test_mask_url_hides_the_password_and_nothing_else(url, shown, secret):
    from gdtuo_explore.engine.shared_sweep import mask_secrets, mask_url

    assert mask_url(url) == shown
    message = mask_secrets(f"could not connect to {url}: password {secret} rejected", url)
    assert message == f"could not connect to {shown}: password {'***' if secret else None} rejected"


def test_a_missing_database_driver_is_one_line_naming_the_package(tmp_path):
    """SQLAlchemy's ``postgresql://`` driver is psycopg (3); without it the user gets one line saying what to install,
    not Optuna's "Failed to import DB access module", and no password."""
    script = ("import sys; sys.modules['psycopg'] = None  # as if psycopg were not installed\n"
              "from gdtuo_explore.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    url = "postgresql://alice:s3cret-pw@127.0.0.1:1/sweeps"
    result = subprocess.run([sys.executable, "-c", script, "sweep", "--storage", url, *GRID, "--quiet"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "gdtuo-explore: error: storage postgresql://alice:***@127.0.0.1:1/sweeps needs the database driver "
        "'psycopg', which is not installed: pip install 'psycopg[binary]' (or, in a clone of gdtuo-explore, pip install "
        "-e '.[sweeps]')"]
    assert "s3cret" not in result.stdout + result.stderr


def test_optuna_is_the_version_whose_internals_shared_sweep_uses():
    assert optuna.__version__ in SpecifierSet(OPTUNA_MADE_FOR), (
        f"optuna {optuna.__version__} is installed, but gdtuo_explore/engine/shared_sweep.py was made for "
        f"optuna{OPTUNA_MADE_FOR}: it subclasses optuna.storages._heartbeat.BaseHeartbeat and reads "
        "Trial._trial_id. Run tests/test_shared_sweep.py and tests/test_postgres.py, then widen OPTUNA_MADE_FOR")


def test_optunas_heartbeat_internals_are_still_what_shared_sweep_implements(tmp_path):
    """The journal storage implements exactly BaseHeartbeat's abstract methods, and a trial's ``_trial_id`` is the id
    the storage's calls take."""
    from optuna.storages._heartbeat import BaseHeartbeat

    assert BaseHeartbeat.__abstractmethods__ == {"record_heartbeat", "_get_stale_trial_ids",
                                                 "get_heartbeat_interval", "get_heartbeat_stale_trial_callback"}
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'ids.db'}")
    trial = study.ask()
    study.tell(trial, 1.0)
    assert study._storage.get_trial(trial._trial_id).number == trial.number
