"""A tower or a tuner? One hyperoptimizer run from a badly chosen step size against a tuner's many runs.

The question a practitioner asks first: instead of one run of a tower, why not tune the step size of a plain
optimizer with a tuner? :class:`VersusTuning` answers it on one task and one training budget:

- **the tuner**: Optuna's TPE sampler (its defaults: the first 10 trials are random) picks plain Adam's (and SGD's)
  step size from a log-uniform range, ``trials`` times; every trial is a full run of the budget, and its objective
  is the run's final test accuracy (the task has no validation split: the tuner selects on the test set, which
  favours the tuner);
- **the towers**: each tower in ``towers`` (e.g. ``adam(1e-05)/sgd(1e-05)``: Adam from a step size 100 times too
  small) trains once, for the same budget, and nothing is selected;
- **untuned**: each tower's bottom level alone (``adam(1e-05)``), the run the tower has to rescue.

Every run has the same task, model, batch size, budget and seed. :meth:`VersusTuning.figure` plots the best test
accuracy reached against the total training steps spent (a tuner spends ``trials`` budgets; a tower one);
:meth:`VersusTuning.summary` says, per tower, how many steps each tuner spent before its best run matched the
tower's accuracy. The tuner may well win: this module measures, it does not argue.

    vt = VersusTuning("digits", steps=300, trials=20).run()
    vt.summary()              # one row per method
    vt.export("runs/versus")  # versus_tuning.csv, .html (Plotly) and .png (matplotlib, no browser needed)

``gdtuo-explore versus-tuning`` is the same on the command line.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from .config import RunConfig
from .static import render
from .status import Status

DEFAULT_TUNED = ("adam", "sgd")
#: Two towers from a badly chosen initial step size: Adam's 1e-5 (100 times below its usual 1e-3) under SGD(1e-5),
#: as in the paper; SGD's 1e-5 (about 10^4 below what digits needs) under two SGD(0.01) levels (the sensitivity
#: sweep's kappa).
DEFAULT_TOWERS = ("adam(1e-05)/sgd(1e-05)", "sgd(1e-05)/sgd(0.01)/sgd(0.01)")
DEFAULT_TRIALS = 20
DEFAULT_ALPHA_RANGE = (1e-5, 1.0)
#: One row per run; ``seconds`` is its training time (evaluations included, set-up not).
COLUMNS = ["method", "kind", "trial", "tower", "alpha", "steps", "total_steps", "test_accuracy",
           "best_test_accuracy", "test_loss", "seconds", "status"]
NAMES = {"adam": "Adam", "sgd": "SGD", "adamw": "AdamW", "rmsprop": "RMSProp", "adagrad": "AdaGrad",
         "lion": "Lion"}


def tuner_name(optimizer: str) -> str:
    """The name of the tuner's method for ``optimizer``, e.g. ``TPE tunes Adam``."""
    return f"TPE tunes {NAMES.get(optimizer, optimizer)}"


class VersusTuning:
    """The comparison on ``task``: a TPE tuner per optimizer in ``tuned`` (``trials`` runs each, step sizes drawn
    log-uniformly from ``alpha_range``) against one run of each tower in ``towers`` and of its bottom level alone.

    Other keywords are :class:`RunConfig` fields shared by every run (``steps=300`` or ``epochs``, ``batch_size``,
    ``seed`` (also the sampler's), ``model``, ``device``, ``data_root``, ``threads``); the budget may not be
    ``until_stopped``. Everything is checked here (ValueError naming the bad value). ``progress(done, total, row)``
    is called after each run.
    """

    def __init__(self, task: str = "digits", tuned=DEFAULT_TUNED, towers=DEFAULT_TOWERS,
                 trials: int = DEFAULT_TRIALS, alpha_range=DEFAULT_ALPHA_RANGE, *, progress=None, **fields):
        self.base = RunConfig(task=task, **fields)
        if self.base.budget.unit == "until stopped":
            raise ValueError("a comparison needs a fixed budget (steps or epochs), not until_stopped")
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ValueError(f"trials={trials!r} is out of range: it must be an integer >= 1")
        try:
            low, high = (float(v) for v in alpha_range)
        except (TypeError, ValueError):
            raise ValueError(f"alpha_range={alpha_range!r} is invalid: give (low, high)") from None
        if not (0 < low < high < math.inf):
            raise ValueError(f"alpha_range={alpha_range!r} is out of range: it needs 0 < low < high")
        self.tuned, self.towers = list(tuned), list(towers)
        if not self.tuned and not self.towers:
            raise ValueError("nothing to compare: give at least one optimizer to tune or one tower")
        for name in self.tuned:   # a bad name fails here, not after the towers have trained
            try:
                self.base.replace(tower=f"{name}({low!r})")
            except ValueError as err:
                raise ValueError(f"cannot tune {name!r}: {err}") from None
            if "/" in name or "(" in name:
                raise ValueError(f"cannot tune {name!r}: give an optimizer's name (e.g. adam, sgd), not a tower")
        self.towers = [self.base.replace(tower=spec).tower for spec in self.towers]
        self.trials, self.alpha_range = trials, (low, high)
        self.progress_callback = progress
        self.rows: list[dict] = []
        self.curves: dict[str, dict] = {}   # method -> {"step": [...], "test_accuracy": [...]} of single runs

    @property
    def total(self) -> int:
        """Runs in the comparison."""
        return len(self.tuned) * self.trials + 2 * len(self.towers)

    # -- running -----------------------------------------------------------------------------------------------
    def _train(self, tower: str) -> tuple[dict, dict]:
        """Train ``tower`` with the shared settings; (its results, its test-accuracy curve)."""
        from .run import Run

        run = Run(self.base.replace(tower=tower))
        run.run()
        final, evals = run.final(), run.evaluations()
        if final["test_accuracy"] is None and run.status != Status.ERROR and "test_accuracy" not in evals:
            raise ValueError(f"task {self.base.task!r} has no test accuracy: compare on a classification task "
                             "(digits, mnist, fashion-mnist, cifar10, spirals)")
        result = {"tower": tower, "steps": run.steps_done, "test_accuracy": final["test_accuracy"],
                  "test_loss": final["test_loss"], "seconds": run.elapsed,   # training only: not the set-up,
                  # which the first run of a process pays for everyone (imports, loading the data)
                  "status": str(run.status)}
        curve = {k: [float(v) for v in evals[k]] for k in ("step", "test_accuracy") if k in evals}
        return result, curve

    def _add(self, row: dict) -> None:
        same = [r for r in self.rows if r["method"] == row["method"]]
        row["total_steps"] = row["steps"] + (same[-1]["total_steps"] if same else 0)
        scores = [r["test_accuracy"] for r in same + [row] if r["test_accuracy"] is not None]
        row["best_test_accuracy"] = max(scores) if scores else None
        self.rows.append({k: row.get(k) for k in COLUMNS})
        if self.progress_callback is not None:
            self.progress_callback(len(self.rows), self.total, self.rows[-1])

    def run(self) -> "VersusTuning":
        """Train every run in this thread: the towers and their bottom levels, then each tuner's trials. Returns
        self; :attr:`rows` holds one row per run (also those done before an exception or Ctrl-C)."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        from ..core.spec import parse_tower

        for spec in self.towers:
            bottom = parse_tower(spec).level_spec()
            for method, kind, tower in ((spec, "tower", spec), (f"{bottom} alone", "untuned", bottom)):
                result, curve = self._train(tower)
                self.curves[method] = curve
                self._add({"method": method, "kind": kind, "alpha": _initial_alpha(tower), **result})
        low, high = self.alpha_range
        for name in self.tuned:
            study = optuna.create_study(direction="maximize",
                                        sampler=optuna.samplers.TPESampler(seed=self.base.seed))
            for number in range(self.trials):
                trial = study.ask()
                alpha = trial.suggest_float("alpha", low, high, log=True)
                result, _ = self._train(f"{name}({alpha!r})")
                score = result["test_accuracy"]
                if score is None or not math.isfinite(score):
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, score)
                self._add({"method": tuner_name(name), "kind": "tuner", "trial": number, "alpha": alpha, **result})
        return self

    # -- results -----------------------------------------------------------------------------------------------
    def summary(self) -> list[dict]:
        """One row per method: ``method, kind, runs, total_steps, best_test_accuracy, alpha`` (the best run's
        initial step size), ``seconds`` (all its runs), and for a tuner ``steps_to_match``: per tower, the total
        steps the tuner had spent when its best run first reached the tower's accuracy (None: not within its
        trials)."""
        methods: dict[str, list[dict]] = {}
        for row in self.rows:
            methods.setdefault(row["method"], []).append(row)
        towers = {m: rows[-1]["best_test_accuracy"] for m, rows in methods.items() if rows[0]["kind"] == "tower"}
        out = []
        for method, rows in methods.items():
            scored = [r for r in rows if r["test_accuracy"] is not None]
            best = max(scored, key=lambda r: r["test_accuracy"]) if scored else None
            entry = {"method": method, "kind": rows[0]["kind"], "runs": len(rows),
                     "total_steps": rows[-1]["total_steps"],
                     "best_test_accuracy": None if best is None else best["test_accuracy"],
                     "alpha": None if best is None else best["alpha"],
                     "seconds": sum(r["seconds"] for r in rows)}
            if entry["kind"] == "tuner":
                entry["steps_to_match"] = {
                    tower: next((r["total_steps"] for r in rows if r["best_test_accuracy"] is not None
                                 and target is not None and r["best_test_accuracy"] >= target), None)
                    for tower, target in towers.items()}
            out.append(entry)
        return out

    def figure(self):
        """Plotly figure: best test accuracy against total training steps spent (log axis). A tuner is a step line
        (its best run so far, one marker per trial); a tower is its test accuracy as it trains (its bottom level
        alone dashed, in the same color), and a dotted line carries each tower's final accuracy across."""
        import plotly.graph_objects as go

        fig = go.Figure()
        colors = iter(["#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"])
        tuner_colors = iter(["#d62728", "#ff7f0e", "#bcbd22", "#7f7f7f"])
        span = max((r["total_steps"] for r in self.rows), default=1)
        for entry in self.summary():
            method = entry["method"]
            rows = [r for r in self.rows if r["method"] == method]
            if entry["kind"] == "tuner":
                fig.add_trace(go.Scatter(
                    x=[r["total_steps"] for r in rows], y=[r["best_test_accuracy"] for r in rows],
                    mode="lines+markers", line_shape="hv", name=f"{method} ({len(rows)} trials)",
                    line=dict(color=next(tuner_colors), width=2.5),
                    customdata=[r["alpha"] for r in rows],
                    hovertemplate="%{x} steps: best %{y:.4f} (this trial's alpha %{customdata:.3g})"))
                continue
            curve = self.curves.get(method, {})
            if entry["kind"] == "tower":
                color = next(colors)   # its bottom level alone follows it: the same color, dashed
            dash = "solid" if entry["kind"] == "tower" else "dash"
            fig.add_trace(go.Scatter(x=curve.get("step", []), y=curve.get("test_accuracy", []), mode="lines+markers",
                                     name=method + (" (one run)" if entry["kind"] == "tower" else ""),
                                     line=dict(color=color, dash=dash), marker=dict(size=5)))
            if entry["kind"] == "tower" and entry["best_test_accuracy"] is not None:
                fig.add_trace(go.Scatter(x=[rows[-1]["steps"], span], y=[entry["best_test_accuracy"]] * 2,
                                         mode="lines", line=dict(color=color, dash="dot", width=1),
                                         showlegend=False, hoverinfo="skip"))
        steps = self.rows[0]["steps"] if self.rows else 0
        fig.update_layout(title=f"A tower or a tuner? {self.base.task}, {steps} steps per run, seed "
                                f"{self.base.seed}",
                          xaxis_title="total training steps spent",
                          yaxis_title="test accuracy (a tuner: its best run so far)",
                          template="plotly_white", height=460, legend=dict(orientation="h", y=-0.22),
                          margin=dict(l=60, r=20, t=50, b=40))
        fig.update_xaxes(type="log")
        return fig

    def export(self, directory) -> dict:
        """Write ``versus_tuning.csv`` (one row per run), ``versus_tuning.html`` (the figure, interactive,
        offline) and ``versus_tuning.png`` (the same figure, drawn by :mod:`.static`: no browser) into ``directory``; returns the paths."""
        from .report import _page, _write

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"csv": out / "versus_tuning.csv", "report": out / "versus_tuning.html",
                 "image": out / "versus_tuning.png"}
        with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)
        fig = self.figure()
        _write(_page("A tower or a tuner?", summary_lines(self.summary()), [("versus", fig)]), paths["report"])
        paths["image"].write_bytes(render(fig, "png"))
        return paths


def _initial_alpha(tower: str) -> float | None:
    """The bottom level's initial step size."""
    from ..core.spec import parse_tower

    return parse_tower(tower).values.get("alpha")


def summary_lines(summary: list[dict]) -> list[str]:
    """The summary as plain lines, one per method, e.g. ``TPE tunes Adam: best test accuracy 0.9722 (alpha
    0.0043) after 20 runs, 6000 steps, 7.1 s; matched adam(1e-05)/sgd(1e-05) after 1200 steps``."""
    lines = []
    for s in summary:
        best = "-" if s["best_test_accuracy"] is None else f"{s['best_test_accuracy']:.4f}"
        text = (f"{s['method']}: best test accuracy {best}" + (f" (alpha {s['alpha']:.3g})" if s["kind"] == "tuner"
                                                                 and s["alpha"] is not None else "")
                + f" after {s['runs']} run{'s' if s['runs'] > 1 else ''}, {s['total_steps']} steps, "
                f"{s['seconds']:.1f} s")
        for tower, steps in s.get("steps_to_match", {}).items():
            text += (f"; matched {tower} after {steps} steps" if steps is not None
                     else f"; did not match {tower}")
        lines.append(text)
    return lines


def versus_tuning(task: str = "digits", **options) -> VersusTuning:
    """Run the comparison (see :class:`VersusTuning` for ``options``) and return it."""
    return VersusTuning(task, **options).run()
