"""Optimizer levels: SGD, SGDPerParam, AdaGrad, RMSProp, Adam (and the named variants RMSPropAlpha, AdamBaydin)."""
from .adagrad import AdaGrad
from .adam import Adam, AdamBaydin
from .base import Level, NoOpOptimizer
from .rmsprop import RMSProp, RMSPropAlpha
from .sgd import SGD, SGDPerParam

#: The level kinds a tower spec may name, in menu order.
KINDS = {cls.kind: cls for cls in (SGD, Adam, AdaGrad, RMSProp, SGDPerParam)}

__all__ = ["Level", "NoOpOptimizer", "SGD", "SGDPerParam", "AdaGrad", "RMSProp", "RMSPropAlpha", "Adam",
           "AdamBaydin", "KINDS"]
