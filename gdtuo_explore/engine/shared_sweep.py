"""The sensitivity sweep shared by many worker processes, on one machine or many, through an Optuna storage.

    gdtuo-explore sweep --storage sqlite:///sweep.db --alphas 1e-4,1e-2,1 --heights 0,1,2 --seeds 0,1 --steps 300

The grid (initial alpha x tower height x seed) is an Optuna study (the ``sweeps`` extra) in any
storage Optuna takes: a SQLite file or a journal file (a path ending in ``.log``) on one machine, PostgreSQL or MySQL
for many. Every process started with the same grid and study name joins the same study and takes grid points until
none is left:

- The process that creates the study enqueues every grid point once, as a waiting trial; a worker takes one by
  moving it from waiting to running, which the storage lets only one process do. So every point runs once.
- While a worker trains a point it records a heartbeat every ``heartbeat`` seconds (Optuna's heartbeat; for journal
  files the same mechanism, stored as a trial attribute). A point whose heartbeat is older than twice that (a killed
  worker, a lost machine) is marked failed by the next worker that looks, and put back as a waiting trial
  (Optuna's ``RetryHeartbeatStaleTrialCallback``), at most ``max_retry`` times.
- Re-running the command resumes: points already complete are not run again.

Each trial's results are its user attributes: ``status``, ``message``, ``final_test_loss``,
``final_test_accuracy``, ``hyperparameters`` (the learned values, per level), ``metrics`` (the path of the run's
``metrics.csv``, on the machine named by ``worker``) and ``tower``; its value is the final test loss (``inf`` when
there is none). :func:`stored_rows` reads them back, e.g. for :func:`report_rows` and the sensitivity figure.

A storage URL is shown and written only through :func:`mask_url` (``postgresql://alice:***@host/db``): worker logs
end up in CI logs, terminals and shared notebooks. Give PostgreSQL's password in ``PGPASSWORD`` or ``~/.pgpass``
to keep it off the command line too (``postgresql://alice@host/db``).
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import socket
import threading
import time
import warnings
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no lock while a SQLite file is created
    fcntl = None

from .config import RunConfig
from .status import Status
from .sweep import DEFAULT_ALPHAS, DEFAULT_HEIGHTS, DEFAULT_KAPPA, grid, tower_spec

log = logging.getLogger(__name__)

GRID_ATTR = "gdtuo_grid"     # the study's grid (user attribute), compared by every worker that joins
READY_ATTR = "gdtuo_ready"   # set once every grid point is enqueued
READY_TIMEOUT = 120.0        # seconds a joining worker waits for the creator to enqueue the grid
DEFAULT_HEARTBEAT = 60       # seconds between heartbeats; a trial is stale after twice that
DEFAULT_MAX_RETRY = 3        # times a killed worker's point is put back
#: The Optuna versions whose internals this module uses were checked with (tests/test_shared_sweep.py fails, naming
#: what changed, when the installed one differs or lacks them): the heartbeat's base class
#: ``optuna.storages._heartbeat.BaseHeartbeat`` and its abstract ``_get_stale_trial_ids``, which a journal storage
#: implements here (Optuna beats a heartbeat for databases only), and ``Trial._trial_id``, the id its storage calls
#: take (as Optuna's own heartbeat code passes it).
OPTUNA_MADE_FOR = ">=5.1,<5.2"
#: The PyPI package of each database driver that SQLAlchemy imports for a URL (``postgresql://`` is ``psycopg``).
DRIVERS = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "pg8000": "pg8000", "asyncpg": "asyncpg",
           "pymysql": "PyMySQL", "MySQLdb": "mysqlclient", "mysql": "mysql-connector-python"}
#: Any number that no other program's advisory lock on the same database is likely to use (PostgreSQL's advisory
#: locks are per database and keyed by one 64-bit integer).
SCHEMA_LOCK = 0x6764_7475_6F5F_7377  # "gdtuo_sw"
STORAGE_FORMS = ("sqlite:///FILE.db, postgresql://USER:PASSWORD@HOST/DB, mysql+pymysql://USER:PASSWORD@HOST/DB "
                 "or a journal file path ending in .log")
#: The config fields that define the grid's runs (with alphas, heights, seeds, kappa and the budget); device and
#: data root may differ from machine to machine.
GRID_FIELDS = ("task", "model", "batch_size")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ValueError("a sweep with a storage needs Optuna: pip install optuna (or, in a clone of gdtuo-explore, "
                         "pip install -e '.[sweeps]')") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # ask/tell with a heartbeat: this module beats it itself (SharedSweep._train)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    return optuna


def mask_url(url) -> str:
    """``url`` as it may be shown or written: a database URL's password replaced by ``***``, also one given as a
    ``password=`` query parameter, also in a URL that lacks its scheme; a journal file path as it is.

    >>> mask_url("postgresql://alice:s3cret@db.example.org:5432/sweeps")
    'postgresql://alice:***@db.example.org:5432/sweeps'

    Everything between the user name's colon and the last ``@`` is masked, so a password with an ``@`` or ``/``
    that was not percent-encoded is masked whole too (SQLAlchemy's own ``hide_password`` splits it at its first
    ``@`` and shows the rest).
    """
    url = str(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo.split("/")[0]:
        rest = f"{userinfo.split(':', 1)[0]}:***@{host}"
    rest = re.sub(r"([?&]password=)[^&]*", r"\1***", rest, flags=re.IGNORECASE)
    return f"{scheme}{sep}{rest}"


def _password_forms(url: str) -> list[str]:
    """The password in ``url`` as written there and percent-decoded (none shorter than 4 characters: masking those
    in a message would garble it)."""
    from urllib.parse import unquote

    scheme, sep, rest = str(url).partition("://")
    userinfo = (rest if sep else scheme).rpartition("@")[0]
    found = [userinfo.split(":", 1)[1]] if ":" in userinfo.split("/")[0] else []
    found += re.findall(r"[?&]password=([^&]*)", str(url), flags=re.IGNORECASE)
    forms = {f for p in found for f in (p, unquote(p))}
    return sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)


def mask_secrets(text: str, url) -> str:
    """``text`` (e.g. a driver's error message) with ``url`` shown by :func:`mask_url` and its password, as written
    in the URL or decoded, replaced by ``***`` wherever it appears."""
    text = str(text).replace(str(url), mask_url(url))
    for password in _password_forms(url):
        text = text.replace(password, "***")
    return text


def default_study_name(task: str) -> str:
    """The study name used when none is given."""
    return f"gdtuo-sweep-{task}"


def _journal_storage(path: str, heartbeat: int | None, callback):
    """A journal-file storage that also keeps Optuna's heartbeat (which Optuna implements for databases only): the
    last beat is a system attribute of the trial, compared with this machine's clock (a journal file lives on one
    machine)."""
    optuna = _optuna()
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages.journal import JournalFileBackend

    class JournalStorageWithHeartbeat(optuna.storages.JournalStorage, BaseHeartbeat):
        def record_heartbeat(self, trial_id: int) -> None:
            self.set_trial_system_attr(trial_id, "heartbeat", time.time())

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            now = time.time()
            return [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False,
                                                             states=(optuna.trial.TrialState.RUNNING,))
                    if "heartbeat" in t.system_attrs and now - t.system_attrs["heartbeat"] > 2 * heartbeat]

        def get_heartbeat_interval(self) -> int | None:
            return heartbeat

        def get_heartbeat_stale_trial_callback(self):
            return callback

    return JournalStorageWithHeartbeat(JournalFileBackend(path))


def open_storage(url: str, heartbeat: int | None = DEFAULT_HEARTBEAT, max_retry: int = DEFAULT_MAX_RETRY):
    """The Optuna storage at ``url`` (a database URL, or a journal file path ending in ``.log``), with a heartbeat
    every ``heartbeat`` seconds (None: none; a point is then never retried) and stale points put back at most
    ``max_retry`` times. ValueError saying which forms work if ``url`` cannot be opened."""
    optuna = _optuna()
    if heartbeat is not None and (isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1):
        raise ValueError(f"heartbeat={heartbeat!r} is out of range: it must be a whole number of seconds >= 1")
    callback = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"storage {url!r} is not a storage URL: use {STORAGE_FORMS}")
    if "://" not in url:
        if not url.endswith(".log"):
            raise ValueError(f"storage {mask_url(url)!r} is not a storage URL: use {STORAGE_FORMS}")
        if not Path(url).expanduser().resolve().parent.is_dir():
            raise ValueError(f"storage {url!r}: the folder {Path(url).parent} does not exist")
        return _journal_storage(str(Path(url).expanduser()), heartbeat, callback)
    sqlite = url.startswith("sqlite")
    kwargs = {"connect_args": {"timeout": 60}} if sqlite else {}  # wait out other writers
    try:
        with _creating(url):
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat,
                                                 grace_period=None if heartbeat is None else 2 * heartbeat,
                                                 heartbeat_stale_trial_callback=callback if heartbeat else None)
    except ImportError as err:  # SQLAlchemy could not import the URL's driver
        raise ValueError(_missing_driver(url, err)) from None
    except Exception as err:  # noqa: BLE001 - sqlalchemy's many errors (bad scheme, no server, bad password)
        why = mask_secrets(" ".join(str(err).split()), url)[:300]
        raise ValueError(f"storage {mask_url(url)} cannot be opened ({type(err).__name__}: {why}); use "
                         f"{STORAGE_FORMS}") from None
    if sqlite:
        _begin_immediate(storage.engine)
    return storage


def _missing_driver(url: str, err: ImportError) -> str:
    """One line naming the driver SQLAlchemy did not find for ``url`` and the package that brings it."""
    cause = err.__cause__ if isinstance(err.__cause__, ImportError) else err
    module = (cause.name or "").split(".")[0] or "its driver"
    package = DRIVERS.get(module, module)
    how = (f"pip install '{package}' (or, in a clone of gdtuo-explore, pip install -e '.[sweeps]')"
           if module == "psycopg" else f"pip install '{package}'")
    return f"storage {mask_url(url)} needs the database driver {module!r}, which is not installed: {how}"


@contextlib.contextmanager
def _creating(url: str):
    """Let one process at a time open the storage at ``url`` while Optuna creates its tables (if missing).

    Optuna's ``RDBStorage`` creates its schema when it is made (``create_all``, then its version row and Alembic's
    stamp), with no guard against another process doing the same: unguarded, workers started at the same moment on
    a new database each see the tables missing and create them, and all but one die (PostgreSQL: ``UniqueViolation``
    on ``CREATE TYPE studydirection`` or ``CREATE TABLE alembic_version``; SQLite: "table already exists"). So:

    - PostgreSQL: a session-level advisory lock (``pg_advisory_lock``) held on a connection of its own while the
      storage is made. It needs no table of its own (there is none yet), is released when that connection closes
      even if this process dies, and a worker that comes later finds the tables made and only reads them. Optuna
      offers nothing for this (``skip_table_creation`` leaves the creating to someone else).
    - SQLite: an exclusive ``flock`` on ``FILE.db.lock`` beside the file (a file on one machine).
    - Anything else (MySQL): no lock; start one worker first on a new database.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK})
        finally:
            engine.dispose()
        return
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not database or database.startswith(":memory:") or fcntl is None:
        yield
        return
    with open(Path(database).expanduser().with_name(Path(database).name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _begin_immediate(engine) -> None:
    """Make every transaction on this SQLite engine take the write lock when it begins (``BEGIN IMMEDIATE``).

    Python's sqlite3 begins a transaction only at its first write, so two workers could both read a grid point as
    waiting and then both mark it running: each trained it, and the second to finish failed ("Trial#0 has already
    finished"). With the lock taken at the start, Optuna's read-then-write steps run one process at a time (the
    others wait, up to the connection's timeout). SQLAlchemy's recipe for pysqlite's transactions."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # sqlite3 issues no BEGIN of its own...

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # ...SQLAlchemy issues this one

    engine.dispose()  # the connections Optuna opened before these listeners are closed, not reused


def open_study(url: str, study: str, storage=None):
    """The existing study ``study`` in the storage at ``url``; ValueError naming the studies there if it is not."""
    optuna = _optuna()
    storage = open_storage(url, heartbeat=None) if storage is None else storage
    try:
        return optuna.load_study(study_name=study, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise ValueError(f"storage {mask_url(url)} has no study {study!r}; its studies: "
                         f"{', '.join(names) or '(none)'}") from None


def _point_key(params: dict) -> tuple:
    return int(params["height"]), float(params["alpha"]), int(params["seed"])


class SharedSweep:
    """The grid ``heights`` x ``alphas`` x ``seeds`` as the study ``study`` in the Optuna storage at ``storage``.

    Other keywords are :class:`RunConfig` fields shared by every run (``steps=300``, ``batch_size``, ``device``
    ...; unset ones take RunConfig's defaults).
    Every config is validated here (ValueError at once). :meth:`work` trains grid points in this process until none
    is left; each run's files go to ``out/h{height}-alpha{alpha}-seed{seed}``. ``progress(done, total)`` is called
    whenever the count of complete points is read.
    """

    def __init__(self, storage: str, study: str | None = None, task: str = "digits", alphas=DEFAULT_ALPHAS,
                 heights=DEFAULT_HEIGHTS, seeds=(0,), kappa: float = DEFAULT_KAPPA, *, out=None,
                 heartbeat: int = DEFAULT_HEARTBEAT, max_retry: int = DEFAULT_MAX_RETRY, progress=None, **fields):
        alphas, heights, seeds = list(alphas), list(heights), list(seeds)
        if not alphas or not heights or not seeds:
            raise ValueError(f"a sweep needs at least one alpha, one height and one seed (got alphas={alphas}, "
                             f"heights={heights}, seeds={seeds})")
        for name, values in (("alphas", alphas), ("heights", heights), ("seeds", seeds)):
            if len(set(values)) != len(values):
                raise ValueError(f"{name}={values} repeats a value: each grid point must be unique")
        base = RunConfig(task=task, **fields)
        self.configs: dict[tuple, dict] = {
            _point_key({"height": height, "alpha": alpha, "seed": seed}): config.to_dict()
            for height, alpha, seed, config in grid(base, alphas, heights, kappa, seeds)}
        self.grid = {"alphas": [float(a) for a in alphas], "heights": heights, "seeds": seeds, "kappa": float(kappa),
                     **{f: getattr(base, f) for f in GRID_FIELDS}, **base.budget.fields()}
        self.url = storage
        self.study_name = study or default_study_name(task)
        self.out = Path(out) if out is not None else Path("runs") / self.study_name
        self.storage = open_storage(storage, heartbeat, max_retry)
        self.heartbeat, self.max_retry = heartbeat, max_retry
        self.progress_callback = progress
        self.status, self.message = Status.IDLE, "not started"
        self._stop = threading.Event()

    @property
    def total(self) -> int:
        """Points in the grid."""
        return len(self.configs)

    def stop(self) -> None:
        """Stop taking points (a point being trained is finished first)."""
        self._stop.set()

    # -- the study ---------------------------------------------------------------------------------------------
    def _sampler(self):
        space = {"height": self.grid["heights"], "alpha": self.grid["alphas"], "seed": self.grid["seeds"]}
        return _optuna().samplers.GridSampler(space, seed=0)

    def open(self):
        """Create the study with its grid enqueued, or join it once its creator has enqueued the grid; ValueError if
        it holds another grid."""
        optuna = _optuna()
        try:
            study = optuna.create_study(storage=self.storage, study_name=self.study_name, direction="minimize",
                                        sampler=self._sampler())
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=self.study_name, storage=self.storage, sampler=self._sampler())
            deadline = time.monotonic() + READY_TIMEOUT
            while time.monotonic() < deadline:  # the creator may still be writing the grid, then enqueueing it
                attrs = study.user_attrs
                if READY_ATTR in attrs or attrs.get(GRID_ATTR, self.grid) != self.grid:
                    break
                time.sleep(0.2)
            self._check_grid(study)
            return study
        study.set_user_attr(GRID_ATTR, self.grid)
        for index, (height, alpha, seed) in enumerate(self.configs):
            study.enqueue_trial({"height": height, "alpha": alpha, "seed": seed}, user_attrs={"grid_point": index})
        study.set_user_attr(READY_ATTR, self.total)
        return study

    def _check_grid(self, study) -> None:
        stored = study.user_attrs.get(GRID_ATTR)
        where = f"study {self.study_name!r} in {mask_url(self.url)}"
        if stored is None:
            raise ValueError(f"{where} was not made by a gdtuo-explore sweep: use another --study name")
        if stored != self.grid:
            diff = "; ".join(f"{k}: stored {stored.get(k)!r}, given {self.grid.get(k)!r}"
                             for k in sorted(set(stored) | set(self.grid)) if stored.get(k) != self.grid.get(k))
            raise ValueError(f"{where} holds another grid ({diff}): give the same grid to join it, or another "
                             "--study name for a new one")
        if READY_ATTR not in study.user_attrs:
            raise ValueError(f"{where} was never filled: the worker that created it stopped before it had enqueued "
                             f"the grid. Delete it (optuna delete-study --storage URL --study-name "
                             f"{self.study_name}) or use another --study name")

    # -- working -----------------------------------------------------------------------------------------------
    def work(self) -> int:
        """Train grid points in this process until every point is complete (or failed ``max_retry`` times), or
        :meth:`stop`; returns how many points this process trained. Sets ``status`` (done, stopped) and
        ``message``."""
        optuna = _optuna()
        state = optuna.trial.TrialState
        study = self.open()
        self.status, trained = "running", 0
        poll = min(5.0, float(self.heartbeat or 5))
        while not self._stop.is_set():
            optuna.storages.fail_stale_trials(study)
            trials = study.get_trials(deepcopy=False)
            complete = {_point_key(t.params) for t in trials if t.state == state.COMPLETE}
            self._progress(len(complete))
            if len(complete) == self.total:
                break
            if any(t.state == state.WAITING for t in trials):
                trial = study.ask()
                if "grid_point" not in trial.user_attrs:  # another worker took the last waiting point first
                    trial.set_user_attr("surplus", "no grid point was left waiting; nothing was run")
                    study.tell(trial, state=state.FAIL)
                    continue
                self._train(study, trial)
                trained += 1
            elif any(t.state == state.RUNNING for t in trials):
                self._stop.wait(poll)  # other workers' points: wait for them, or for one to go stale
            else:
                break
        complete = {_point_key(t.params) for t in study.get_trials(deepcopy=False, states=(state.COMPLETE,))}
        self._progress(len(complete))
        self.status = Status.STOPPED if self._stop.is_set() else Status.DONE
        left = self.total - len(complete)
        self.message = (f"{len(complete)} of {self.total} points complete ({trained} trained here)"
                        + (f"; {left} killed more than {self.max_retry} times" if left and self.status == "done"
                           else ""))
        return trained

    def _progress(self, done: int) -> None:
        if self.progress_callback is not None:
            self.progress_callback(done, self.total)

    def _train(self, study, trial) -> None:
        """Train the trial's grid point, beating the heartbeat meanwhile; tell its results."""
        from .run import Run

        beating, beats = threading.Event(), None
        if self.heartbeat is not None:
            def beat():
                while True:
                    try:
                        self.storage.record_heartbeat(trial._trial_id)
                    except Exception as err:  # noqa: BLE001 - a missed beat is retried at the next one
                        log.warning("heartbeat of trial %d failed: %s", trial.number,
                                    mask_secrets(err, self.url))
                    if beating.wait(self.heartbeat):
                        return
            beats = threading.Thread(target=beat, name="gdtuo-sweep-heartbeat", daemon=True)
            beats.start()
        try:
            choices = self.grid
            height = trial.suggest_categorical("height", choices["heights"])
            alpha = trial.suggest_categorical("alpha", choices["alphas"])
            seed = trial.suggest_categorical("seed", choices["seeds"])
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            config = self.configs[_point_key(trial.params)]
            attrs = {"tower": config["tower"], "final_test_loss": None, "final_test_accuracy": None,
                     "hyperparameters": None, "metrics": None}
            try:
                run = Run(RunConfig.from_dict(config))
                run.run()
                final = run.final()
                paths = _save(run, self.out / f"h{height}-alpha{alpha!r}-seed{seed}")
                attrs.update(status=run.status, message=run.message, final_test_loss=final["test_loss"],
                             final_test_accuracy=final["test_accuracy"], metrics=str(paths["metrics"].resolve()),
                             hyperparameters=(run.optimizer.hyperparameters()
                                              if hasattr(run.optimizer, "hyperparameters") else None))
            except Exception as err:  # noqa: BLE001 - reported in the trial, as the local sweep does in its row
                attrs.update(status=Status.ERROR, message=f"error: {type(err).__name__}: {err}")
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
        finally:
            beating.set()
            if beats is not None:
                beats.join()
        loss = attrs["final_test_loss"]
        # skip_if_finished: a worker that stalled past its grace period finds its point failed (and put back)
        study.tell(trial, loss if loss is not None and math.isfinite(loss) else math.inf, skip_if_finished=True)


def _save(run, directory) -> dict:
    """Write the run's ``config.json``, ``metrics.csv`` and ``evaluations.csv`` (not its HTML report: a few MB each,
    hundreds of runs) into ``directory``; returns ``{"config", "metrics", "evaluations"}`` -> paths."""
    from .records import write_csv

    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f"{name}.{ext}" for name, ext in (("config", "json"), ("metrics", "csv"),
                                                                   ("evaluations", "csv"))}
    run.config.to_json(paths["config"])
    write_csv(paths["metrics"], run.metrics())
    write_csv(paths["evaluations"], run.evaluations())
    return paths


def stored_rows(study) -> list[dict]:
    """One row per grid point of a study made by :class:`SharedSweep`, in grid order (height, alpha, seed):
    ``height, alpha, seed, tower, final_test_loss, final_test_accuracy, status, message, hyperparameters, metrics,
    trial`` (the complete trial's number). A point not complete has status ``pending``, ``running`` or ``failed``
    (killed more often than allowed), and None results."""
    optuna = _optuna()
    state = optuna.trial.TrialState
    grid = study.user_attrs.get(GRID_ATTR)
    if grid is None:
        raise ValueError(f"study {study.study_name!r} was not made by a gdtuo-explore sweep")
    found: dict[tuple, tuple] = {}
    rank = {state.COMPLETE: 3, state.RUNNING: 2, state.WAITING: 1, state.FAIL: 0}
    for t in study.get_trials(deepcopy=False):
        if "grid_point" not in t.user_attrs or t.state not in rank:
            continue
        key = _point_key(t.params or t.system_attrs.get("fixed_params", {}))
        if key not in found or rank[t.state] > rank[found[key][0]]:
            found[key] = (t.state, t)
    rows = []
    names = {state.RUNNING: "running", state.WAITING: "pending", state.FAIL: "failed"}
    for height in grid["heights"]:
        for alpha in grid["alphas"]:
            for seed in grid["seeds"]:
                row = {"height": height, "alpha": alpha, "seed": seed,
                       "tower": tower_spec(alpha, height, grid["kappa"]), "final_test_loss": None,
                       "final_test_accuracy": None, "status": "pending", "message": "not run yet",
                       "hyperparameters": None, "metrics": None, "trial": None}
                kind, trial = found.get((height, float(alpha), seed), (None, None))
                if kind == state.COMPLETE:
                    row.update({k: trial.user_attrs.get(k) for k in (
                        "final_test_loss", "final_test_accuracy", "status", "message", "hyperparameters",
                        "metrics")}, trial=trial.number)
                elif kind is not None:
                    row.update(status=names[kind], message=f"trial {trial.number} is {kind.name.lower()}")
                rows.append(row)
    return rows


def report_rows(rows: list[dict]) -> list[dict]:
    """:func:`stored_rows` as the rows of :func:`~gdtuo_explore.engine.report.sweep_report_html`: one per (height,
    alpha), its final test loss and accuracy the mean over the seeds that have them, its status ``done`` when every
    seed's run is, else a count of the seeds' statuses (e.g. ``2 done, 1 diverged``)."""
    by_point: dict[tuple, list[dict]] = {}
    for row in rows:
        by_point.setdefault((row["height"], row["alpha"]), []).append(row)
    out = []
    for (height, alpha), group in by_point.items():
        statuses = [r["status"] for r in group]
        means = {}
        for key in ("final_test_loss", "final_test_accuracy"):
            values = [r[key] for r in group if r[key] is not None]
            means[key] = sum(values) / len(values) if values else None
        status = "done" if set(statuses) == {"done"} else ", ".join(
            f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
        out.append({"height": height, "alpha": alpha, "tower": group[0]["tower"], **means, "status": status,
                    "seeds": len(group)})
    return out
