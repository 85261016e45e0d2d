"""Precision: float16 and bfloat16 weights train as float32 ones do, with the learned hyperparameters, their arithmetic
and the guard's sums in float32 or wider; under ``torch.amp.GradScaler`` a skipped step moves nothing and the
hypergradients see unscaled gradients. Every test runs on both tower paths (see conftest.py's ``tower_path``)."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gdtuo_explore import HyperOptimizer
from oracle import MLP, batches

pytestmark = pytest.mark.usefixtures("tower_path")

SPECS = ["adam(1e-3)/sgd(1e-5)", "sgd(0.01)/sgd(0.01)",
         "adam(1e-3, hypergrad=auto)/sgd(1e-5)", "adamw(1e-3)/sgd(1e-5)"]   # the automatic path too
HALF = [torch.float16, torch.bfloat16]


def _train(spec, dtype, steps=200, device="cpu"):
    """The seed MLP of tests/test_reference.py in ``dtype``, trained ``steps`` steps; the loss is taken in float32.
    On a GPU every step after the second runs where a host sync is an error."""
    torch.manual_seed(0)
    model = MLP(64, 32, 10).to(device, dtype)
    opt = HyperOptimizer(model.parameters(), spec)
    losses = []
    for i, (x, y) in enumerate(batches(steps)):
        opt.zero_grad()
        loss = F.nll_loss(model(x.to(device, dtype)).float(), y.to(device))
        loss.backward()
        check = device == "cuda" and i >= 2  # after the first steps' allocations
        if check:
            torch.cuda.set_sync_debug_mode("error")
        try:
            opt.step()
        finally:
            if check:
                torch.cuda.set_sync_debug_mode("default")
        losses.append(loss.item())
    return opt, np.array(losses)


@pytest.fixture(scope="module")
def float32_runs():
    return {spec: _train(spec, torch.float32) for spec in SPECS}


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("spec", SPECS)
def test_half_precision_weights_train_as_float32_ones(float32_runs, spec, dtype):
    """200 steps: the learned hyperparameters follow float32's within 2% at every step, and the loss falls as in
    float32. (In float16, Adam's eps = 1e-8 is 0, which would refuse the first step; in bfloat16 an 8-bit mantissa
    would hold the hyperparameters: both are kept in float32.)"""
    opt, losses = _train(spec, dtype)
    ref_opt, ref_losses = float32_runs[spec]
    assert opt.nonfinite() is None
    assert opt.towers[0].store.dtype == torch.float32
    start = HyperOptimizer([torch.nn.Parameter(torch.zeros(1))], spec).hyperparameters()[0]["alpha"]
    ref_alpha = ref_opt.hyperparameters()[0]["alpha"]
    assert abs(ref_alpha - start) > 0.5 * start  # the step size really learned (in float32)
    history, ref_history = opt.history(), ref_opt.history()
    assert len(history["step"]) == 200
    for column in ref_opt.towers[0].columns():
        np.testing.assert_allclose(history[column], ref_history[column], rtol=0.02, err_msg=column)
    for level, ref_level in zip(opt.hyperparameters(), ref_opt.hyperparameters()):
        assert level == pytest.approx(ref_level, rel=0.02)
    assert losses[-20:].mean() < 0.7 * losses[:20].mean()
    assert losses[-20:].mean() == pytest.approx(ref_losses[-20:].mean(), rel=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("spec", SPECS)
def test_half_precision_weights_train_as_float32_ones_on_cuda(spec, dtype):
    """The same on a GPU (its float16 and bfloat16 kernels), against float32 on the GPU, with no host sync in
    ``step``."""
    opt, losses = _train(spec, dtype, device="cuda")
    ref_opt, ref_losses = _train(spec, torch.float32, device="cuda")
    assert opt.nonfinite() is None and ref_opt.nonfinite() is None
    assert opt.towers[0].store.dtype == torch.float32 and opt.towers[0].store.device.type == "cuda"
    history, ref_history = opt.history(), ref_opt.history()
    for column in ref_opt.towers[0].columns():
        np.testing.assert_allclose(history[column], ref_history[column], rtol=0.02, err_msg=column)
    assert losses[-20:].mean() < 0.7 * losses[:20].mean()


STATE_SPECS = ["adam/adam(1e-4)/sgd(1e-5)", "rmsprop/sgd(1e-4)", "adagrad/sgd", "sgd(0.01, mu=0.9)/sgd(1e-3)",
               "sgd_per_param(0.01)/sgd(1e-3)", "adam(learn=none)", "sgd(0.01, mu=0.9, learn=none)",
               "adamw/sgd(1e-5)", "lion/sgd(1e-6)", "sgd(0.01, mu=0.9, nesterov=True)/sgd(1e-3)",
               "adam(hypergrad=auto)/adam(1e-4, hypergrad=auto)/sgd(1e-5)"]


@pytest.mark.parametrize("dtype,wide", [(torch.float16, torch.float32), (torch.bfloat16, torch.float32),
                                        (torch.float32, torch.float32), (torch.float64, torch.float64)], ids=str)
@pytest.mark.parametrize("spec", STATE_SPECS)
def test_hyperparameters_and_running_statistics_are_float32_or_wider(spec, dtype, wide):
    """The store of learned hyperparameters and every level's running statistics (moments, accumulators,
    momentum) are float32 for half-precision weights, else in the weights' dtype; the weights keep theirs."""
    torch.manual_seed(0)
    weights = torch.nn.Parameter(torch.randn(50, dtype=dtype))
    opt = HyperOptimizer([weights], spec)
    for _ in range(3):
        opt.zero_grad()
        weights.grad = torch.randn(50, dtype=dtype)
        opt.step()
    tower = opt.towers[0]
    assert opt.nonfinite() is None and weights.dtype == dtype
    assert tower.store.dtype == wide
    checked = 0
    for floor in tower.floors:
        for key in floor.level.RUNNING:
            if key in floor.state:
                assert floor.state[key].dtype == wide, (floor.level.kind, key)
                checked += 1
    assert checked >= (0 if spec.startswith("sgd_per_param") else 1)
    assert all(np.isfinite(v) for level in opt.hyperparameters() for v in level.values())


def test_adams_eps_and_small_squares_are_kept_in_float16():
    """Exact zeros and gradients whose squares underflow in float16 (1e-5 squared is 0 there): float16 weights
    under a plain Adam move as float32 copies of them do under torch.optim.Adam, given the same gradients (to
    float16's rounding). (torch.optim.Adam on the float16 weights themselves would divide 0 by eps = 0.)"""
    g = torch.Generator().manual_seed(0)
    grads = [torch.cat([torch.zeros(10), torch.randn(10, generator=g) * 1e-5, torch.randn(10, generator=g)]).half()
             for _ in range(5)]
    ours = torch.nn.Parameter(torch.zeros(30, dtype=torch.float16))
    theirs = torch.nn.Parameter(torch.zeros(30))
    opt, ref = HyperOptimizer([ours], "adam(1e-3)"), torch.optim.Adam([theirs], lr=1e-3)
    for grad in grads:
        ours.grad, theirs.grad = grad.clone(), grad.float()
        opt.step()
        ref.step()
    assert opt.nonfinite() is None
    assert torch.equal(ours[:10], torch.zeros(10, dtype=torch.float16))  # no gradient: no move (not 0/0)
    assert theirs[10:20].abs().min() > 1e-4  # the tiny gradients moved the oracle's weights by about alpha
    torch.testing.assert_close(ours.float(), theirs.detach(), rtol=2e-3, atol=1e-5)


def test_the_guard_sums_a_float16_update_in_float32():
    """An update of 10000 tens sums to 1e5, beyond float16's largest number (65504): every entry is finite, so the
    step is taken."""
    weights = torch.nn.Parameter(torch.zeros(10000, dtype=torch.float16))
    opt = HyperOptimizer([weights], "sgd(1.0)/sgd(1e-9)")
    weights.grad = torch.full((10000,), 10.0, dtype=torch.float16)
    opt.step()
    assert opt.nonfinite() is None
    assert torch.equal(weights, torch.full((10000,), -10.0, dtype=torch.float16))


def _same(a, b) -> bool:
    """Whether two state dicts hold equal values (tensors, numbers, nested dicts and lists)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_same, a, b))
    return a == b


@pytest.mark.parametrize("autocast", HALF, ids=str)
def test_a_grad_scaler_skipped_step_moves_nothing(autocast):
    """CPU autocast with a GradScaler: at step 10 a gradient is infinite; the scaler skips the optimizer's step
    (and halves its scale): the weights, the hyperparameters and every level's state are as before. Training goes
    on, and the loss falls."""
    torch.manual_seed(0)
    model = MLP(64, 32, 10)
    opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    losses = []
    for i, (x, y) in enumerate(batches(40)):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=autocast):
            loss = F.nll_loss(model(x), y)
        scaler.scale(loss).backward()
        if i == 10:
            model.layer1.weight.grad[0, 0] = float("inf")
            state, weights, scale = copy.deepcopy(opt.state_dict()), copy.deepcopy(model.state_dict()), scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        if i == 10:
            assert scaler.get_scale() == scale / 2  # the scaler saw the inf and skipped the step
            assert _same(opt.state_dict(), state) and _same(model.state_dict(), weights)
        losses.append(loss.item())
    assert opt.nonfinite() is None and opt.towers[0].t == 39 and len(opt.history()["step"]) == 39
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_under_a_grad_scaler_the_hypergradients_see_unscaled_gradients():
    """GradScaler multiplies the loss by 2^14 and divides the gradients back before ``step`` (a power of two: no
    rounding), so the trajectory, hyperparameters included, is that of a run without it."""
    data = batches(30)
    runs = []
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=2.0 ** 14)):
        torch.manual_seed(0)
        model = MLP(64, 32, 10)
        opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
        for x, y in data:
            opt.zero_grad()
            loss = F.nll_loss(model(x), y)
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
        assert opt.nonfinite() is None
        runs.append((model, opt.history()))
    (m1, h1), (m2, h2) = runs
    assert abs(h1["level1.alpha"][-1] - 1e-3) > 1e-4  # the step size learned
    for column, values in h1.items():
        np.testing.assert_allclose(h2[column], values, rtol=1e-6, err_msg=column)
    for p, q in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("spec", ["adam(1e-3)/sgd(1e-5)", "sgd(0.01, mu=0.9)/sgd(1e-3)", "adamw/sgd(1e-5)"])
def test_a_checkpoint_with_half_precision_running_statistics_loads_in_float32(spec):
    """A checkpoint that holds the running statistics of bfloat16 weights in bfloat16 (torch.optim keeps them in
    the weights' dtype): loading it gives float32 statistics (the same values), and training goes on."""
    torch.manual_seed(0)
    model = MLP(64, 32, 10).to(torch.bfloat16)
    opt = HyperOptimizer(model.parameters(), spec)
    data = list(batches(6))
    for x, y in data[:3]:
        opt.zero_grad()
        F.nll_loss(model(x.to(torch.bfloat16)).float(), y).backward()
        opt.step()
    sd = opt.state_dict()
    old = copy.deepcopy(sd)
    found = 0
    for entry in old["state"].values():   # each parameter's share of the bottom level's state
        for key, value in entry.items():
            if value.dtype == torch.float32:
                entry[key] = value.to(torch.bfloat16)
                found += 1
    assert found >= 4
    fresh = HyperOptimizer(model.parameters(), spec)
    fresh.load_state_dict(old)
    for level in fresh.towers[0].floors:
        for key in level.level.RUNNING:
            if isinstance(level.state.get(key), torch.Tensor):
                assert level.state[key].dtype == torch.float32, key
    for x, y in data[3:]:
        fresh.zero_grad()
        F.nll_loss(model(x.to(torch.bfloat16)).float(), y).backward()
        fresh.step()
    assert fresh.nonfinite() is None
