"""Tower edits on spec text: the optimizer choices a level card offers, the paper's presets, and edits that each
return a new canonical spec (change a level's optimizer, a hyperparameter or what learns; add or remove a level).

Every edit goes through :func:`gdtuo_explore.parse_tower`, so it either gives a valid tower or raises its
ValueError. Levels are numbered from 0 here, bottom (the weights' optimizer) first.
"""
from __future__ import annotations

import re

from ..core.optimizers import KINDS, Level
from ..core.spec import parse_tower

#: The paper's stacks (and one that shows a step size going negative), name -> spec.
PRESETS = {
    "SGD": "sgd(0.01)",
    "SGD / SGD": "sgd(0.01)/sgd(0.01)",
    "Adam / SGD(1e-5)": "adam/sgd(1e-5)",
    "Adam / Adam": "adam/adam",
    "RMSProp / SGD(1e-4)": "rmsprop/sgd(1e-4)",
    "SGD tower, 5 levels": "sgd(0.01)/sgd(0.01)/sgd(0.01)/sgd(0.01)/sgd(0.01)",
    "SGD / SGD(100): step size goes negative": "sgd(0.01)/sgd(100)",
}
DEFAULT_TOWER = PRESETS["Adam / SGD(1e-5)"]

#: Menu labels of the level kinds; any other kind is offered under its class's ``label``, else its own name.
LABELS = {"sgd": "SGD", "adagrad": "AdaGrad", "rmsprop": "RMSProp", "adam": "Adam",
          "sgd_per_param": "SGD, a step size per tensor"}
MOMENTUM_LABEL = "SGD with momentum"   # SGD with mu > 0: its own menu entry, since the card then shows mu
NESTEROV_LABEL = "SGD with Nesterov momentum"
MOMENTUM = 0.9  # mu of a level switched to "SGD with momentum"


def choices() -> dict[str, str]:
    """The optimizer menu of a level card: label -> level kind, one entry per kind of the core's registry (read
    at each call, so a kind registered later is offered; see ``optimizers.register``), plus SGD's momentum and
    Nesterov momentum."""
    menu = {LABELS.get(kind, cls.label or kind): kind for kind, cls in KINDS.items()}
    return {**{k: v for k, v in menu.items() if v == "sgd"}, MOMENTUM_LABEL: "sgd", NESTEROV_LABEL: "sgd",
            **{k: v for k, v in menu.items() if v != "sgd"}}
_WHOLE = re.compile(r"(?<![\w.])(\d+)\.0(?![\w.])")   # 100.0 -> 100 (not 1.05, 1e-05 or 2.0e3)


def levels(spec: str) -> list[Level]:
    """The levels of a tower, bottom first (ValueError for a bad spec)."""
    return parse_tower(spec).levels()


def canonical(spec: str) -> str:
    """The canonical text of a spec, whole numbers without ``.0`` (``sgd(100)``, not ``sgd(100.0)``; it parses to
    the same tower). ValueError for a bad spec."""
    return _WHOLE.sub(r"\1", str(parse_tower(spec)))


def choice(level: Level) -> str:
    """The menu label of a level."""
    if level.kind == "sgd" and level.momentum():
        return NESTEROV_LABEL if level.nesterov else MOMENTUM_LABEL
    return next(label for label, kind in choices().items() if kind == level.kind)


def shown_hypers(level: Level) -> list[str]:
    """The hyperparameters a card shows: the learnable ones, and momentum only for SGD with momentum."""
    names = [h.name for h in level.HYPERS if h.learnable]
    if level.kind == "sgd" and not level.momentum():
        names.remove("mu")
    return names


def _text(kind: str, values: dict, learn, options=None) -> str:
    """A level's spec text from its kind, values, learned names and options (``Level.options()``)."""
    args = [f"{name}={value!r}" for name, value in values.items()]
    args.append("learn=" + ("+".join(learn) if learn else "none"))
    args += [f"{name}={str(value).lower()}" for name, value in (options or {}).items()]
    return f"{kind}({', '.join(args)})"


def _join(parts: list[str]) -> str:
    return canonical("/".join(parts))


def _edit(spec: str, index: int, text: str) -> str:
    parts = [level.level_spec() for level in levels(spec)]
    parts[index] = text
    return _join(parts)


def with_choice(spec: str, index: int, label: str) -> str:
    """Level ``index`` becomes the optimizer ``label`` of :func:`choices`, with that optimizer's defaults (SGD and
    SGD with (Nesterov) momentum keep the step size when switching between each other)."""
    menu = choices()
    if label not in menu:
        raise ValueError(f"unknown optimizer {label!r}; choose one of {', '.join(menu)}")
    old = levels(spec)[index]
    kind = menu[label]
    nesterov = {"nesterov": True} if label == NESTEROV_LABEL else {}
    if kind == "sgd" and old.kind == "sgd":
        alpha = old.values["alpha"]
        if label == "SGD":
            return _edit(spec, index, _text("sgd", {"alpha": alpha, "mu": 0.0}, ("alpha",)))
        mu = old.values["mu"] or MOMENTUM
        return _edit(spec, index, _text("sgd", {"alpha": alpha, "mu": mu}, ("alpha", "mu"), nesterov))
    if label in (MOMENTUM_LABEL, NESTEROV_LABEL):
        return _edit(spec, index, _text("sgd", {"mu": MOMENTUM}, ("alpha", "mu"), nesterov))
    return _edit(spec, index, kind)


def with_value(spec: str, index: int, name: str, value) -> str:
    """Level ``index`` with hyperparameter ``name`` starting at ``value`` (a number or its text; ValueError if it
    is not a number or out of the hyperparameter's range)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number") from None
    old = levels(spec)[index]
    return _edit(spec, index, _text(old.kind, {**old.values, name: value}, old.learn, old.options()))


def with_learn(spec: str, index: int, name: str, on: bool) -> str:
    """Level ``index`` with hyperparameter ``name`` learning (``on``) or frozen."""
    old = levels(spec)[index]
    learn = [n for n in old.learn if n != name] + ([name] if on else [])
    return _edit(spec, index, _text(old.kind, old.values, learn, old.options()))


def with_level_on_top(spec: str) -> str:
    """One more level on top: a copy of the current top level (which now learns)."""
    parts = [level.level_spec() for level in levels(spec)]
    top = levels(spec)[-1]
    return _join(parts + [_text(top.kind, top.values, top.default_learn(), top.options())])


def without_level(spec: str, index: int) -> str:
    """The tower without level ``index`` (ValueError for the last remaining level)."""
    parts = [level.level_spec() for level in levels(spec)]
    if len(parts) == 1:
        raise ValueError("a tower needs at least one level: this is the only one")
    del parts[index]
    return _join(parts)


def preset_of(spec: str) -> str | None:
    """The name of the preset with this (canonical) spec, or None."""
    return next((name for name, text in PRESETS.items() if canonical(text) == spec), None)


def full_spec(spec: str) -> str:
    """The spec with every level's step size written out, defaults included: the label of a run, where the default
    of a level above (its kappa) matters as much as any other number (``sgd(0.001)/sgd`` -> ``sgd(0.001)/sgd(0.01)``).
    It parses to the same tower. ValueError for a bad spec."""
    parts = []
    for level in levels(spec):
        text = level.level_spec()
        kind, _, args = text.partition("(")
        args = args[:-1] if args else ""
        alpha = level.values.get("alpha")
        first = args.split(",")[0].strip()
        if alpha is not None and (not args or "=" in first) and not re.search(r"(^|[\s,])alpha\s*=", args):
            args = f"{alpha:g}" + (f", {args}" if args else "")
        parts.append(f"{kind}({args})" if args else kind)
    return _WHOLE.sub(r"\1", "/".join(parts))
