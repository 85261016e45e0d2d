"""The command line, ``gdtuo-explore`` (or ``python -m gdtuo_explore``)::

    gdtuo-explore run --task digits --stack "adam/sgd(1e-5)" --epochs 5 --out runs/demo
    gdtuo-explore run --config runs/demo/config.json --seed 1      # re-run a saved config, flags override
    gdtuo-explore sweep --task digits --alphas 1e-4,1e-2,1 --heights 0,1,2 --steps 300 --out runs/sweep
    gdtuo-explore sweep --task digits --alphas 1e-4,1e-2,1 --kappas 1e-4,1e-3,1e-2 --heights 1,2 --steps 300
    gdtuo-explore run --task surface --model beale --option start=1,1 --steps 500   # a point on a 2-D function
    gdtuo-explore sweep --storage sqlite:///sweep.db --seeds 0,1 --steps 300  # once per worker, shared grid
    gdtuo-explore versus-tuning --task digits --steps 300 --trials 20       # a tower or a tuner?
    torchrun --nproc_per_node=2 -m gdtuo_explore run --task digits              # DDP, rank 0 writes
    gdtuo-explore tasks
    gdtuo-explore handout notebooks/hypergradient.ipynb --out hypergradient.html   # renders offline, maths included

    gdtuo-explore run --task digits --until-stopped --out runs/long   # train until Ctrl-C, then write the files

Exit status: 0 success, 2 bad input (one line ``gdtuo-explore: error: ...`` on stderr), 3 the run diverged: a loss,
gradient or hyperparameter went non-finite, or the smoothed train loss exceeded ``--divergence-factor`` times its
start (its files are still written), 1 the run failed with an error, 130 interrupted by Ctrl-C (one line
``gdtuo-explore: interrupted (Ctrl-C): ...`` on stderr; also how an ``--until-stopped`` run ends).

Ctrl-C at any moment: while PyTorch loads or the run is set up, the command ends and nothing is written; once it
trains, the run stops after its current step and its files are written whole (more Ctrl-C presses wait for them).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import threading
import time

PROG = "gdtuo-explore"
EXIT = {"done": 0, "error": 1, "diverged": 3, "stopped": 130}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


@contextlib.contextmanager
def _ctrl_c_deferred():
    """Until the block ends, Ctrl-C (SIGINT) only sets the yielded flag, however often it comes: the block checks
    the flag (the waiting loop stops the job after its current step) and finishes writing its files, so none is
    left half-written. ``KeyboardInterrupt`` is not used here because it is raised wherever the main thread happens
    to be: inside a file being written, or inside ``threading.Condition.wait`` between its releasing the lock and
    its ``try`` (CPython gives no guarantee there), which leaves a job's lock in a state its stop then trips on.
    Outside the main thread (no signals there) nothing changes."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_or_stop(job, running, interrupted) -> None:
    """Wait for ``job`` (a run or a sweep training in its own thread) while ``running(status)``; once
    ``interrupted`` is set (Ctrl-C), stop it, keeping what was done."""
    while running(job.wait(timeout=0.2)) and not interrupted.is_set():
        pass
    job.stop()
    job.wait()


def _interrupted(what: str) -> int:
    """The one line said when Ctrl-C ended the command (``what``: what was done); exit status 130."""
    print(f"{PROG}: interrupted (Ctrl-C): {what}", file=sys.stderr, flush=True)
    return EXIT["stopped"]


def _numbers(kind):
    """An argparse type: a comma-separated list of ``kind`` (the engine's one parser of number lists)."""
    def parse(text: str) -> list:
        from .engine.config import parse_numbers

        try:
            return parse_numbers(text, "the list", kind)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("the list: ")) from None
    parse.__name__ = "list of whole numbers" if kind is int else "list of numbers"
    return parse


_floats, _ints = _numbers(float), _numbers(int)


def _whole(low: int):
    """An argparse type: a whole number >= ``low`` (the message says what to type, in the command line's words)."""
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= {low}")
        return value
    return whole


def _number(low: float, *, strict: bool = False):
    """An argparse type: a finite number >= ``low`` (> ``low`` with ``strict``)."""
    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number {'>' if strict else '>='} {low:g}")
        return value
    return number


def _bounds(text: str) -> tuple[float, float]:
    values = _floats(text)
    if len(values) != 2 or not values[0] < values[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW,HIGH: two numbers with LOW < HIGH, e.g. 1e-6,1")
    return values[0], values[1]


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _factor(text: str) -> float | None:
    if text.strip().lower() == "off":
        return None
    try:
        return _number(1, strict=True)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number > 1 or 'off'") from None


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _common(p: argparse.ArgumentParser) -> None:
    """Options shared by run and sweep (unset: keep the config's value, or RunConfig's default)."""
    from .engine.config import DEVICES, default   # RunConfig's defaults, read without loading PyTorch

    budget = default("budget")
    p.add_argument("--task", help=f"task name (see `gdtuo-explore tasks`; default {default('task')})")
    p.add_argument("--model", help="the task's model (default: the task's default)")
    p.add_argument("--batch-size", type=_whole(1), help=f"examples per step (default {default('batch_size')})")
    p.add_argument("--epochs", type=_whole(1), help="passes over the training set (default: "
                                                    f"{budget if budget.unit == 'epochs' else 'see --steps'})")
    p.add_argument("--steps", type=_whole(1), help="steps to train (instead of --epochs)")
    p.add_argument("--seed", type=_whole(0),
                   help=f"seed of the weights, the batch order and the data split (default {default('seed')})")
    p.add_argument("--device", help=f"{DEVICES} (default {default('device')})")
    p.add_argument("--data-root", help="where datasets live (default $GDTUO_DATA or ~/.cache/gdtuo-explore/data)")
    p.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="a task option, e.g. --option text_file=book.txt or --option start=1,1 (repeatable; the value "
                        "is read as JSON where it is JSON, else as text)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    from .engine.baselines import BASELINES   # a table of names: loads no PyTorch
    from .engine.config import default        # RunConfig's defaults, read without loading PyTorch
    from .engine.tuning import DEFAULT_ALPHA_RANGE, DEFAULT_TOWERS, DEFAULT_TRIALS, DEFAULT_TUNED

    parser = _Parser(prog=PROG, description="Hyperoptimizers (Gradient Descent: The Ultimate Optimizer): train, "
                                            "sweep and report.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="train one run and write its files",
                              description="Train one run; write config.json, metrics.csv, evaluations.csv and "
                                          "report.html into --out.")
    run.add_argument("--config", help="a saved config.json to re-run (the flags below override it; another "
                                      "--task also resets its model and task options)")
    run.add_argument("--stack", "--tower", dest="tower", help="tower spec, bottom level first "
                                                               f"(default \"{default('tower')}\")")
    run.add_argument("--baseline", choices=BASELINES, help="a learning-rate-free optimizer instead of the tower")
    run.add_argument("--eval-every", type=_whole(1), help="steps between test evaluations (default: once per epoch, "
                                                     "at least 10 per run)")
    run.add_argument("--hypergrad-clip", type=_number(0, strict=True), help="clip every hypergradient to [-C, C]")
    run.add_argument("--alpha-bounds", type=_bounds, metavar="LOW,HIGH", help="keep learned step sizes in bounds")
    run.add_argument("--until-stopped", action="store_true", default=None,
                     help="train until stopped (Ctrl-C stops and writes the files), instead of --epochs/--steps")
    run.add_argument("--divergence-factor", type=_factor, default=False, metavar="X|off",
                     help="stop as diverged when the smoothed train loss exceeds X times its start (default "
                          f"{default('divergence_factor'):g}; off: never)")
    run.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE|FILE.py",
                     help="import a module (a dotted name on the Python path) or a Python file before the tower is "
                          "read, e.g. one whose @register makes a level of your own usable in --stack; repeatable")
    run.add_argument("--out", help="output directory (default runs/TASK-TIME)")
    _common(run)
    run.set_defaults(func=_cmd_run)

    sweep = commands.add_parser("sweep", help="the paper's sensitivity experiment over initial step sizes",
                                description="Train SGD towers of each height from each initial step size; write "
                                            "sweep.csv and sweep.html into --out.")
    sweep.add_argument("--alphas", type=_floats, help="initial step sizes (default 1e-8,1e-7,...,1)")
    sweep.add_argument("--heights", type=_ints, help="tower heights above sgd(alpha) (default 0,1,2,3)")
    sweep.add_argument("--kappa", type=_number(0), help="step size of the levels above (default 0.01)")
    sweep.add_argument("--kappas", type=_floats, help="several step sizes of the levels above, to vary kappa too: a "
                                                      "grid heights x kappas x alphas (height 0 once per alpha)")
    sweep.add_argument("--processes", type=_whole(1),
                       help="worker processes (default: one per core, at most one per run)")
    sweep.add_argument("--out", help="output directory (default runs/sweep-TASK-TIME; with --storage "
                                     "runs/STUDY, one folder per run)")
    sweep.add_argument("--storage", help="an Optuna storage shared by every worker: sqlite:///FILE.db, "
                                         "postgresql://USER:PASSWORD@HOST/DB (or postgresql://USER@HOST/DB with "
                                         "PGPASSWORD set), mysql+pymysql://... or FILE.log (a journal file); start "
                                         "the same command once per worker")
    sweep.add_argument("--study", help="with --storage: the study's name (default gdtuo-sweep-TASK)")
    sweep.add_argument("--seeds", type=_ints, help="with --storage: seeds of the grid (default: --seed, or 0)")
    sweep.add_argument("--heartbeat", type=_whole(1), help="with --storage: seconds between heartbeats; a point whose "
                                                     "worker missed two is run by another (default 60)")
    sweep.add_argument("--report", help="with --storage: only write the sensitivity figure of the stored results "
                                        "to this HTML file")
    _common(sweep)
    sweep.set_defaults(func=_cmd_sweep)

    versus = commands.add_parser(
        "versus-tuning", help="a tower or a tuner? one tower run against TPE tuning a plain optimizer's step size",
        description="Train each tower once from its (badly chosen) initial step size, and its bottom level alone; "
                    "let Optuna's TPE tune plain Adam's and SGD's step size with --trials runs of the same budget; "
                    "write versus_tuning.csv, .html and .png into --out and print who reached what, after how many "
                    "training steps.")
    versus.add_argument("--trials", type=int, help=f"runs per tuner (default {DEFAULT_TRIALS})")
    versus.add_argument("--tune", type=_names, metavar="NAMES", help="optimizers whose step size TPE tunes "
                                                                   f"(default {','.join(DEFAULT_TUNED)}; none: '')")
    versus.add_argument("--alpha-range", type=_bounds, metavar="LOW,HIGH", help="the tuner's log-uniform range "
                        f"(default {DEFAULT_ALPHA_RANGE[0]:g},{DEFAULT_ALPHA_RANGE[1]:g})")
    versus.add_argument("--tower", dest="towers", action="append", metavar="SPEC",
                        help="a tower trained once (repeatable; default " + " and ".join(
                            f'"{t}"' for t in DEFAULT_TOWERS) + ")")
    versus.add_argument("--out", help="output directory (default runs/versus-tuning-TASK-TIME)")
    _common(versus)
    versus.set_defaults(func=_cmd_versus_tuning)

    tasks = commands.add_parser("tasks", help="list the tasks", description="List the tasks and their models.")
    tasks.set_defaults(func=_cmd_tasks)

    handout = commands.add_parser("handout", help="a notebook as one HTML file that renders offline",
                                  description="Write a notebook as one HTML file that shows its maths (MathJax "
                                              "inlined) and its figures (as images) with no internet and no kernel.")
    handout.add_argument("notebook", help="the .ipynb file")
    handout.add_argument("--out", help="the HTML file to write (default: the notebook's name with .html, here)")
    handout.add_argument("--execute", action="store_true", help="run the notebook first (one stored without outputs)")
    handout.add_argument("--timeout", type=float, default=600, help="with --execute: seconds a cell may take "
                                                                     "(default 600)")
    handout.add_argument("--mathjax", metavar="FILE", help="a MathJax 3 tex-svg-full.js to inline (default: the "
                                                           "django-static-mathjax package's)")
    handout.set_defaults(func=_cmd_handout)
    return parser


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _progress_bar(total: int, quiet: bool, unit: str):
    from tqdm import tqdm
    return tqdm(total=total, unit=unit, file=sys.stderr, disable=True if quiet else None, dynamic_ncols=True)


def _import(what: str) -> None:
    """``--import``: a Python file (``*.py``) or a module by its dotted name; any failure is a ValueError naming it."""
    import importlib
    import importlib.util
    from pathlib import Path

    try:
        if what.endswith(".py"):
            path = Path(what)
            if not path.is_file():
                raise FileNotFoundError(f"no such file {str(path)!r}")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(what)
    except Exception as err:  # the user's code: say which import failed and why, not a traceback
        raise ValueError(f"--import {what}: {type(err).__name__}: {err} (give a module on the Python path, e.g. "
                         f"my_levels, or a file, e.g. my_levels.py)") from None


def _cmd_run(args) -> int:
    from .engine.config import RunConfig
    from .engine.distributed import Distributed
    from .engine.run import FINISHED, Run

    for what in args.imports:  # before the config is read: it may name a kind that an import registers
        _import(what)
    config = RunConfig.from_json(args.config) if args.config else RunConfig()
    overrides = {name: getattr(args, name) for name in (
        "task", "model", "tower", "baseline", "batch_size", "epochs", "steps", "seed", "device", "data_root",
        "eval_every", "hypergrad_clip", "alpha_bounds", "until_stopped") if getattr(args, name) is not None}
    if args.divergence_factor is not False:  # None is a value here: --divergence-factor off
        overrides["divergence_factor"] = args.divergence_factor
    if args.option:  # added to the saved options, unless another task resets them
        kept = config.task_options if overrides.get("task", config.task) == config.task else {}
        overrides["task_options"] = {**kept, **dict(args.option)}
    config = config.replace(**overrides)   # a new budget replaces the saved one; another task, its model
    ddp = Distributed.from_environment()  # under torchrun, DDP; rank 0 alone prints and writes
    if ddp is not None:
        config = config.replace(device=ddp.device_name(config.device))
        ddp.start(config.device)
    run = Run(config, distributed=ddp)
    out = args.out or f"runs/{run.config.task}-{_stamp()}"
    bar = _progress_bar(run.total_steps, args.quiet or (ddp is not None and not ddp.main), "step")

    def show(update):
        bar.update(update.step - bar.n)
        if len(update.rows["train_loss"]):
            bar.set_postfix(loss=f"{update.rows['train_loss'][-1]:.4g}", refresh=False)

    run.add_observer(show)
    if run.total_steps is None:
        print(f"training until stopped: press Ctrl-C to stop and write the files to {out}", file=sys.stderr,
              flush=True)
    with _ctrl_c_deferred() as interrupted:   # from here on Ctrl-C stops the run, and its files are still written
        if ddp is None or ddp.main:
            _make_folder(out)
        run.start()
        _wait_or_stop(run, lambda status: status not in FINISHED, interrupted)
        bar.close()
        if ddp is not None:
            _exit_now(_finish_distributed(ddp, run, out, interrupted))
        run.export(out)
    if interrupted.is_set():
        return _interrupted(f"{run.message}; wrote {out}")
    if run.status == "error":
        print(f"{PROG}: error: the run failed: {run.message} (files written to {out})", file=sys.stderr)
    else:
        print(f"{run.message}; wrote {out}")
    return EXIT[run.status]


def _make_folder(out: str) -> None:
    """Create the folder the files will go to before anything trains, so that a folder that cannot be written
    costs no training (ValueError naming it)."""
    from pathlib import Path

    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot write the files to {out}: {err.filename}: {err.strerror} (give another --out)") \
            from None


def _exit_now(code: int) -> None:
    """End this process under torchrun with ``code`` once its output is flushed, skipping Python's shutdown.

    Gloo's worker threads outlive ``destroy_process_group``, and the one that ran the last collective (the ranks'
    agreement) may release that collective's tensors only after the main thread returned: if Python is shutting
    down by then, releasing them aborts the process ("terminate called without an active exception", SIGABRT; seen
    in about one exit in ten on a busy 2-core machine; pytorch/pytorch#179291 describes it). Every file is written
    and closed before this is called."""
    import logging
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _finish_distributed(ddp, run, out, interrupted) -> int:
    """End a run trained under torchrun: check that every rank holds the same weights and hyperparameters; rank 0
    writes the run's files and ``distributed.json`` (each rank's hyperparameters and weight digest) and prints."""
    agreement = ddp.agreement(run.model, run.optimizer)
    ddp.close()
    if not ddp.main:
        return EXIT[run.status]
    paths = run.export(out)
    with open(paths["config"].parent / "distributed.json", "w", encoding="utf-8") as f:
        json.dump(agreement, f, indent=2)
    if not agreement["agree"]:
        print(f"{PROG}: error: the {ddp.world_size} ranks ended with different weights or hyperparameters (see "
              f"{out}/distributed.json)", file=sys.stderr)
        return EXIT["error"]
    processes = f"{ddp.world_size} process{'es' if ddp.world_size > 1 else ''}"
    if interrupted.is_set():
        return _interrupted(f"{run.message} on {processes}; wrote {out}")
    if run.status == "error":
        print(f"{PROG}: error: the run failed: {run.message} (files written to {out})", file=sys.stderr)
    else:
        print(f"{run.message} on {processes}; wrote {out}")
    return EXIT[run.status]


def _cmd_sweep(args) -> int:
    from .engine.config import default
    from .engine.sweep import DEFAULT_ALPHAS, DEFAULT_HEIGHTS, Sweep

    if args.storage is not None:  # the shared sweep
        return _cmd_shared_sweep(args)
    for flag in ("study", "seeds", "heartbeat", "report"):
        if getattr(args, flag) is not None:
            raise ValueError(f"--{flag} needs --storage (a sweep shared through an Optuna storage)")
    if args.kappa is not None and args.kappas is not None:
        raise ValueError("--kappa and --kappas are both given: give one")
    options = {name: getattr(args, name) for name in (
        "model", "batch_size", "epochs", "steps", "seed", "device", "data_root", "processes")
        if getattr(args, name) is not None}
    if args.option:
        options["task_options"] = dict(args.option)
    bar = None

    def show(done, total, row):
        bar.update(done - bar.n)

    task = args.task or default("task")
    job = Sweep(task, args.alphas or DEFAULT_ALPHAS, args.heights or DEFAULT_HEIGHTS, args.kappa,
                kappas=args.kappas, progress=show, **options)
    out = args.out or f"runs/sweep-{task}-{_stamp()}"
    bar = _progress_bar(job.total, args.quiet, "run")
    with _ctrl_c_deferred() as interrupted:   # from here on Ctrl-C stops the sweep, and its files are still written
        _make_folder(out)
        job.start()
        _wait_or_stop(job, lambda status: status in ("idle", "running"), interrupted)
        bar.close()
        if job.status == "error":
            print(f"{PROG}: error: the sweep failed: {job.message}", file=sys.stderr)
            return 1
        job.export(out)
    if interrupted.is_set():
        return _interrupted(f"{job.message}; wrote {out}")
    accuracy = any(r["final_test_accuracy"] is not None for r in job.rows)   # else the final loss (surface task)
    key, what, form = ("final_test_accuracy", "test accuracy", ".3f") if accuracy else \
        ("final_test_loss", "final loss", ".4g")
    for height, kappa in dict.fromkeys((r["height"], r["kappa"]) for r in job.rows):
        cells = [f"{r['alpha']:g}: " + ("-" if r[key] is None else format(r[key], form))
                 + ("" if r["status"] == "done" else f" ({r['status']})") for r in job.rows
                 if (r["height"], r["kappa"]) == (height, kappa)]
        which = f"height {height}" + ("" if kappa is None or len(job.kappas) == 1 else f", kappa {kappa:g}")
        print(f"{which} {what} by initial alpha: " + ", ".join(cells))
    print(f"{job.message} ({job.status}); wrote {out}")
    return 0


def _cmd_shared_sweep(args) -> int:
    """``sweep --storage URL``: work on the shared grid until no point is left, or with ``--report`` only write the
    figure of what is stored."""
    from .engine.config import default
    from .engine.report import sweep_report_html
    from .engine.shared_sweep import DEFAULT_HEARTBEAT, SharedSweep, default_study_name, mask_secrets, \
        mask_url, open_study, report_rows, stored_rows
    from .engine.sweep import DEFAULT_ALPHAS, DEFAULT_HEIGHTS, DEFAULT_KAPPA

    task = args.task or default("task")
    name = args.study or default_study_name(task)
    if args.kappas is not None:
        raise ValueError("--kappas is for the local sweep: a sweep shared through --storage takes one --kappa")
    if args.option:
        raise ValueError("--option is for the local sweep: a sweep shared through --storage takes no task options")
    if args.report is not None:
        rows = stored_rows(open_study(args.storage, name))
        points = report_rows(rows)
        seeds = max(p["seeds"] for p in points)
        sweep_report_html(points, args.report, title=f"Sensitivity to the initial step size ({name}"
                                                     + (f", mean over {seeds} seeds)" if seeds > 1 else ")"))
        done = sum(r["status"] not in ("pending", "running", "failed") for r in rows)
        print(f"{done} of {len(rows)} runs complete; wrote {args.report}")
        return 0
    if args.processes is not None:
        raise ValueError("--processes is for the local pool: with --storage, start the command once per worker")
    options = {name: getattr(args, name) for name in (
        "model", "batch_size", "epochs", "steps", "device", "data_root") if getattr(args, name) is not None}
    bar = None

    def show(done, total):
        bar.update(done - bar.n)

    job = SharedSweep(args.storage, name, task, args.alphas or DEFAULT_ALPHAS, args.heights or DEFAULT_HEIGHTS,
                      args.seeds or [0 if args.seed is None else args.seed],
                      DEFAULT_KAPPA if args.kappa is None else args.kappa, out=args.out, progress=show,
                      heartbeat=DEFAULT_HEARTBEAT if args.heartbeat is None else args.heartbeat, **options)
    bar = _progress_bar(job.total, args.quiet, "run")
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        job.work()
    except KeyboardInterrupt:
        bar.close()
        return _interrupted("the point being trained goes back to the grid once its heartbeat is stale")
    except (SQLAlchemyError, StorageInternalError) as err:  # the database went away: one line, no password
        bar.close()
        err = err.__cause__ or err if isinstance(err, StorageInternalError) else err  # Optuna wraps the real one
        why = mask_secrets(" ".join(str(err).split()), args.storage)[:300]
        print(f"{PROG}: error: storage {mask_url(args.storage)} failed during the sweep ({type(err).__name__}: "
              f"{why}); start the command again to resume", file=sys.stderr)
        return EXIT["error"]
    bar.close()
    shown = mask_url(args.storage)
    print(f"{job.message} in study {name!r}; runs written under {job.out}; the figure: "
          f"{PROG} sweep --storage {shown} --study {name} --report sweep.html"
          + (" (the password is masked: give it again, or leave it out of the URL and set PGPASSWORD)"
             if shown != args.storage else ""))
    return 0


def _cmd_versus_tuning(args) -> int:
    """``versus-tuning``: the towers and the tuners on one task and budget; the files, then one line per method."""
    from .engine.config import default
    from .engine.tuning import DEFAULT_ALPHA_RANGE, DEFAULT_TOWERS, DEFAULT_TRIALS, DEFAULT_TUNED, VersusTuning, \
        summary_lines

    options = {name: getattr(args, name) for name in (
        "model", "batch_size", "epochs", "steps", "seed", "device", "data_root") if getattr(args, name) is not None}
    bar = None

    def show(done, total, row):
        bar.update(done - bar.n)

    task = args.task or default("task")
    job = VersusTuning(task, DEFAULT_TUNED if args.tune is None else args.tune, args.towers or DEFAULT_TOWERS,
                       DEFAULT_TRIALS if args.trials is None else args.trials,
                       args.alpha_range or DEFAULT_ALPHA_RANGE, progress=show, **options)
    out = args.out or f"runs/versus-tuning-{task}-{_stamp()}"
    bar = _progress_bar(job.total, args.quiet, "run")
    try:
        job.run()
    except KeyboardInterrupt:   # keep the runs done so far
        bar.close()
        if job.rows:
            job.export(out)
        return _interrupted(f"stopped after {len(job.rows)} of {job.total} runs"
                            + (f"; wrote {out}" if job.rows else "; nothing was written"))
    bar.close()
    job.export(out)
    for line in summary_lines(job.summary()):
        print(line)
    print(f"{len(job.rows)} runs of {job.base.budget} on {job.base.task}; wrote {out}")
    return 0


def _cmd_tasks(args) -> int:
    from .engine.tasks import TASKS

    for spec in TASKS.values():
        models = ", ".join(m + (" (default)" if m == spec.default_model else "") for m in spec.models)
        where = "downloads once" if spec.needs_download else "offline"
        print(f"{spec.name:14} models: {models}; {where}\n{'':14} {spec.description}")
    return 0


def _cmd_handout(args) -> int:
    from nbclient.exceptions import CellExecutionError

    from .engine.handout import handout

    try:
        out = handout(args.notebook, args.out, execute=args.execute, timeout=args.timeout, mathjax=args.mathjax)
    except CellExecutionError as err:
        print(f"{PROG}: error: a cell of {args.notebook} raised {err.ename}: {err.evalue}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): open it in any browser, no internet needed")
    return 0


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (ValueError, OSError) as err:  # bad input, missing data (DatasetNotFound), unwritable --out
        text = f"{err.filename}: {err.strerror}" if isinstance(err, OSError) and err.filename and err.strerror \
            else str(err)
        print(f"{PROG}: error: {' '.join(text.split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # while PyTorch loads or a run is set up (a job in progress handles its own Ctrl-C)
        return _interrupted("nothing was written")
