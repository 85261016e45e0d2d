"""gdtuo-explore: hyperoptimizers ("Gradient Descent: The Ultimate Optimizer", Chandra et al., NeurIPS 2022)
that you can see and touch.

* the core library: optimizer levels (:mod:`gdtuo_explore.optimizers`), the hypergradient step
  (:mod:`gdtuo_explore.tower`), a ``torch.optim`` front (:class:`HyperOptimizer`), tower specs
  (:func:`parse_tower`) and the reference API (:mod:`gdtuo_explore.gdtuo`);
* tasks, runs and the command line (:mod:`gdtuo_explore.tasks`, :mod:`gdtuo_explore.run`, ``gdtuo-explore``);
* the JupyterLab explorer (``from gdtuo_explore import Explorer``).
"""
from .hyperoptimizer import HyperOptimizer
from .optimizers import SGD, AdaGrad, Adam, AdamBaydin, Level, NoOpOptimizer, RMSProp, RMSPropAlpha, SGDPerParam
from .spec import parse_tower
from .tower import Tower

__version__ = "0.1.0"

__all__ = ["HyperOptimizer", "Tower", "parse_tower", "Level", "NoOpOptimizer", "SGD", "SGDPerParam", "AdaGrad",
           "RMSProp", "RMSPropAlpha", "Adam", "AdamBaydin", "Explorer"]


def __getattr__(name):
    if name == "Explorer":  # the widgets are imported only when asked for
        from .explorer import Explorer
        return Explorer
    raise AttributeError(f"module 'gdtuo_explore' has no attribute {name!r}")
