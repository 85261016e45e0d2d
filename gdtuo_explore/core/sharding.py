"""Parameters sharded across processes (``torch.distributed.tensor.DTensor``, as FSDP2's ``fully_shard`` makes them).

A process holds one shard of each such parameter: :class:`~gdtuo_explore.core.hyperoptimizer.HyperOptimizer` steps
the local shards (``to_local()``), keeps its per-parameter state for them, and hands that state out as DTensors
placed like the parameter, so that ``torch.distributed.checkpoint`` gathers or reshards it as it does
``torch.optim``'s. The hypergradient of the weights' optimizer is a sum over every weight: :func:`shard_sum` gives the
tower a function that sums over the shards (:class:`~gdtuo_explore.core.tower.Tower`'s ``reduce``).

``torch.distributed.tensor`` is not imported here: a parameter can only be a DTensor once the caller has imported it.
"""
from __future__ import annotations

import sys

import torch


def dtensor_type():
    """The DTensor class if ``torch.distributed.tensor`` is loaded, else None."""
    return getattr(sys.modules.get("torch.distributed.tensor"), "DTensor", None)


def is_sharded(t) -> bool:
    """Whether ``t`` is a DTensor."""
    cls = dtensor_type()
    return cls is not None and isinstance(t, cls)


def local(t: torch.Tensor) -> torch.Tensor:
    """This process's shard of ``t`` (a view: changing it changes ``t``), or ``t`` itself if it is not a DTensor."""
    return t.to_local() if is_sharded(t) else t


def placement(p) -> tuple:
    """What a group's parameters must share: their mesh and placements (None for plain tensors)."""
    return (p.device_mesh, tuple(p.placements)) if is_sharded(p) else None


def placed_like(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``x``, a tensor shaped like ``p``'s shard, as a DTensor placed like ``p`` (``x`` itself if ``p`` is plain)."""
    if not is_sharded(p):
        return x
    return dtensor_type().from_local(x, p.device_mesh, p.placements, run_check=False, shape=p.shape,
                                     stride=p.stride())


def shard_sum(p):
    """A function summing a tensor in place over the processes that hold the shards of ``p`` (over each mesh
    dimension along which ``p`` is sharded), or None where ``p`` is whole in every process."""
    if not is_sharded(p):
        return None
    import torch.distributed as dist

    mesh = p.device_mesh
    groups = [mesh.get_group(i) for i, where in enumerate(p.placements) if where.is_shard()]
    if not groups:
        return None

    def reduce(x: torch.Tensor) -> None:
        for group in groups:
            dist.all_reduce(x, group=group)

    return reduce
