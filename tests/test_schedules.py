"""Learning-rate schedules compose with a tower: every group's ``lr`` (default 1.0) multiplies the weights' update,
and the hypergradients are exactly those of the update as applied."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

from gdtuo_explore import HyperOptimizer
from gdtuo_explore.core.optimizers.base import scaled
from gdtuo_explore.core.tower import Tower
from oracle import MLP, batches

pytestmark = pytest.mark.usefixtures("tower_path")  # every test on both tower paths (see conftest.py)


def _problem(seed=0, n=7):
    """loss(w) = mean((X w - y)^2) + 0.1 sum(w^4), in float64."""
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(20, n, generator=g, dtype=torch.float64), torch.randn(20, generator=g, dtype=torch.float64)

    def loss(w):
        return ((X @ w - y) ** 2).mean() + 0.1 * (w ** 4).sum()

    def grad(w):
        w = w.detach().requires_grad_()
        return torch.autograd.grad(loss(w), w)[0]

    return torch.randn(n, generator=g, dtype=torch.float64) * 0.5, loss, grad


CASES = [("sgd(0.05)/sgd(1e-3)", "alpha"), ("sgd(0.05, mu=0.7)/sgd(1e-3)", "alpha"),
         ("sgd(0.05, mu=0.7)/sgd(1e-3)", "mu"), ("adagrad(0.05)/sgd(1e-3)", "alpha"),
         ("adam(0.01)/sgd(1e-3)", "alpha"), ("adam(0.01, learn=alpha)/sgd(1e-3)", "alpha"),
         ("sgd_per_param(0.05)/sgd(1e-3)", "param0_alpha")]


@pytest.mark.parametrize("spec,name", CASES, ids=[f"{s}-{n}" for s, n in CASES])
def test_the_hypergradient_is_that_of_the_scaled_update(spec, name):
    """A top SGD(kappa) moves h by -kappa dL/dh: the move after a step taken with multiplier lr matches the
    central difference of L(w - lr u(h)) in h."""
    w, loss, grad = _problem()
    tower = Tower(spec, [w.numel()], ["param0"], w)
    floor, kappa = tower.floors[0], 1e-3
    lrs = [1.0, 0.5, 0.3, 2.0, 0.7]
    for t, lr in enumerate(lrs):
        g = grad(w)
        if t == len(lrs) - 2:  # the step whose hypergradient is checked
            state, w_t, g_t, lr_t = copy.deepcopy(floor.state), w.clone(), g, lr
        if t == len(lrs) - 1:  # the values that step used (each step moves the hyperparameters first)
            hp = dict(tower.values()[0])
            before = hp[name]
        w = w - scaled(*tower.step(g, lr=lr))
    moved = (before - tower.values()[0][name]) / kappa  # = dL/dh, for an identity-stored h

    def one_step_loss(value):
        h = {**hp, name: value}
        return float(loss(w_t - lr_t * scaled(*floor.level.update(copy.deepcopy(state), g_t, h, floor.learn))))

    eps = 1e-6 * max(1.0, abs(hp[name]))
    fd = (one_step_loss(hp[name] + eps) - one_step_loss(hp[name] - eps)) / (2 * eps)
    assert abs(fd) > 1e-6  # the case exercises the hyperparameter
    assert moved == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("spec,make_torch", [
    ("sgd(0.1, learn=none)", lambda p: torch.optim.SGD(p, lr=0.1)),
    ("sgd(0.05, mu=0.9, learn=none)", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("adam(0.01, learn=none)", lambda p: torch.optim.Adam(p, lr=0.01)),
])
@pytest.mark.parametrize("schedule", [
    lambda o: lr_scheduler.StepLR(o, step_size=5, gamma=0.5),
    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10),
    lambda o: lr_scheduler.LambdaLR(o, lambda step: min(1.0, (step + 1) / 8)),  # warmup
], ids=["StepLR", "CosineAnnealingLR", "LambdaLR-warmup"])
def test_a_schedule_multiplies_the_step_as_in_torch_optim(spec, make_torch, schedule):
    """A tower with fixed hyperparameters under a schedule moves the weights as torch.optim does under it."""
    models, lrs = [], []
    for make in (lambda p: HyperOptimizer(p, spec), make_torch):
        torch.manual_seed(0)
        model = MLP(64, 16, 10)
        opt = make(model.parameters())
        sched = schedule(opt)
        seen = []
        for x, y in batches(20):
            opt.zero_grad()
            F.nll_loss(model(x), y).backward()
            opt.step()
            sched.step()
            seen.append(opt.param_groups[0]["lr"])
        models.append(model)
        lrs.append(seen)
    base = make_torch([torch.zeros(1, requires_grad=True)]).param_groups[0]["lr"]
    assert lrs[0] == pytest.approx([lr / base for lr in lrs[1]])  # ours: the multiplier, from 1.0
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_a_learned_step_size_under_warmup():
    """Adam/SGD under a linear warmup: the first steps are scaled down, and the hyperparameters still learn."""
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    sched = lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 10))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    losses = []
    for x, y in batches(30):
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert opt.param_groups[0]["lr"] == 1.0 and opt.nonfinite() is None
    assert opt.hyperparameters()[0]["alpha"] != pytest.approx(1e-3, rel=1e-3)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("lr", [-0.1, float("nan"), float("inf"), "1", None])
def test_a_bad_lr_is_named(lr):
    with pytest.raises(ValueError, match=r"lr=.* is invalid: it must be a finite number >= 0"):
        HyperOptimizer(MLP(4, 3, 2).parameters(), "adam/sgd(1e-5)", lr=lr)
    with pytest.raises(ValueError, match=r"lr=.* is invalid"):
        HyperOptimizer([{"params": MLP(4, 3, 2).parameters(), "lr": lr}], "adam/sgd(1e-5)")
