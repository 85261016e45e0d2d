"""``NonFinite``: what a tower's guard rail found when it refused a step (see :meth:`Tower.nonfinite`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: ``"hyperparameter"``: a learned hyperparameter went non-finite (``values`` names them, e.g. ``level1.alpha``);
#: ``"update"``: the weights' update did, with every hyperparameter finite; ``"gradient"``: the loss or the weights'
#: gradient did; ``"unknown"``: the tower keeps no history, so only the fact is known.
Kind = Literal["hyperparameter", "update", "gradient", "unknown"]

_WHAT = {"update": "the weights' update", "gradient": "the loss or the gradient"}


@dataclass(frozen=True)
class NonFinite:
    """The first refused step of a tower: ``step`` (from 1; None without a history), ``kind`` and ``values`` (the
    hyperparameter columns that went non-finite, for kind ``"hyperparameter"``; empty otherwise)."""

    step: int | None
    kind: Kind
    values: tuple[str, ...] = ()

    @property
    def what(self) -> str:
        """The values that went non-finite, in words: ``level1.alpha, level1.beta1``, ``the weights' update``, ..."""
        return ", ".join(self.values) if self.kind == "hyperparameter" else _WHAT.get(self.kind, "")

    @property
    def message(self) -> str:
        """One sentence, e.g. ``step 6: non-finite the loss or the gradient; the step was refused and ...``."""
        if self.kind == "unknown":
            return "a hyperparameter or the weights' update became non-finite"
        return (f"step {self.step}: non-finite {self.what}; the step was refused and the weights and hyperparameters "
                "kept their last finite values")

    def __str__(self) -> str:
        return self.message
