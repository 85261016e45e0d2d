"""The core hyperoptimizer library: the math, knowing nothing of runs or widgets.

* :mod:`.optimizers`: one module per optimizer level, its update and its hypergradient side by side;
* :mod:`.tower`: the hypergradient step (bottom-up hypergradients, top-down updates, the guard);
* :mod:`.spec`: tower specs (``"adam/sgd(1e-5)"``); :mod:`.hyperparams`: ranges and stored forms;
  :mod:`.history`: the per-step hyperparameter history kept on the device;
* :mod:`.hyperoptimizer`: the ``torch.optim`` front, :class:`HyperOptimizer`;
* :mod:`.gdtuo`: the reference package's API (``ModuleWrapper`` and its optimizer classes);
  :mod:`.optimizable`: its ``Optimizable``, a user's optimizer written as ``step(params)``, as a tower level.

Nothing here imports from :mod:`gdtuo_explore.engine`, :mod:`gdtuo_explore.explorer`, the command line or the
benchmark (``tests/test_layers.py`` checks it).
"""
from .hyperoptimizer import HyperOptimizer
from .optimizers import (KINDS, SGD, AdaGrad, Adam, AdamBaydin, AdamW, AutoLevel, Level, Lion, NoOpOptimizer, RMSProp,
                         RMSPropAlpha, SGDPerParam, register)
from .spec import parse_tower
from .tower import Tower

__all__ = ["HyperOptimizer", "Tower", "parse_tower", "KINDS", "Level", "NoOpOptimizer", "SGD", "SGDPerParam",
           "AdaGrad", "RMSProp", "RMSPropAlpha", "Adam", "AdamBaydin", "AdamW", "Lion", "AutoLevel", "register"]
