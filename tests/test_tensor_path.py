"""The accelerator path (hyperparameters as tensors, never read back to the host), run on the CPU: it reads no value
back during a step, and it follows the same trajectory as the CPU's float path."""
import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

from gdtuo_explore import HyperOptimizer
from oracle import MLP, batches

SPECS = ["adam/sgd(1e-5)", "adam(learn=alpha)/sgd(1e-5)", "adam", "sgd(0.05)/sgd(1e-3)", "sgd(0.05, mu=0.5)/sgd(1e-3)",
         "sgd(0.05, learn=alpha+mu)/adam(1e-4)", "sgd_per_param(0.05)/sgd(1e-3)", "adagrad(0.05)/sgd(1e-3)",
         "rmsprop(0.001)/sgd(1e-4)", "adam(0.01)/adam(1e-4)/adam(1e-5)/sgd(1e-6)"]


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
