"""Learning-rate-free optimizers a run can use instead of a tower, for comparison (the ``baselines``
extra): Prodigy, Schedule-Free AdamW and D-Adapt Adam, each with its package's defaults.

Their effective Adam step size is recorded as ``level1.alpha`` (``d * lr`` for Prodigy and D-Adaptation, the
warm-up-scheduled ``lr`` for Schedule-Free), the column that holds a tower's learned step size, so the two plot
side by side.
"""
from __future__ import annotations

import importlib

from ..core.columns import column

#: name -> (module, class, human name)
BASELINES = {
    "prodigy": ("prodigyopt", "Prodigy", "Prodigy"),
    "schedulefree": ("schedulefree", "AdamWScheduleFree", "Schedule-Free AdamW"),
    "dadaptation": ("dadaptation", "DAdaptAdam", "D-Adapt Adam"),
}
COLUMNS = [column(1, "alpha")]


def _load(name: str):
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known baselines: {', '.join(BASELINES)} (or none, for the tower)")
    module, cls, human = BASELINES[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError:
        raise ValueError(f"baseline={name!r} ({human}) needs the package {module!r}: pip install {module} "
                         "(or, in a clone of gdtuo-explore, pip install -e '.[baselines]')") from None


def check_baseline(name: str) -> None:
    """ValueError if ``name`` is not a known baseline or its package is not installed."""
    _load(name)


class Baseline:
    """A baseline optimizer over ``params``, with the train/eval switches Schedule-Free needs."""

    def __init__(self, name: str, params):
        self.name = name
        self.optimizer = _load(name)(params)
        self._switches = hasattr(self.optimizer, "eval") and hasattr(self.optimizer, "train")
        self.train()

    def train(self) -> None:
        """Put the weights in training position (Schedule-Free only)."""
        if self._switches:
            self.optimizer.train()

    def eval(self) -> None:
        """Put the weights in evaluation position (Schedule-Free only)."""
        if self._switches:
            self.optimizer.eval()

    def step_size(self) -> float:
        """The effective step size of the last step (a host value: these optimizers keep it on the host)."""
        group = self.optimizer.param_groups[0]
        if "scheduled_lr" in group:
            return float(group["scheduled_lr"])
        return float(group.get("d", 1.0)) * float(group["lr"])
