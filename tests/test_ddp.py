"""DistributedDataParallel: two gloo processes on the CPU end with identical hyperparameters and weights, with no
communication beyond DDP's own gradient all-reduce."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from gdtuo_explore import HyperOptimizer
from helpers import end_gloo_worker
from oracle import MLP, batches


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, spec, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)  # same initial weights on every rank
    model = torch.nn.parallel.DistributedDataParallel(MLP(64, 16, 10))
    opt = HyperOptimizer(model.parameters(), spec)
    for i, (x, y) in enumerate(batches(24, batch=32, seed=0)):
        if i % world != rank:  # each rank sees its own shard of the batches
            continue
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()
    torch.save({"hyper": opt.hyperparameters(), "history": opt.history(),
                "weights": [p.detach().clone() for p in model.parameters()]}, os.path.join(out_dir, f"rank{rank}.pt"))
    end_gloo_worker()


@pytest.mark.parametrize("spec", ["adam/sgd(1e-5)", "sgd(0.05, mu=0.5)/adam(0.01)/sgd(1e-4)"])
def test_ranks_end_with_identical_hyperparameters(tmp_path, spec):
    mp.spawn(_worker, args=(2, _free_port(), spec, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["hyper"] == r1["hyper"]
    for a, b in zip(r0["weights"], r1["weights"]):
        assert torch.equal(a, b)
    assert len(r0["history"]["step"]) == 12
    assert r0["hyper"][0]["alpha"] != HyperOptimizer(MLP(2, 2, 2).parameters(), spec).hyperparameters()[0]["alpha"]
