"""The names of a tower's history columns, for every layer that shows or stores them (no PyTorch needed).

A hyperparameter's column is ``level{k}.{name}``: level 1 is the bottom level, the one that moves the weights.
"""
from __future__ import annotations

import re

_COLUMN = re.compile(r"^level(\d+)\.(.+)$")


def column(level: int, name: str) -> str:
    """The history column of hyperparameter ``name`` of level ``level`` (from 1, the bottom):
    ``column(2, "alpha") == "level2.alpha"``."""
    return f"level{level}.{name}"


def parse_column(name: str) -> tuple[int, str] | None:
    """``(level, hyperparameter)`` of a history column (``"level2.alpha"`` -> ``(2, "alpha")``), else None."""
    m = _COLUMN.match(name)
    return (int(m.group(1)), m.group(2)) if m else None
