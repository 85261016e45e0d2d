"""The core hyperoptimizer library: the math, knowing nothing of runs or widgets.

* :mod:`.optimizers`: one module per optimizer level, its update and its hypergradient side by side;
* :mod:`.tower`: the hypergradient step (bottom-up hypergradients, top-down updates, the guard);
* :mod:`.spec`: tower specs (``"adam/sgd(1e-5)"``); :mod:`.hyperparams`: ranges and stored forms;
  :mod:`.history`: the per-step hyperparameter history kept on the device, :mod:`.columns` its columns' names;
* :mod:`.hyperoptimizer`: the ``torch.optim`` front, :class:`HyperOptimizer`;
* :mod:`.gdtuo`: the reference package's API (``ModuleWrapper`` and its optimizer classes);
  :mod:`.optimizable`: its ``Optimizable``, a user's optimizer written as ``step(params)``, as a tower level.

Nothing here imports from :mod:`gdtuo_explore.engine`, :mod:`gdtuo_explore.explorer`, the command line or the
benchmark (``tests/test_layers.py`` checks it).

The names below load on first use (PEP 562), so that a module with no PyTorch in it (:mod:`.columns`) imports
without loading PyTorch.
"""
import importlib

_WHERE = {"HyperOptimizer": ".hyperoptimizer", "Tower": ".tower", "parse_tower": ".spec",
          **{name: ".optimizers" for name in ("KINDS", "Level", "NoOpOptimizer", "SGD", "SGDPerParam", "AdaGrad",
                                              "RMSProp", "RMSPropAlpha", "Adam", "AdamBaydin", "AdamW", "Lion",
                                              "AutoLevel", "register")}}

__all__ = list(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value   # later lookups skip this function
    return value


def __dir__():
    return sorted({*globals(), *__all__})
