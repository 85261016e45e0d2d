"""The reference package's extension API: an optimizer level written as ``Optimizable.step(params)``.

In the reference package (``gradient_descent_the_ultimate_optimizer.gdtuo``) a user writes an optimizer as a
subclass of ``Optimizable``: its hyperparameters are a dict of tensors given to ``Optimizable.__init__``, and its
``step(params)`` first calls ``self.optimizer.step(self.parameters)`` (the level above moves the hyperparameters),
then replaces each ``params[name]`` by its new value, computed in torch operations. Such a class, with
``gdtuo.Optimizable`` as its base, runs unchanged here as one level of a tower: at the bottom, under or over the
built-in levels, at any height, through ``gdtuo.ModuleWrapper`` or :class:`~gdtuo_explore.HyperOptimizer`.

Example (sign-SGD, which the reference does not ship, with a learned step size)::

    >>> import torch
    >>> from gdtuo_explore import gdtuo
    >>> class SignSGD(gdtuo.Optimizable):
    ...     def __init__(self, alpha=0.01, optimizer=gdtuo.NoOpOptimizer()):
    ...         super().__init__({"alpha": torch.tensor(alpha)}, optimizer)
    ...     def step(self, params):
    ...         self.optimizer.step(self.parameters)
    ...         for name, param in params.items():
    ...             g = param.grad.detach()
    ...             params[name] = param.detach() - self.parameters["alpha"] * torch.sign(g)
    >>> model = torch.nn.Linear(3, 1)
    >>> mw = gdtuo.ModuleWrapper(model, optimizer=SignSGD(0.01, optimizer=gdtuo.SGD(1e-4)))
    >>> for _ in range(3):
    ...     mw.begin(); mw.zero_grad()
    ...     mw.forward(torch.ones(4, 3)).pow(2).mean().backward()
    ...     mw.step()
    >>> mw.hyperparameters()[0]["alpha"] != 0.01
    True

How it runs: the paper's rule, by autograd, as in the reference. At each update the learned hyperparameters enter
``self.parameters`` as fresh leaf tensors that require grad, and the target and its gradient enter ``params`` as
plain tensors. The graph from the hyperparameters to the new values is kept until the next step, whose gradient
``v`` gives the hypergradient ``v . d(new values)/dh`` by ``torch.autograd.grad`` (a vector-Jacobian product: nothing
second order, and the model's backward stays a plain one), and is then freed. The tower has already moved the
hyperparameters when the step runs, so there ``self.optimizer.step(...)`` does nothing. Each tower steps its own
copy of the level, made at its start: one level object can serve many towers, and keeps its starting state.

Differences from the reference:

* each hyperparameter is one number, stored as given (no range is imposed: the step's own arithmetic is the
  reparametrization, as in the reference); ``learn=`` may name the ones that learn (default: all);
* a learned hyperparameter that the step does not use in torch operations (unused, or cut off by ``.item()`` or
  ``.detach()``) is a ``ValueError`` naming the class and the hyperparameter at the first step, where the reference
  gives it a silent zero hypergradient;
* each tensor of ``params`` is flat (1-D): a tower knows the sizes of what it moves, not their shapes;
* state kept from step to step must be detached, as the reference's own classes do (a step's graph is freed
  once its hypergradient is taken); checkpoints (``state_dict``) of a tower with such a level are not supported.
"""
from __future__ import annotations

import copy

import torch

from .hyperparams import Hyper
from .optimizers.base import Level, scalar


class _Moved:
    """``self.optimizer`` inside a tower's copy of the level: the tower has already moved the hyperparameters."""

    def step(self, params) -> None:
        pass

    def initialize(self) -> None:
        pass

    def begin(self) -> None:
        pass

    def zero_grad(self) -> None:
        pass

    def __str__(self) -> str:
        return ""


def leaves_reached(outputs) -> set[int]:
    """The ids of the leaf tensors that requires-grad ``outputs`` depend on, by a walk of their autograd graph."""
    found, seen = {id(x) for x in outputs if x.grad_fn is None}, set()
    stack = [x.grad_fn for x in outputs if x.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # an AccumulateGrad node: a leaf
        if variable is not None:
            found.add(id(variable))
        stack.extend(nxt for nxt, _ in node.next_functions if nxt is not None)
    return found


class Optimizable(Level):
    """Base class of an optimizer written as the reference package's ``Optimizable`` (see the module docstring).

    Args:
        parameters: the hyperparameters, ``{name: value}`` (one-number tensors or numbers); ``self.parameters``
            holds them as 0-d tensors while ``step`` runs, as the reference does.
        optimizer: the level above (a built-in level, another ``Optimizable``, or ``NoOpOptimizer()``/None).
        learn: names of the hyperparameters that learn when a level above exists (default: all of them).

    A subclass writes ``step(self, params)``; its ``kind`` (in error messages and a checkpoint's tower name) is its
    class name.
    """

    kind = "optimizable"
    TAKES_TARGET = True
    CHECKPOINTS = False  # its state holds a copy of the user's object and its step's autograd graph

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" not in cls.__dict__:
            cls.kind = cls.__name__

    def __init__(self, parameters: dict, optimizer=None, *, learn=None):
        if not isinstance(parameters, dict) or not parameters:
            raise ValueError(f"{self.kind}: parameters={parameters!r} is invalid: it must be a non-empty dict "
                             "{name: one-number tensor} of the hyperparameters")
        for name, value in parameters.items():
            if not isinstance(name, str):
                raise ValueError(f"{self.kind}: the hyperparameter name {name!r} is invalid: it must be a string")
            if isinstance(value, torch.Tensor) and value.numel() != 1:
                raise ValueError(f"{self.kind}: the hyperparameter {name!r} has shape {tuple(value.shape)}; a tower "
                                 "learns one number per hyperparameter: give each number its own name")
        self.HYPERS = tuple(Hyper(name, 0.0) for name in parameters)  # no range: stored as given (see the module)
        self.parameters = parameters
        self.all_params_with_gradients = []  # the reference's attribute; the tower keeps no graph here
        super().__init__(parameters, optimizer, learn)

    # -- the reference package's API: the user writes step; the rest is done by the tower ----------------------
    def step(self, params: dict) -> None:
        """Move ``params`` (``{name: tensor}``, each with ``.grad``): replace each ``params[name]`` by its new value."""
        raise NotImplementedError(f"{self.kind} must define step(self, params)")

    def initialize(self) -> None:
        """Kept for the reference loop: nothing to do."""

    def begin(self) -> None:
        """Kept for the reference loop: nothing to do."""

    def zero_grad(self) -> None:
        """Kept for the reference loop: nothing to do."""

    # -- configuration -------------------------------------------------------------------------------------
    def has_text_form(self) -> bool:
        return False  # a user's class is not in the spec registry

    def level_spec(self) -> str:
        args = [f"{name}={value!r}" for name, value in self.values.items()]
        if self.learn != self.default_learn():
            args.append("learn=" + ("+".join(self.learn) if self.learn else "none"))
        return f"{self.kind}({', '.join(args)})"

    def __repr__(self) -> str:
        return self.level_spec()

    __eq__ = object.__eq__  # its step may hold any configuration: only the object itself is equal
    __hash__ = object.__hash__

    # -- math ----------------------------------------------------------------------------------------------
    def init_state(self, n, like, sizes, plain):
        """A copy of this level for one tower (its own step state), whose ``self.optimizer`` does nothing."""
        memo = {} if self.optimizer is None else {id(self.optimizer): None}  # not copied: replaced below
        worker = copy.deepcopy(self, memo)
        worker.optimizer = _Moved()
        return {"worker": worker, "sizes": list(sizes)}

    def update(self, state, g, hp, learn, out=None, *, target=None, names=()):
        if target is None:
            raise ValueError(f"{self.kind} needs the values of what it moves: Tower.step(..., target=weights)")
        worker, sizes = state["worker"], state["sizes"]
        leaves = {}
        for name in self.values:
            value = hp[name]
            x = value.detach().reshape(()).clone() if isinstance(value, torch.Tensor) else \
                torch.tensor(value, dtype=g.dtype, device=g.device)
            if name in learn:
                leaves[name] = x.requires_grad_()
            worker.parameters[name] = x
        params = {}
        for name, p, grad in zip(names, target.split(sizes), g.clone().split(sizes)):  # the step may keep them
            p.grad = grad
            params[name] = p
        worker.all_params_with_gradients.clear()
        with torch.enable_grad() if learn else torch.no_grad():
            worker.step(params)
        new = [self._new_value(params, name, size) for name, size in zip(names, sizes)]
        if learn:
            outputs = [x for x in new if x.requires_grad]
            if "checked" not in state:  # the first step: every learned hyperparameter must reach the new values
                reached = leaves_reached(outputs)
                for name in learn:
                    if id(leaves[name]) not in reached:
                        raise self._unused(name)
                state["checked"] = True
            state["graph"] = (outputs, [i for i, x in enumerate(new) if x.requires_grad], [leaves[n] for n in learn])
        return target - torch.cat([x.detach().reshape(-1) for x in new]), 1.0

    def _new_value(self, params, name, size):
        x = params.get(name)
        if not isinstance(x, torch.Tensor) or x.numel() != size:
            got = f"a tensor of {x.numel()} numbers" if isinstance(x, torch.Tensor) else repr(type(x).__name__)
            raise ValueError(f"{self.kind}.step left params[{name!r}] as {got}; it must be replaced by the new "
                             f"value, a tensor of {size} numbers")
        return x

    def _unused(self, name) -> ValueError:
        return ValueError(f"{self.kind}.step does not use its hyperparameter {name!r} in torch operations (unused, "
                          "or cut off by .item() or .detach()), so its hypergradient would be a silent zero; use it, "
                          f"or leave it out of learn= (learned here: {', '.join(self.learn) or 'none'})")

    def hypergrad(self, state, v, hp, learn, host):
        outputs, where, leaves = state.pop("graph")
        vs = v.split(state["sizes"])
        grads = torch.autograd.grad(outputs, leaves, [vs[i].reshape(x.shape) for i, x in zip(where, outputs)],
                                    allow_unused=True) if outputs else [None] * len(leaves)
        hg = {}
        for name, grad in zip(learn, grads):
            if grad is None:  # the step's graph changed since the first step
                raise self._unused(name)
            hg[name] = scalar(grad, host)
        return hg
