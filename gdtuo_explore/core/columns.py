"""The names of a tower's history columns, for every layer that shows or stores them (no PyTorch needed).

A hyperparameter's column is ``level{k}.{name}``: level 1 is the bottom level, the one that moves the weights
(:func:`column` makes the name and :func:`parse_column` reads it back). A learned hyperparameter's hypergradient,
where a tower records it, is in the column ``level{k}.{name}.hypergrad`` (:func:`hypergrad_column`, read back by
:func:`parse_hypergrad_column`); :func:`parse_column` does not take it for a hyperparameter.
"""
from __future__ import annotations

import re

_COLUMN = re.compile(r"^level(\d+)\.(.+)$")
HYPERGRAD_SUFFIX = ".hypergrad"


def column(level: int, name: str) -> str:
    """The history column of hyperparameter ``name`` of level ``level`` (from 1, the bottom):
    ``column(2, "alpha") == "level2.alpha"``."""
    return f"level{level}.{name}"


def parse_column(name: str) -> tuple[int, str] | None:
    """``(level, hyperparameter)`` of a history column (``"level2.alpha"`` -> ``(2, "alpha")``), else None (also
    for a hypergradient's column, ``"level1.alpha.hypergrad"``)."""
    m = _COLUMN.match(name)
    return (int(m.group(1)), m.group(2)) if m and not name.endswith(HYPERGRAD_SUFFIX) else None


def hypergrad_column(level: int, name: str) -> str:
    """The history column of the hypergradient of hyperparameter ``name`` of level ``level``:
    ``hypergrad_column(1, "alpha") == "level1.alpha.hypergrad"``."""
    return column(level, name) + HYPERGRAD_SUFFIX


def parse_hypergrad_column(name: str) -> tuple[int, str] | None:
    """``(level, hyperparameter)`` of a hypergradient's column (``"level1.alpha.hypergrad"`` -> ``(1, "alpha")``),
    else None."""
    if not name.endswith(HYPERGRAD_SUFFIX):
        return None
    m = _COLUMN.match(name[: -len(HYPERGRAD_SUFFIX)])
    return (int(m.group(1)), m.group(2)) if m else None
