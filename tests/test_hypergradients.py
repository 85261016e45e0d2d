"""Hypergradients: the closed forms against Baydin et al.'s rule, finite differences and autograd."""
import copy

import pytest
import torch

from gdtuo_explore import SGD, SGDPerParam, AdaGrad, Adam, HyperOptimizer, RMSProp
from gdtuo_explore.core.optimizers.base import scaled
from gdtuo_explore.core.tower import Tower
from oracle import least_squares as _problem

pytestmark = pytest.mark.usefixtures("tower_path")  # every test on both tower paths (see conftest.py)


@pytest.fixture(autouse=True)
def float64():
    """Finite differences need the precision."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def test_sgd_sgd_hypergradient_is_minus_g_t_dot_g_t_minus_1():
    w0, loss, grad = _problem()
    w = torch.nn.Parameter(w0.clone())
    kappa, alpha = 1e-3, 0.05
    opt = HyperOptimizer([w], SGD(alpha, optimizer=SGD(kappa)))
    grads, alphas = [], []
    for _ in range(6):
        opt.zero_grad()
        loss(w).backward()
        grads.append(w.grad.clone())
        opt.step()
        alphas.append(opt.hyperparameters()[0]["alpha"])
    expected = alpha
    for t in range(6):
        if t > 0:  # alpha_{t+1} = alpha_t - kappa * dL/dalpha, dL/dalpha = -g_t . g_{t-1}
            expected = expected + kappa * float(grads[t] @ grads[t - 1])
        assert alphas[t] == pytest.approx(expected, rel=1e-12)
    assert alphas[-1] != alpha


# (level, hyperparameter) pairs: every learnable hyperparameter of every optimizer
CASES = [
    (lambda: SGD(0.05, optimizer=SGD()), "alpha"),
    (lambda: SGD(0.05, mu=0.7, optimizer=SGD()), "alpha"),
    (lambda: SGD(0.05, mu=0.7, optimizer=SGD()), "mu"),
    (lambda: SGD(0.05, learn="alpha+mu", optimizer=SGD()), "mu"),
    (lambda: AdaGrad(0.05, optimizer=SGD()), "alpha"),
    (lambda: RMSProp(0.01, 0.9, optimizer=SGD()), "alpha"),
    (lambda: RMSProp(0.01, 0.9, optimizer=SGD()), "gamma"),
    (lambda: Adam(0.01, 0.8, 0.9, optimizer=SGD()), "alpha"),
    (lambda: Adam(0.01, 0.8, 0.9, optimizer=SGD()), "beta1"),
    (lambda: Adam(0.01, 0.8, 0.9, optimizer=SGD()), "beta2"),
    (lambda: Adam(0.01, 0.8, 0.9, optimizer=SGD(), learn="alpha"), "alpha"),
    (lambda: SGDPerParam(0.05, optimizer=SGD()), "param0_alpha"),
]


@pytest.mark.parametrize("make,name", CASES, ids=[f"{m().kind}-{n}-{i}" for i, (m, n) in enumerate(CASES)])
@pytest.mark.parametrize("t_before", [0, 3])
def test_hypergradient_matches_finite_difference(make, name, t_before):
    """dL(w_{t+1}(h))/dh by central differences equals the level's closed-form hypergradient, with the
    hyperparameters as Python floats (the CPU path) and as one-element tensors (the accelerator path)."""
    w0, loss, grad = _problem()
    tower = Tower(make(), [w0.numel()], ["param0"], w0)
    level, floor = tower.floors[0].level, tower.floors[0]
    w = w0.clone()
    for _ in range(t_before):  # advance the optimizer state with the hyperparameters fixed
        w = w - scaled(*level.update(floor.state, grad(w), tower._natural(floor), floor.learn))
    g = grad(w)
    hp = tower._natural(floor)

    def one_step_loss(value):
        state = copy.deepcopy(floor.state)
        h = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in hp.items()}
        h[name] = torch.tensor([value])
        return loss(w - scaled(*level.update(state, g, h, floor.learn))).item()

    h0 = float(hp[name])
    eps = 1e-6 * max(1.0, abs(h0))
    fd = (one_step_loss(h0 + eps) - one_step_loss(h0 - eps)) / (2 * eps)
    state = copy.deepcopy(floor.state)
    w_next = w - scaled(*level.update(state, g, hp, floor.learn))
    ours = float(level.hypergrad(state, grad(w_next), hp, floor.learn, tower.host)[name])
    assert ours == pytest.approx(fd, rel=1e-5, abs=1e-9)
    if t_before:
        assert abs(fd) > 1e-8  # the case really exercises the hyperparameter


@pytest.mark.parametrize("make,name", CASES[:11], ids=[f"{m().kind}-{n}-{i}" for i, (m, n) in enumerate(CASES[:11])])
def test_hypergradient_matches_autograd(make, name):
    """PyTorch itself as the oracle: differentiate the update with autograd, as the reference package does (the
    plain update, without a spare ``out``, is differentiable)."""
    w0, loss, grad = _problem(seed=1)
    tower = Tower(make(), [w0.numel()], ["param0"], w0)
    level, floor = tower.floors[0].level, tower.floors[0]
    w = w0.clone()
    for _ in range(2):
        w = w - scaled(*level.update(floor.state, grad(w), tower._natural(floor), floor.learn))
    g, hp = grad(w), tower._natural(floor)
    h_leaf = torch.tensor([float(hp[name])], requires_grad=True)
    state = copy.deepcopy(floor.state)
    with torch.enable_grad():  # the mode pytest runs in anyway: the update does not read it
        u = scaled(*level.update(copy.deepcopy(floor.state), g, {**hp, name: h_leaf}, floor.learn))
        w_next = w - u
        expected = torch.autograd.grad(loss(w_next), h_leaf)[0]
    w_next = w - scaled(*level.update(state, g, hp, floor.learn))
    ours = level.hypergrad(state, grad(w_next.detach()), hp, floor.learn, tower.host)[name]
    assert float(ours) == pytest.approx(float(expected), rel=1e-8, abs=1e-12)


@pytest.mark.parametrize("grad_mode", [True, False], ids=["grad_enabled", "no_grad"])
@pytest.mark.parametrize("spec", ["adam/sgd", "adam(learn=none)", "rmsprop/sgd", "adagrad/sgd", "sgd/sgd"])
def test_an_update_does_not_depend_on_the_autograd_mode(spec, grad_mode):
    """The caller chooses: a spare ``out`` is used (Adam computes its direction into it) in either autograd mode,
    and the update's numbers are those of the plain, differentiable one without it."""
    w0, loss, grad = _problem(seed=2)
    towers = [Tower(spec, [w0.numel()], ["param0"], w0) for _ in range(2)]
    w, spare = w0.clone(), torch.empty_like(w0)
    for t in range(4):
        g = grad(w)
        plain_floor, spare_floor = towers[0].floors[0], towers[1].floors[0]
        hp = towers[0]._natural(plain_floor)
        d0, a0 = plain_floor.level.update(plain_floor.state, g, hp, plain_floor.learn)
        with torch.set_grad_enabled(grad_mode):
            d1, a1 = spare_floor.level.update(spare_floor.state, g, hp, spare_floor.learn, spare)
        if spec.startswith("adam"):
            assert d1.data_ptr() == spare.data_ptr()  # the spare buffer was used, whatever the mode
        assert torch.equal(scaled(d0, a0), scaled(d1, a1))
        w = w - scaled(d0, a0)


@pytest.mark.parametrize("few,slice_", [(0, 3), (0, 2 ** 20), (16, 2 ** 20)],
                         ids=["tensors-in-slices", "tensors-one-slice", "python-sums"])
def test_adams_hypergradient_is_the_same_summed_in_slices_at_once_or_in_python(monkeypatch, few, slice_):
    """Adam's betas' hypergradient sums over the target in one of three ways (in slices, at once, or in Python
    for a few entries on the host); each gives the autograd-checked value of the one-slice tensor path."""
    from gdtuo_explore.core.optimizers import adam as adam_module

    def hypergrads():
        w0, _, grad = _problem(seed=2)
        tower = Tower(Adam(0.05, optimizer=SGD(1e-4)), [w0.numel()], ["param0"], w0)
        level, floor = tower.floors[0].level, tower.floors[0]
        w = w0.clone()
        for _ in range(3):
            w = w - scaled(*level.update(floor.state, grad(w), tower._natural(floor), floor.learn))
        return level.hypergrad(floor.state, grad(w), tower._natural(floor), floor.learn, tower.host)

    monkeypatch.setattr(adam_module, "FEW", 0)
    expected = {k: float(x) for k, x in hypergrads().items()}
    monkeypatch.setattr(adam_module, "FEW", few)
    monkeypatch.setattr(adam_module, "SLICE", slice_)
    got = {k: float(x) for k, x in hypergrads().items()}
    assert set(got) == {"alpha", "beta1", "beta2"}
    assert all(abs(x) > 1e-12 for x in expected.values())  # each hyperparameter really moves
    for k in expected:
        assert got[k] == pytest.approx(expected[k], rel=1e-12, abs=1e-15), k


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("n", [1, 7, 101_770])
def test_scratch_rows_start_on_cache_lines(dtype, n):
    """Each row of Adam's scratch starts 64 bytes apart (a BLAS dot product is several times slower on a vector
    that does not start on a 32-byte boundary), and holds at least n entries."""
    from gdtuo_explore.core.optimizers.base import ALIGN, scratch_rows

    rows = scratch_rows(2, n, torch.empty(0, dtype=dtype))
    assert rows.dtype == dtype and rows.shape[0] == 2 and rows.shape[1] >= n
    assert all(row[:n].data_ptr() % ALIGN == 0 for row in rows)
