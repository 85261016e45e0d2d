"""The reference package's API (``gradient_descent_the_ultimate_optimizer.gdtuo``), on this library's engine.

Swap the import and the reference README's loop runs unchanged and gives the same numbers::

    from gdtuo_explore import gdtuo
    optim = gdtuo.Adam(optimizer=gdtuo.SGD(1e-5))
    mw = gdtuo.ModuleWrapper(model, optimizer=optim)
    mw.initialize()
    for x, y in data:
        mw.begin()
        loss = F.nll_loss(mw.forward(x), y)
        mw.zero_grad()
        loss.backward(create_graph=True)   # a plain loss.backward() gives the same numbers, twice as fast
        mw.step()

An optimizer of your own, written against the reference's ``Optimizable`` (a dict of hyperparameter tensors, a
``step(params)`` in torch ops), runs unchanged with ``gdtuo.Optimizable`` as its base (see
:mod:`gdtuo_explore.core.optimizable`), under or over the built-in levels.

Fixed here: the model's parameters stay leaf ``nn.Parameter``s (``copy.deepcopy``, ``state_dict``, a ``torch.optim``
optimizer on the same model and tied weights keep working); no shared default optimizer instance;
``initialize()`` calls the module's own ``initialize()``; no memory growth from step to step or run to run.
"""
from __future__ import annotations

import torch

from .hyperoptimizer import HyperOptimizer
from .optimizable import Optimizable
from .optimizers import SGD, AdaGrad, Adam, AdamBaydin, Level, NoOpOptimizer, RMSProp, RMSPropAlpha, SGDPerParam

__all__ = ["SGD", "SGDPerParam", "AdaGrad", "RMSProp", "RMSPropAlpha", "Adam", "AdamBaydin", "ModuleWrapper",
           "NoOpOptimizer", "Optimizable"]


class ModuleWrapper:
    """Train ``module`` with the tower whose bottom level is ``optimizer`` (reference API).

    ``optimizer=None`` (or ``NoOpOptimizer()``) leaves the module's parameters unchanged by ``step()``.
    """

    def __init__(self, module: torch.nn.Module, optimizer: Level | NoOpOptimizer | None = None):
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, not {type(module).__name__}")
        self.module = module
        self.optimizer = None if isinstance(optimizer, NoOpOptimizer) else optimizer
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self.hyperoptimizer = HyperOptimizer(named, self.optimizer) if self.optimizer is not None and named else None

    def initialize(self) -> None:
        """Initialize the module: calls ``module.initialize()`` when it has one."""
        init = getattr(self.module, "initialize", None)
        if callable(init):
            init()

    def begin(self) -> None:
        """Start a step. Kept for the reference loop; nothing needs to be prepared here."""

    def zero_grad(self) -> None:
        if self.hyperoptimizer is not None:  # its flat list of the trained parameters: faster than the module walk
            self.hyperoptimizer.zero_grad(set_to_none=True)
        else:
            self.module.zero_grad(set_to_none=True)

    def forward(self, *xyz):
        return self.module(*xyz)

    __call__ = forward

    def train(self) -> None:
        self.module.train()

    def eval(self) -> None:
        self.module.eval()

    def step(self) -> None:
        """Move the hyperparameters, then the weights (in place)."""
        if self.hyperoptimizer is None:
            return
        self.hyperoptimizer.step()
        for group in self.hyperoptimizer.param_groups:  # drop the graph a create_graph=True backward hangs on .grad
            for p in group["params"]:
                if p.grad is not None and p.grad.requires_grad:
                    p.grad = p.grad.detach()

    def hyperparameters(self) -> list[dict[str, float]]:
        """Every level's current hyperparameters in natural units, bottom level first."""
        return self.hyperoptimizer.hyperparameters() if self.hyperoptimizer else []

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(),
                "optimizer": self.hyperoptimizer.state_dict() if self.hyperoptimizer else None}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        if self.hyperoptimizer is not None:
            self.hyperoptimizer.load_state_dict(state["optimizer"])
