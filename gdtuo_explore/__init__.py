"""gdtuo-explore: hyperoptimizers ("Gradient Descent: The Ultimate Optimizer", Chandra et al., NeurIPS 2022)
that you can see and touch.

One folder per layer, each importing only from the layers below it (``tests/test_layers.py``):

* :mod:`gdtuo_explore.core`: the library -- optimizer levels (:mod:`~gdtuo_explore.core.optimizers`), the
  hypergradient step (:mod:`~gdtuo_explore.core.tower`), a ``torch.optim`` front (:class:`HyperOptimizer`), tower
  specs (:func:`parse_tower`) and the reference API (``from gdtuo_explore import gdtuo``);
* :mod:`gdtuo_explore.engine`: tasks, run configs, runs trained in a background thread, sweeps and reports;
* :mod:`gdtuo_explore.explorer`: the JupyterLab explorer (``from gdtuo_explore import Explorer``);
* ``from gdtuo_explore import show``: ``show(fig)`` displays a Plotly figure with a static image beside it, so that a
  saved notebook shows it anywhere (:mod:`gdtuo_explore.engine.static`);
* on top: the command line (:mod:`gdtuo_explore.cli`, ``gdtuo-explore``) and, outside the library's import path,
  the benchmark (``python -m gdtuo_explore.bench``).
"""
from .core import (SGD, AdaGrad, Adam, AdamBaydin, AdamW, AutoLevel, HyperOptimizer, Level, Lion, NoOpOptimizer,
                   RMSProp, RMSPropAlpha, SGDPerParam, Tower, parse_tower, register)

__version__ = "0.1.0"

__all__ = ["HyperOptimizer", "Tower", "parse_tower", "Level", "NoOpOptimizer", "SGD", "SGDPerParam", "AdaGrad",
           "RMSProp", "RMSPropAlpha", "Adam", "AdamBaydin", "AdamW", "Lion", "AutoLevel", "register", "Explorer",
           "show"]


def __getattr__(name):
    if name == "Explorer":  # the widgets are imported only when asked for
        from .explorer import Explorer
        return Explorer
    if name == "show":  # a Plotly figure with its static image (engine/static.py; matplotlib loads when drawing)
        from .engine.static import show
        return show
    raise AttributeError(f"module 'gdtuo_explore' has no attribute {name!r}")
