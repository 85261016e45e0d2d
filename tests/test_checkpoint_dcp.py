"""torch.distributed.checkpoint with HyperOptimizer: reading its state dict leaves the run as it was (at step 0 too:
no initialising step), and a resumed run is the uninterrupted one bit for bit: get/set_optimizer_state_dict in one
process (plain, full and flattened), dcp.save/dcp.load on two gloo processes under DistributedDataParallel (sharded
and full state dicts), and FSDP2 (fully_shard) on the CPU: a run whose ranks agree and match one process, and a
sharded checkpoint that resumes it."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict, get_optimizer_state_dict,
                                                     set_model_state_dict, set_optimizer_state_dict)

from gdtuo_explore import HyperOptimizer
from gdtuo_explore.core.optimizers import auto
from helpers import end_gloo_worker
from oracle import MLP, batches

SPECS = ["adam/sgd(1e-5)", "sgd(0.05, mu=0.5)/adam(1e-3)", "adamw(weight_decay=0.1)/sgd(1e-5)"]


def _fresh(spec, seed=0, wrap=None):
    torch.manual_seed(seed)
    model = MLP(64, 16, 10)
    model = wrap(model) if wrap else model
    return model, HyperOptimizer(model.parameters(), spec)


def _train(model, opt, data, rank=0, world=1, every=None):
    for i, (x, y) in enumerate(data):
        opt.zero_grad()
        F.nll_loss(model(x[rank::world]), y[rank::world]).backward()
        opt.step()
        if every:
            every(i)


def _same(a, b):
    (ma, oa), (mb, ob) = a, b
    assert all(torch.equal(p, q) for p, q in zip(ma.parameters(), mb.parameters()))
    assert oa.hyperparameters() == ob.hyperparameters()
    assert oa.towers[0].t == ob.towers[0].t


# -- one process -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS)
def test_reading_the_state_dict_changes_nothing_even_before_the_first_step(spec):
    """DCP initialises an optimizer whose ``state`` is empty by a step with zero gradients; a HyperOptimizer's
    state is there from the start, so reading it at step 0 and at step 5 leaves the run as it was."""
    data = batches(10)
    plain = _fresh(spec)
    _train(*plain, data)
    read = _fresh(spec)
    osd = get_optimizer_state_dict(*read)
    assert read[1].towers[0].t == 0 and set(osd["state"]) == {n for n, _ in read[0].named_parameters()}
    _train(*read, data, every=lambda i: i == 4 and get_optimizer_state_dict(*read))
    _same(plain, read)


@pytest.mark.parametrize("options", [None, StateDictOptions(full_state_dict=True),
                                     StateDictOptions(flatten_optimizer_state_dict=True)],
                         ids=["plain", "full", "flattened"])
@pytest.mark.parametrize("spec", SPECS)
def test_set_optimizer_state_dict_resumes_the_same_run(spec, options):
    data = batches(12)
    whole = _fresh(spec)
    _train(*whole, data)
    first = _fresh(spec)
    _train(*first, data[:6])
    model_sd, optim_sd = get_model_state_dict(first[0]), get_optimizer_state_dict(*first, options=options)
    resumed = _fresh(spec, seed=1)
    set_model_state_dict(resumed[0], model_sd)
    set_optimizer_state_dict(*resumed, optim_sd, options=options)
    _train(*resumed, data[6:])
    _same(whole, resumed)


@pytest.mark.parametrize("spec", SPECS)
def test_a_deferred_automatic_update_resumes_the_same_run(spec, monkeypatch):
    """With CHUNK below the model's size, the automatic path's state holds the inputs of the last update (see
    optimizers/auto.py): its checkpoint resumes the run as well."""
    monkeypatch.setattr(auto, "CHUNK", 64)
    monkeypatch.setattr(auto, "SLICE", 300)  # several slices, across the parameters
    data = batches(10)
    whole = _fresh(spec)
    _train(*whole, data)
    first = _fresh(spec)
    _train(*first, data[:5])
    saved = get_optimizer_state_dict(*first)
    resumed = _fresh(spec, seed=1)
    resumed[0].load_state_dict(first[0].state_dict())
    set_optimizer_state_dict(*resumed, saved)
    _train(*resumed, data[5:])
    _same(whole, resumed)


def test_opt_state_is_the_towers_own_state():
    """Tools that read ``opt.state`` see each parameter's share of its tower's state; writing into it in place
    (or setting an entry) writes into the tower."""
    model, opt = _fresh("adam/sgd(1e-5)")
    _train(model, opt, batches(3))
    flat = opt.towers[0].per_element_state()
    assert list(opt.state) == list(model.parameters()) and len(opt.state) == 4
    bias = model.layer1.bias
    start = model.layer1.weight.numel()
    assert torch.equal(opt.state[bias]["m"], flat["m"][start:start + bias.numel()])
    opt.state[bias]["m"].zero_()
    assert not flat["m"][start:start + bias.numel()].any()
    opt.state[bias]["v"] = torch.full_like(bias, 2.0)
    assert torch.equal(flat["v"][start:start + bias.numel()], torch.full_like(bias, 2.0))
    with pytest.raises(ValueError, match="state 'v' of a parameter of shape \\(16,\\) takes a tensor of that shape"):
        opt.state[bias]["v"] = torch.zeros(3)
    with pytest.raises(ValueError, match="cannot be replaced; load another one with load_state_dict"):
        opt.state = {}
    assert torch.equal(opt.state[bias]["v"], torch.full_like(bias, 2.0))


# -- two gloo processes ------------------------------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _snapshot(model, opt, full=False):
    weights = [(p.full_tensor() if full else p).detach().clone() for p in model.parameters()]
    return {"weights": weights, "hyper": opt.hyperparameters(), "t": opt.towers[0].t}


def _ddp_worker(rank, world, port, spec, chunk, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    auto.CHUNK = chunk
    auto.SLICE = min(auto.SLICE, 300)  # several slices, across the parameters
    ddp = torch.nn.parallel.DistributedDataParallel
    data = batches(12, batch=32, seed=0)
    out = {}
    whole = _fresh(spec, wrap=ddp)
    _train(*whole, data, rank, world)
    out["uninterrupted"] = _snapshot(*whole)

    first = _fresh(spec, wrap=ddp)
    _train(*first, data[:6], rank, world)
    sharded = os.path.join(out_dir, "sharded")
    dcp.save({"model": get_model_state_dict(first[0]), "optim": get_optimizer_state_dict(*first)},
             checkpoint_id=sharded)
    full = StateDictOptions(full_state_dict=True, cpu_offload=True)
    whole_sd = get_optimizer_state_dict(*first, options=full)
    if rank == 0:
        torch.save({"model": get_model_state_dict(first[0], options=full), "optim": whole_sd},
                   os.path.join(out_dir, "full.pt"))
    dist.barrier()

    resumed = _fresh(spec, seed=1, wrap=ddp)  # other weights, a fresh optimizer: the checkpoint must restore both
    template = {"model": get_model_state_dict(resumed[0]), "optim": get_optimizer_state_dict(*resumed)}
    dcp.load(template, checkpoint_id=sharded)
    set_model_state_dict(resumed[0], template["model"])
    set_optimizer_state_dict(*resumed, template["optim"])
    _train(*resumed, data[6:], rank, world)
    out["sharded"] = _snapshot(*resumed)

    resumed = _fresh(spec, seed=1, wrap=ddp)
    saved = torch.load(os.path.join(out_dir, "full.pt"), weights_only=True)
    set_model_state_dict(resumed[0], saved["model"], options=StateDictOptions(full_state_dict=True))
    set_optimizer_state_dict(*resumed, saved["optim"], options=StateDictOptions(full_state_dict=True))
    _train(*resumed, data[6:], rank, world)
    out["full"] = _snapshot(*resumed)
    torch.save(out, os.path.join(out_dir, f"rank{rank}.pt"))
    end_gloo_worker()


@pytest.mark.parametrize("spec,chunk", [("adam/sgd(1e-5)", auto.CHUNK), ("adamw(weight_decay=0.1)/sgd(1e-5)", 64)],
                         ids=["adam-sgd", "adamw-sgd-deferred"])
def test_dcp_save_and_load_on_two_processes_resume_the_same_run(tmp_path, spec, chunk):
    """DDP on two gloo processes: dcp.save/dcp.load of the sharded state dict into a fresh model and optimizer, and
    a full state dict saved by rank 0 and loaded by both, each resume the uninterrupted run bit for bit."""
    mp.spawn(_ddp_worker, args=(2, _free_port(), spec, chunk, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        out = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        for how in ("sharded", "full"):
            assert out[how]["hyper"] == out["uninterrupted"]["hyper"], how
            assert out[how]["t"] == 12
            assert all(torch.equal(a, b) for a, b in zip(out[how]["weights"], out["uninterrupted"]["weights"])), how


def _fsdp_worker(rank, world, port, spec, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (world,))

    def sharded(model):
        fully_shard(model.layer1, mesh=mesh)
        fully_shard(model.layer2, mesh=mesh)
        return fully_shard(model, mesh=mesh)

    data = batches(10, batch=32, seed=0)
    out = {}
    whole = _fresh(spec, wrap=sharded)
    assert type(whole[0].layer1.weight).__name__ == "DTensor"
    _train(*whole, data, rank, world)
    out["uninterrupted"] = _snapshot(*whole, full=True)
    out["state"] = {k: v.full_tensor() for k, v in whole[1].state[whole[0].layer1.weight].items()}

    first = _fresh(spec, wrap=sharded)
    _train(*first, data[:5], rank, world)
    dcp.save({"model": get_model_state_dict(first[0]), "optim": get_optimizer_state_dict(*first)},
             checkpoint_id=os.path.join(out_dir, "fsdp"))
    resumed = _fresh(spec, seed=1, wrap=sharded)
    template = {"model": get_model_state_dict(resumed[0]), "optim": get_optimizer_state_dict(*resumed)}
    dcp.load(template, checkpoint_id=os.path.join(out_dir, "fsdp"))
    set_model_state_dict(resumed[0], template["model"])
    set_optimizer_state_dict(*resumed, template["optim"])
    _train(*resumed, data[5:], rank, world)
    out["resumed"] = _snapshot(*resumed, full=True)
    torch.save(out, os.path.join(out_dir, f"rank{rank}.pt"))
    end_gloo_worker()


@pytest.mark.parametrize("spec", ["adam/sgd(1e-5)", "adamw(weight_decay=0.1)/sgd(1e-5)"])
def test_fsdp2_on_the_cpu(tmp_path, spec):
    """fully_shard on two gloo processes: each holds half of every weight and of its optimizer state; the
    hypergradients are summed over the shards, so both ranks learn the same hyperparameters, and the run is that of
    one process fed both halves of each batch (the mean of their losses). A sharded DCP checkpoint resumes it."""
    mp.spawn(_fsdp_worker, args=(2, _free_port(), spec, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["uninterrupted"]["hyper"] == r1["uninterrupted"]["hyper"]
    assert all(torch.equal(a, b) for a, b in zip(r0["uninterrupted"]["weights"], r1["uninterrupted"]["weights"]))
    assert r0["resumed"]["hyper"] == r0["uninterrupted"]["hyper"]
    assert all(torch.equal(a, b) for a, b in zip(r0["resumed"]["weights"], r0["uninterrupted"]["weights"]))

    model, opt = _fresh(spec)
    for x, y in batches(10, batch=32, seed=0):
        opt.zero_grad()
        ((F.nll_loss(model(x[0::2]), y[0::2]) + F.nll_loss(model(x[1::2]), y[1::2])) / 2).backward()
        opt.step()
    for a, b in zip(r0["uninterrupted"]["weights"], model.parameters()):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-6)
    ours, one = r0["uninterrupted"]["hyper"][0], opt.hyperparameters()[0]
    assert ours == pytest.approx(one, rel=1e-5) and ours["alpha"] != pytest.approx(1e-3, rel=1e-4)
    for key, value in r0["state"].items():
        torch.testing.assert_close(value, opt.state[model.layer1.weight][key], rtol=1e-5, atol=1e-6)
