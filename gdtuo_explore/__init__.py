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

The names below load on first use (PEP 562): ``import gdtuo_explore`` imports neither PyTorch nor the widgets, so
the command line starts, parses its arguments and handles Ctrl-C before PyTorch is loaded.
"""
import importlib

__version__ = "0.1.0"

_CORE = ("HyperOptimizer", "Tower", "parse_tower", "Level", "NoOpOptimizer", "SGD", "SGDPerParam", "AdaGrad",
         "RMSProp", "RMSPropAlpha", "Adam", "AdamBaydin", "AdamW", "Lion", "AutoLevel", "register")

__all__ = [*_CORE, "Explorer", "show"]


def __getattr__(name):
    if name in _CORE:
        value = getattr(importlib.import_module(".core", __name__), name)
    elif name == "Explorer":
        value = importlib.import_module(".explorer", __name__).Explorer
    elif name == "show":   # a Plotly figure with its static image (matplotlib loads when a figure is drawn)
        value = importlib.import_module(".engine.static", __name__).show
    else:
        raise AttributeError(f"module 'gdtuo_explore' has no attribute {name!r}")
    globals()[name] = value   # later lookups skip this function
    return value


def __dir__():
    return sorted({*globals(), *__all__})
