"""The accelerator path (hyperparameters as tensors, never read back to the host), run on the CPU: it reads no value
back during a step, and it follows the same trajectory as the CPU's float path."""
import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

from gdtuo_explore import HyperOptimizer
from gdtuo_explore.core.tower import Tower
from oracle import MLP, batches

# every built-in level at the bottom and above it (adagrad, rmsprop and sgd_per_param as hyperoptimizers too), every
# learnable hyperparameter, heights 1 to 4
SPECS = ["adam/sgd(1e-5)", "adam(learn=alpha)/sgd(1e-5)", "adam", "sgd(0.05, mu=0.9)", "sgd(0.05)/sgd(1e-3)",
         "sgd(0.05, mu=0.5)/sgd(1e-3)", "sgd(0.05, learn=alpha+mu)/adam(1e-4)", "sgd_per_param(0.05)/sgd(1e-3)",
         "sgd_per_param(0.05)/rmsprop(1e-4)", "adagrad(0.05)/sgd(1e-3)", "rmsprop(0.001)/sgd(1e-4)",
         "sgd(0.05)/sgd(1e-3)/sgd(1e-4)", "rmsprop(0.001)/adagrad(1e-4)/sgd(1e-5)",
         "adagrad(0.05)/sgd_per_param(1e-4)/adam(1e-6)", "adam(0.01)/adam(1e-4)/adam(1e-5)/sgd(1e-6)"]


@contextlib.contextmanager
def no_host_reads():
    """Every way a tensor's value reaches Python raises while inside."""
    def refuse(name):
        def method(self, *args, **kwargs):
            raise AssertionError(f"Tensor.{name} read a value back to the host during step()")
        return method
    names = ["item", "tolist", "__bool__", "__float__", "__int__", "numpy"]
    saved = {name: getattr(torch.Tensor, name) for name in names}
    try:
        for name in names:
            setattr(torch.Tensor, name, refuse(name))
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


def test_the_guard_catches_a_host_read():
    with pytest.raises(AssertionError, match="Tensor.item read a value back"):
        with no_host_reads():
            torch.ones(1).item()
    assert torch.ones(1).item() == 1.0


def test_default_host_false_puts_new_towers_on_the_tensor_path(monkeypatch):
    """The switch that conftest.py's ``tower_path`` fixture turns: new towers (and towers moved with ``to``) take
    the tensor path on the CPU, and a step then reads nothing back."""
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    assert HyperOptimizer(model.parameters(), "adam/sgd(1e-5)").towers[0].host is True
    monkeypatch.setattr(Tower, "default_host", False)
    opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    assert opt.towers[0].host is False and opt.towers[0].to("cpu").host is False
    for x, y in batches(3):
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        with no_host_reads():
            opt.step()
    assert opt.nonfinite() is None and len(opt.history()["step"]) == 3


@pytest.mark.parametrize("spec", SPECS)
def test_a_step_on_the_tensor_path_reads_nothing_back(spec):
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    extra = torch.nn.Parameter(torch.ones(3))  # never gets a gradient: the skip path too
    opt = HyperOptimizer(list(model.parameters()) + [extra], spec, hypergrad_clip=10.0, alpha_bounds=(0.0, 1.0))
    opt.towers[0].host = False
    sched = lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 4))
    for i, (x, y) in enumerate(batches(6)):
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        if i < 2:
            opt.step()
        else:
            with no_host_reads():
                opt.step()
        sched.step()
    assert opt.nonfinite() is None and len(opt.history()["step"]) == 6
    assert torch.equal(extra, torch.ones(3))


@pytest.mark.parametrize("spec", SPECS)
def test_both_paths_follow_the_same_trajectory_in_float64(spec):
    torch.set_default_dtype(torch.float64)
    try:
        data = batches(30)
        results = []
        for host in (True, False):
            torch.manual_seed(0)
            model = MLP(64, 16, 10)
            opt = HyperOptimizer(model.parameters(), spec)
            opt.towers[0].host = host
            for x, y in data:
                opt.zero_grad()
                F.nll_loss(model(x), y).backward()
                opt.step()
            assert opt.nonfinite() is None
            results.append((model, opt.history()))
    finally:
        torch.set_default_dtype(torch.float32)
    (m1, h1), (m2, h2) = results
    for p, q in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
    for column, values in h1.items():
        assert values == pytest.approx(h2[column], rel=1e-12, abs=1e-15), column
