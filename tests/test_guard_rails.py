"""Guard rails: bad arguments, non-finite steps, hypergradient clipping and step-size bounds."""
import math

import pytest
import torch
import torch.nn.functional as F

from gdtuo_explore import SGD, SGDPerParam, Adam, AdaGrad, HyperOptimizer, RMSProp, gdtuo
from oracle import MLP, batches

pytestmark = pytest.mark.usefixtures("tower_path")  # every test on both tower paths (see conftest.py)


@pytest.mark.parametrize("make,fragments", [
    (lambda: SGD(-0.1), ["alpha=-0.1", "sgd", ">= 0"]),
    (lambda: SGD(float("nan")), ["alpha=nan", "a finite number >= 0"]),
    (lambda: SGD(float("inf")), ["alpha=inf"]),
    (lambda: SGD(0.1, mu=1.0), ["mu=1.0", "[0, 1)"]),
    (lambda: SGD(0.1, mu=-0.5), ["mu=-0.5"]),
    (lambda: SGD("0.1"), ["alpha='0.1'"]),
    (lambda: Adam(beta1=0.0), ["beta1=0.0", "open interval (0, 1)"]),
    (lambda: Adam(beta2=1.5), ["beta2=1.5", "open interval (0, 1)"]),
    (lambda: Adam(log_eps=float("nan")), ["log_eps=nan"]),
    (lambda: RMSProp(gamma=1.0), ["gamma=1.0", "open interval (0, 1)"]),
    (lambda: RMSProp(alpha=-1), ["alpha=-1"]),
    (lambda: AdaGrad(alpha=-1e-3), ["alpha=-0.001"]),
    (lambda: Adam(learn="gamma"), ["learn names 'gamma'", "alpha, beta1, beta2"]),
    (lambda: SGD(learn=["alpha", "beta1"]), ["learn names 'beta1'", "alpha, mu"]),
    (lambda: SGDPerParam([("w", -1.0)]), ["alpha=-1.0"]),
])
def test_bad_hyperparameters(make, fragments):
    with pytest.raises(ValueError) as err:
        make()
    for fragment in fragments:
        assert fragment in str(err.value)


@pytest.mark.parametrize("kwargs,fragments", [
    (dict(hypergrad_clip=0), ["hypergrad_clip=0", "> 0"]),
    (dict(hypergrad_clip=float("inf")), ["hypergrad_clip=inf"]),
    (dict(alpha_bounds=(1.0, 0.1)), ["alpha_bounds=(1.0, 0.1)", "low < high"]),
    (dict(alpha_bounds=(0.1,)), ["alpha_bounds=(0.1,)"]),
    (dict(tower="adam/sgd(-1)"), ["alpha=-1.0"]),
    (dict(tower=42), ["non-empty string"]),
])
def test_bad_optimizer_arguments(kwargs, fragments):
    model = MLP(4, 3, 2)
    kwargs = {"tower": "adam/sgd(1e-5)", **kwargs}
    with pytest.raises(ValueError) as err:
        HyperOptimizer(model.parameters(), kwargs.pop("tower"), **kwargs)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_bad_parameters():
    with pytest.raises(ValueError, match="floating-point"):
        HyperOptimizer([torch.zeros(3, dtype=torch.long)], "sgd")
    with pytest.raises(ValueError, match="one device and dtype"):
        HyperOptimizer([torch.zeros(3, requires_grad=True), torch.zeros(3, dtype=torch.float64, requires_grad=True)],
                       "sgd")
    with pytest.raises(TypeError, match="optimizer level"):
        SGD(optimizer="sgd")
    with pytest.raises(ValueError, match="sgd_per_param has no step size for layer1.bias"):
        gdtuo.ModuleWrapper(MLP(4, 3, 2), gdtuo.SGDPerParam([("layer1.weight", 0.1)]))


def _train(opt, model, data, poison_at=None):
    losses = []
    for i, (x, y) in enumerate(data):
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        if i == poison_at:
            loss = loss * float("nan")
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_non_finite_loss_is_never_written_into_the_weights():
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    data = batches(12)
    _train(opt, model, data[:5])
    assert opt.nonfinite() is None
    before = [p.clone() for p in model.parameters()]
    hyper_before = opt.hyperparameters()
    _train(opt, model, data[5:], poison_at=0)
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q) and torch.isfinite(p).all()
    assert opt.hyperparameters() == hyper_before
    report = opt.nonfinite()
    assert (report.step, report.kind, report.values) == (6, "gradient", ())
    assert str(report) == report.message == ("step 6: non-finite the loss or the gradient; the step was refused and "
                                             "the weights and hyperparameters kept their last finite values")


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("spec", ["sgd/sgd(1e-5)", "sgd_per_param/sgd(1e-5)", "sgd(0.1, learn=none)", "adam/sgd(1e-5)"])
def test_a_non_finite_gradient_entry_is_refused_where_the_last_one_was_zero(spec, bad):
    """Where the direction is the gradient itself, the guard takes a finite hypergradient (a dot product with the
    gradient) as proof that the gradient is finite; inf * 0 is nan, so a bad entry beside a zero is caught too."""
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    opt = HyperOptimizer(model.parameters(), spec)
    weight = next(model.parameters())
    for i, (x, y) in enumerate(batches(4)):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if i == 2:
            weight.grad.view(-1)[0] = 0.0
        if i == 3:
            weight.grad.view(-1)[0] = bad
            before = [p.clone() for p in model.parameters()]
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    report = opt.nonfinite()
    assert (report.step, report.kind) == (4, "gradient")


def test_diverging_hyperparameter_is_reported_by_name():
    """A top step of 1e39 overflows float32: Adam's alpha becomes infinite; its fixed betas are not named. Both
    the CPU path (hyperparameters read as floats) and the accelerator path (one-element tensors) refuse the step."""
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    opt = HyperOptimizer(model.parameters(), "adam(0.1, learn=alpha)/sgd(1e39)")
    _train(opt, model, batches(10))
    report = opt.nonfinite()
    assert report is not None and (report.kind, report.values) == ("hyperparameter", ("level1.alpha",))
    assert f"step {report.step}: non-finite level1.alpha; the step was refused" in report.message
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(math.isfinite(v) for v in opt.hyperparameters()[0].values())
    h = opt.history()
    assert len(h["step"]) == report.step and not h["ok"][-1] and h["ok"][:-1].all() and h["gradient_ok"].all()


def test_hypergradient_clipping_limits_each_move():
    data = batches(15)
    alphas = {}
    for clip in (None, 1e-3):
        torch.manual_seed(0)
        model = MLP(64, 16, 10)
        opt = HyperOptimizer(model.parameters(), "sgd(0.05)/sgd(0.1)", hypergrad_clip=clip)
        _train(opt, model, data)
        alphas[clip] = opt.history()["level1.alpha"]
    steps = abs(alphas[1e-3][1:] - alphas[1e-3][:-1])
    assert steps.max() <= 0.1 * 1e-3 + 1e-8  # float32 rounding of alpha ~ 0.05
    assert abs(alphas[None][1:] - alphas[None][:-1]).max() > 0.1 * 1e-3  # unclipped moves more


@pytest.mark.parametrize("spec", ["sgd(0.05)/sgd(0.1)", "rmsprop(0.001)/sgd(0.01)", "adam(0.001)/sgd(0.01)"])
def test_step_size_bounds(spec):
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    opt = HyperOptimizer(model.parameters(), spec, alpha_bounds=(1e-4, 2e-3))
    _train(opt, model, batches(15))
    a = opt.history()["level1.alpha"]
    assert a[1:].min() >= 1e-4 * (1 - 1e-6) and a[1:].max() <= 2e-3 * (1 + 1e-6)
