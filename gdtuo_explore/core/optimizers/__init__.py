"""Optimizer levels: SGD, SGDPerParam, AdaGrad, RMSProp, Adam (and the named variants RMSPropAlpha, AdamBaydin) with
closed-form hypergradients, and AdamW, Lion and your own written only as their update (:mod:`.auto`)."""
from .adagrad import AdaGrad
from .adam import Adam, AdamBaydin
from .adamw import AdamW
from .auto import Automatic, AutoLevel
from .base import Level, NoOpOptimizer
from .lion import Lion
from .rmsprop import RMSProp, RMSPropAlpha
from .sgd import SGD, SGDPerParam

#: The level kinds a tower spec may name, in menu order (:func:`register` adds one).
KINDS = {cls.kind: cls for cls in (SGD, Adam, AdaGrad, RMSProp, SGDPerParam, AdamW, Lion)}


def register(cls: type) -> type:
    """Make the level class ``cls`` usable by its ``kind`` in spec text (:func:`~gdtuo_explore.parse_tower`), on the
    command line (``--tower``) and in the explorer's level menu (under ``cls.label``, else its kind). Returns
    ``cls``, so it also works as a class decorator (see :class:`AutoLevel`'s example). Registering the same class
    again is harmless; a kind taken by another class is a ValueError.

    >>> from gdtuo_explore.core.optimizers import register, Lion
    >>> register(Lion) is Lion
    True
    """
    if not (isinstance(cls, type) and issubclass(cls, Level)):
        raise ValueError(f"register takes a Level subclass (e.g. of AutoLevel), not {cls!r}")
    kind = getattr(cls, "kind", None)
    if not (isinstance(kind, str) and kind.isidentifier() and kind == kind.lower()) or kind in ("level", "auto"):
        raise ValueError(f"{cls.__name__}.kind={kind!r} is invalid: set kind to a lower-case name for spec text, "
                         "such as 'sign_sgd'")
    old = KINDS.get(kind, cls)
    if (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):  # (a class defined again: replaced)
        raise ValueError(f"the kind {kind!r} is taken by {old.__name__}: give {cls.__name__} another kind")
    KINDS[kind] = cls
    return cls


__all__ = ["Level", "NoOpOptimizer", "SGD", "SGDPerParam", "AdaGrad", "RMSProp", "RMSPropAlpha", "Adam",
           "AdamBaydin", "AdamW", "Lion", "AutoLevel", "Automatic", "KINDS", "register"]
