"""The reference package's extension API: an optimizer written as an ``Optimizable`` subclass (a dict of
hyperparameter tensors, a ``step(params)`` in torch ops) runs unchanged on ``gdtuo.Optimizable`` and gives the
reference package's numbers, at the bottom of a tower, under and over built-in levels, and over another such class.
The optimizers below are not in the reference package; each test defines them once per package's base class."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from gradient_descent_the_ultimate_optimizer import gdtuo as ref  # a dev extra: without it this file fails

from gdtuo_explore import HyperOptimizer
from gdtuo_explore import gdtuo as ours
from oracle import MLP, batches, run_wrapper


def nesterov(m):
    """SGD with Nesterov momentum (torch's convention: the first buffer is g), alpha and mu learnable, on
    package ``m``'s ``Optimizable``."""

    class Nesterov(m.Optimizable):
        def __init__(self, alpha=0.01, mu=0.9, optimizer=m.NoOpOptimizer()):
            self.state = {}
            super().__init__({"alpha": torch.tensor(alpha), "mu": torch.tensor(mu)}, optimizer)

        def step(self, params):
            self.optimizer.step(self.parameters)
            alpha, mu = self.parameters["alpha"], self.parameters["mu"]
            for name, param in params.items():
                g = param.grad.detach()
                buf = g if name not in self.state else self.state[name].detach() * mu + g
                self.state[name] = buf
                params[name] = param.detach() - alpha * (g + mu * buf)

    return Nesterov


def sign_sgd(m):
    """Sign-SGD (signSGD, Bernstein et al. 2018), its step size learnable, on package ``m``'s ``Optimizable``."""

    class SignSGD(m.Optimizable):
        def __init__(self, alpha=0.01, optimizer=m.NoOpOptimizer()):
            super().__init__({"alpha": torch.tensor(alpha)}, optimizer)

        def step(self, params):
            self.optimizer.step(self.parameters)
            for name, param in params.items():
                params[name] = param.detach() - self.parameters["alpha"] * torch.sign(param.grad.detach())

    return SignSGD


def sgdw(m):
    """SGD with decoupled weight decay (its step needs the weights' values), alpha and weight_decay learnable, on
    package ``m``'s ``Optimizable``."""

    class SGDW(m.Optimizable):
        def __init__(self, alpha=0.01, weight_decay=0.01, optimizer=m.NoOpOptimizer()):
            super().__init__({"alpha": torch.tensor(alpha), "weight_decay": torch.tensor(weight_decay)}, optimizer)

        def step(self, params):
            self.optimizer.step(self.parameters)
            alpha, wd = self.parameters["alpha"], self.parameters["weight_decay"]
            for name, param in params.items():
                params[name] = param.detach() * (1.0 - alpha * wd) - alpha * param.grad.detach()

    return SGDW


STACKS = {  # bottom level first
    "nesterov": lambda m: nesterov(m)(0.01, 0.9),
    "nesterov/sgd(1e-5)": lambda m: nesterov(m)(0.01, 0.9, optimizer=m.SGD(1e-5)),
    "sgd/nesterov": lambda m: m.SGD(0.05, optimizer=nesterov(m)(1e-3, 0.5)),
    "sign": lambda m: sign_sgd(m)(0.003),
    "sign/sgd(1e-5)": lambda m: sign_sgd(m)(0.003, optimizer=m.SGD(1e-5)),
    "sgd/sign": lambda m: m.SGD(0.05, optimizer=sign_sgd(m)(1e-4)),
    # (not sign over Adam: Adam's first beta1 hypergradient is 0 in exact arithmetic, and the sign of the
    # reference's round-off there moves beta1 by a whole step)
    "adam/nesterov": lambda m: m.Adam(0.01, optimizer=nesterov(m)(1e-5, 0.5)),
    "nesterov/sign": lambda m: nesterov(m)(0.01, 0.9, optimizer=sign_sgd(m)(1e-4)),
    "sgdw(0.2, 0.05)/sgd(1e-3)": lambda m: sgdw(m)(0.2, 0.05, optimizer=m.SGD(1e-3)),
    "sgd/nesterov/sgd": lambda m: m.SGD(0.05, optimizer=nesterov(m)(1e-3, 0.5, optimizer=m.SGD(1e-5))),
}


@pytest.fixture
def float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _setup():
    torch.manual_seed(0)
    return MLP(64, 32, 10), batches(100)


def _alphas(level):
    """Every level's alpha, bottom first: the reference's raw ``parameters["alpha"]`` (natural for these levels)."""
    out = []
    while level is not None and not isinstance(level, ref.NoOpOptimizer):
        out.append(float(level.parameters["alpha"].detach()))
        level = level.optimizer
    return out


@pytest.mark.parametrize("create_graph", [True, False], ids=["create_graph", "plain_backward"])
@pytest.mark.parametrize("name", list(STACKS))
def test_same_numbers_as_the_reference(float64, name, create_graph):
    model, data = _setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's create_graph=True reference-cycle warning
        expected, ref_mw = run_wrapper(ref, STACKS[name], model, data)  # its README loop
        losses, mw = run_wrapper(ours, STACKS[name], model, data, create_graph=create_graph)
    assert len(losses) == len(expected) == 100
    for step, (a, b) in enumerate(zip(losses, expected)):
        assert a == pytest.approx(b, rel=1e-10), f"{name}: step {step} loss {a} vs reference {b}"
    assert expected[-1] < 0.8 * expected[0]  # the oracle really trained
    ref_alphas = _alphas(ref_mw.optimizer)
    our_alphas = [level["alpha"] for level in mw.hyperparameters()]
    assert our_alphas == pytest.approx(ref_alphas, rel=1e-10)
    if isinstance(ref_mw.optimizer, ref.Optimizable) and type(ref_mw.optimizer).__module__ == __name__:  # a user class
        expected_hp = {k: float(v.detach()) for k, v in ref_mw.optimizer.parameters.items()}  # stored as given
        assert mw.hyperparameters()[0] == pytest.approx(expected_hp, rel=1e-10)
    start = _alphas(STACKS[name](ref))
    if len(start) > 1:  # a level above learned the bottom level's step size
        assert abs(ref_alphas[0] - start[0]) > 1e-6 * abs(start[0])
    for p in mw.module.parameters():  # ours left leaf Parameters with no graph behind
        assert p.is_leaf and p.grad_fn is None


def _train(make_opt, host=True, steps=30):
    model, data = _setup()
    opt = make_opt(model)
    opt.towers[0].host = host
    losses = []
    for x, y in data[:steps]:
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, opt


@pytest.mark.parametrize("name", ["nesterov/sgd(1e-5)", "sgd/nesterov/sgd"])
def test_hyperoptimizer_floats_and_tensors_paths_agree(float64, name):
    """Through HyperOptimizer: the CPU path (hyperparameters as Python floats) and the accelerator path (one-element
    tensors, nothing read back) follow the same trajectory."""
    runs = [_train(lambda model: HyperOptimizer(model.named_parameters(), STACKS[name](ours)), host)
            for host in (True, False)]
    (l1, o1), (l2, o2) = runs
    assert l1 == pytest.approx(l2, rel=1e-12)
    assert o1.history()["level1.alpha"] == pytest.approx(o2.history()["level1.alpha"], rel=1e-12)
    assert o1.history()["level1.alpha"][-1] != o1.history()["level1.alpha"][0]


def test_one_level_object_serves_two_towers(float64):
    """Each tower steps its own copy: reusing a level object gives the first run's numbers again, and the object
    keeps its starting state."""
    level = STACKS["nesterov/sgd(1e-5)"](ours)
    first, _ = _train(lambda model: HyperOptimizer(model.parameters(), level))
    second, _ = _train(lambda model: HyperOptimizer(model.parameters(), level))
    assert first == second
    assert level.state == {}


# -- bad input ---------------------------------------------------------------------------------------------------
def _cut_off(how):
    """A class with hyperparameters alpha and beta whose step uses beta as ``how`` says."""

    class CutOff(ours.Optimizable):
        def __init__(self, optimizer=ours.NoOpOptimizer(), learn=None):
            super().__init__({"alpha": torch.tensor(0.01), "beta": torch.tensor(0.5)}, optimizer, learn=learn)

        def step(self, params):
            self.optimizer.step(self.parameters)
            beta = self.parameters["beta"]
            scale = {"unused": 1.0, "item": 1.0 + 0.0 * beta.item(), "detach": beta.detach() * 2.0}[how]
            for name, param in params.items():
                params[name] = param.detach() - self.parameters["alpha"] * scale * param.grad.detach()

    return CutOff


def _wrapper_steps(level, steps=3):
    torch.manual_seed(0)
    model = MLP(64, 8, 10)
    mw = ours.ModuleWrapper(model, optimizer=level)
    done = 0
    for x, y in batches(steps):
        mw.begin()
        loss = F.nll_loss(mw.forward(x), y)
        mw.zero_grad()
        loss.backward()
        mw.step()
        done += 1
    return done


@pytest.mark.parametrize("how", ["unused", "item", "detach"])
def test_a_learned_hyperparameter_the_step_does_not_use_is_an_error_at_the_first_step(how):
    steps = []
    with pytest.raises(ValueError, match=r"CutOff\.step does not use its hyperparameter 'beta'"):
        steps.append(_wrapper_steps(_cut_off(how)(optimizer=ours.SGD(1e-5))))
    assert steps == []  # raised within the first step
    # fine where beta does not learn: at the top of a tower, or left out of learn=
    assert _wrapper_steps(_cut_off(how)()) == 3
    assert _wrapper_steps(_cut_off(how)(optimizer=ours.SGD(1e-5), learn="alpha")) == 3


class _Plain(ours.Optimizable):
    def __init__(self, parameters, optimizer=None, learn=None):
        super().__init__(parameters, optimizer, learn=learn)

    def step(self, params):
        for name, param in params.items():
            params[name] = param.detach() - self.parameters["alpha"] * param.grad.detach()


@pytest.mark.parametrize("parameters,learn,message", [
    ({}, None, "_Plain: parameters={} is invalid: it must be a non-empty dict"),
    ([("alpha", 0.1)], None, "_Plain: parameters=.* is invalid: it must be a non-empty dict"),
    ({"alpha": torch.ones(3)}, None, r"_Plain: the hyperparameter 'alpha' has shape \(3,\)"),
    ({"alpha": torch.tensor(float("nan"))}, None, "alpha=nan is invalid for _Plain: must be a finite number"),
    ({"alpha": "0.1"}, None, "alpha='0.1' is invalid for _Plain: must be a finite number"),
    ({1: 0.1}, None, "_Plain: the hyperparameter name 1 is invalid: it must be a string"),
    ({"alpha": 0.1}, "gamma", "learn names 'gamma', which _Plain cannot learn; _Plain's learnable hyperparameters "
                              "are alpha"),
], ids=["empty", "list", "vector", "nan", "string", "name", "learn"])
def test_bad_construction_names_the_value(parameters, learn, message):
    with pytest.raises(ValueError, match=message):
        _Plain(parameters, learn=learn)


def test_a_step_that_does_not_replace_a_parameter_is_an_error():
    class Forgets(ours.Optimizable):
        def __init__(self):
            super().__init__({"alpha": 0.1}, None)

        def step(self, params):
            params["layer1.weight"] = 0.0

    with pytest.raises(ValueError, match=r"Forgets\.step left params\['layer1.weight'\] as 'float'; it must be "
                                         r"replaced by the new value, a tensor of 512 numbers"):
        _wrapper_steps(Forgets())
