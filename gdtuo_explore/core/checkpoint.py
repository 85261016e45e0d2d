"""A level's state as plain values (numbers, strings, lists), for the part of a checkpoint that is not per parameter.

:class:`~gdtuo_explore.core.hyperoptimizer.HyperOptimizer` keeps each parameter's share of the bottom level's state
(moments, the last gradient, ...) in ``state_dict()["state"]``, as ``torch.optim`` does; the rest of a tower (its
step count, its learned hyperparameters, the small state of the levels above) is written as JSON text in its
parameter group. Tensors there become ``{"tensor": dtype, "shape": [...], "values": [...]}``: every float32 or float64
number is written with the shortest decimal that reads back to the same bits, so a resumed run is the same run.

Example::

    >>> import torch
    >>> from gdtuo_explore.core.checkpoint import from_plain, to_plain
    >>> plain = to_plain({"t": 3, "m": torch.tensor([0.1, -2.5])}, "adam")
    >>> plain["m"]
    {'tensor': 'float32', 'shape': [2], 'values': [0.10000000149011612, -2.5]}
    >>> torch.equal(from_plain(plain["m"], "cpu"), torch.tensor([0.1, -2.5]))
    True
"""
from __future__ import annotations

import torch


def to_plain(value, where: str):
    """``value`` (a tensor, a number, a string, None, or a list or dict of them) as plain values; ``where`` names
    the value in the ValueError raised for anything else."""
    if isinstance(value, torch.Tensor):
        if value.requires_grad or value.grad_fn is not None:
            raise ValueError(f"{where} holds a tensor that is part of an autograd graph; a checkpoint holds plain "
                             "tensors only")
        if value.is_floating_point() or value.dtype in (torch.bool, torch.int8, torch.int16, torch.int32, torch.int64,
                                                        torch.uint8):
            wide = value.detach().to("cpu", torch.float64 if value.is_floating_point() else value.dtype)
            return {"tensor": str(value.dtype).removeprefix("torch."), "shape": list(value.shape),
                    "values": wide.reshape(-1).tolist()}
        raise ValueError(f"{where} holds a tensor of dtype {value.dtype}, which a checkpoint does not hold")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_plain(x, f"{where}[{i}]") for i, x in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: to_plain(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(f"{where} holds a {type(value).__name__}, which a checkpoint does not hold (tensors, numbers, "
                     "strings and lists or dicts of them)")


def is_tensor(plain) -> bool:
    """Whether ``plain`` is a tensor written by :func:`to_plain`."""
    return isinstance(plain, dict) and set(plain) == {"tensor", "shape", "values"}


def from_plain(plain, device):
    """The value that :func:`to_plain` wrote, its tensors on ``device``."""
    if is_tensor(plain):
        dtype = getattr(torch, str(plain["tensor"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"a checkpoint's tensor has the dtype {plain['tensor']!r}, which torch does not have")
        return torch.tensor(plain["values"], dtype=dtype, device=device).reshape(plain["shape"])
    if isinstance(plain, list):
        return [from_plain(x, device) for x in plain]
    if isinstance(plain, dict):
        return {k: from_plain(v, device) for k, v in plain.items()}
    return plain
