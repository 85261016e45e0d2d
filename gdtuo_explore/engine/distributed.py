"""Training one run on several processes with ``DistributedDataParallel``, started by ``torchrun``::

    torchrun --nproc_per_node=4 -m gdtuo_explore run --task cifar10 --stack "adam/sgd(1e-5)" --epochs 20

Every rank builds the same run (same seed: same initial weights, same batch order). Each step's global batch (a slice
of the epoch's ``torch.randperm``, as in one process) is split across the ranks as ``DistributedSampler`` splits an
epoch: rank ``r`` takes the positions ``r, r + N, r + 2N, ...`` (:func:`local_batch`). Each rank's loss is scaled so
that DDP's gradient average is the gradient of the global batch's mean loss (:func:`loss_weight`), also when the last
batch of an epoch does not divide evenly. The hyperoptimizer needs nothing more: it sees the averaged gradients, the
same on every rank, so every rank steps its hyperparameters alike (see tests/test_ddp.py). The train loss each rank
records is the global batch's (one all-reduce of a scalar per step). Rank 0 alone writes files and prints.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os

import torch
import torch.distributed as dist

ENVIRONMENT = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


def local_batch(idx: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s share of the global batch ``idx``: its positions ``rank, rank + world_size, ...``."""
    return idx[rank::world_size]


def loss_weight(local: int, total: int, world_size: int) -> float:
    """The factor on a rank's mean loss over ``local`` of the global batch's ``total`` examples such that the mean
    over ranks of the weighted losses (what DDP's gradient average differentiates) is the global mean loss."""
    return local * world_size / total


@dataclasses.dataclass
class Distributed:
    """This process's place in a ``torchrun`` job: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int
    world_size: int
    local_rank: int

    @classmethod
    def from_environment(cls) -> "Distributed | None":
        """The job ``torchrun`` describes in ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; None when not under
        torchrun."""
        if not all(name in os.environ for name in ENVIRONMENT):
            return None
        try:
            rank, world, local = (int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
        except ValueError:
            raise ValueError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (as torchrun sets them): got "
                             + ", ".join(f"{n}={os.environ[n]!r}" for n in ENVIRONMENT)) from None
        if not 0 <= rank < world or local < 0:
            raise ValueError(f"RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local} do not describe a process of a "
                             "torchrun job (0 <= RANK < WORLD_SIZE, LOCAL_RANK >= 0)")
        return cls(rank, world, local)

    @property
    def main(self) -> bool:
        """True on rank 0, the rank that writes and prints."""
        return self.rank == 0

    def device_name(self, device: str) -> str:
        """The device of this rank for the config's ``device``: ``cuda:LOCAL_RANK`` where the config means CUDA (one
        GPU per process), else the config's."""
        from .config import resolve_device

        if resolve_device(device).type == "cuda":
            return f"cuda:{self.local_rank}"
        return device

    def start(self, device: str) -> None:
        """Join the process group: nccl for CUDA, gloo otherwise (``MASTER_ADDR``/``MASTER_PORT`` from torchrun)."""
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend, rank=self.rank, world_size=self.world_size)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def check(self, batch_size: int) -> None:
        """ValueError if a global batch of ``batch_size`` leaves a rank without examples."""
        if batch_size < self.world_size:
            raise ValueError(f"batch_size={batch_size} is out of range under torchrun with {self.world_size} "
                             f"processes: it is the global batch, split across them, so it must be >= "
                             f"{self.world_size}")

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in ``DistributedDataParallel`` (its parameters stay the same tensors)."""
        device = next(model.parameters()).device
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda"
                                                         else None)

    def backward(self, ddp_model, loss_fn, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Forward and backward this rank's share of the global batch ``idx`` through ``ddp_model`` (gradients come
        out averaged as for the whole batch); returns the global batch's mean loss (detached, the same on every
        rank)."""
        mine = local_batch(idx, self.rank, self.world_size)
        weight = loss_weight(len(mine), len(idx), self.world_size)
        out = ddp_model(x[mine])
        loss = loss_fn(out, y[mine]) * weight if len(mine) else out.sum() * 0.0  # an empty share adds nothing
        loss.backward()
        total = loss.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def agreement(self, model: torch.nn.Module, optimizer) -> dict:
        """Every rank's learned hyperparameters and a SHA-256 of its weights, gathered (a collective: every rank must
        call it): ``{"world_size", "hyperparameters": [per rank], "weights_sha256": [per rank], "agree"}``."""
        digest = hashlib.sha256()
        for p in model.parameters():
            digest.update(p.detach().cpu().contiguous().numpy().tobytes())
        hyper = optimizer.hyperparameters() if hasattr(optimizer, "hyperparameters") else None
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, {"hyperparameters": hyper, "weights_sha256": digest.hexdigest()})
        out = {"world_size": self.world_size, "hyperparameters": [g["hyperparameters"] for g in gathered],
               "weights_sha256": [g["weights_sha256"] for g in gathered]}
        out["agree"] = all(g == gathered[0] for g in gathered)
        return out
