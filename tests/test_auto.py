"""Automatic hypergradients (optimizers/auto.py): the closed forms against the automatic path, the levels written only
as their update (AdamW, Nesterov SGD, Lion) against torch.optim / lion-pytorch and finite differences, registering
a level of one's own, and the refusal of a learned hyperparameter that the update does not use."""
import copy
import gc

import pytest
import torch
import torch.nn.functional as F

from gdtuo_explore import HyperOptimizer, parse_tower
from gdtuo_explore.core.hyperparams import Hyper
from gdtuo_explore.core.optimizers import KINDS, AdamW, Automatic, AutoLevel, Lion, register
from gdtuo_explore.core.optimizers.base import scaled
from gdtuo_explore.core.spec import parse_level
from gdtuo_explore.core.tower import Tower
from oracle import MLP, batches, least_squares as _problem, train_tower as _train


@pytest.fixture(autouse=True)
def float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _auto(spec: str) -> str:
    """The same tower with every level on the automatic path: ``sgd(0.05)`` -> ``sgd(0.05, hypergrad=auto)``."""
    texts = [level.level_spec() for level in parse_tower(spec).levels()]
    return "/".join(f"{t[:-1]}, hypergrad=auto)" if t.endswith(")") else f"{t}(hypergrad=auto)" for t in texts)


# every built-in level kind: (its level at the bottom, the same kind as a level above)
BUILT_IN = [
    ("sgd(0.05)", "sgd(1e-4)"),
    ("sgd(0.05, mu=0.5)", "sgd(1e-6, mu=0.2)"),
    ("sgd(0.05, learn=alpha+mu)", "sgd(1e-4, learn=alpha+mu)"),
    ("sgd_per_param(0.05)", "sgd_per_param(1e-4)"),
    ("adagrad(0.1)", "adagrad(1e-3)"),
    ("rmsprop(0.01)", "rmsprop(1e-3)"),
    ("rmsprop(0.01, learn=alpha)", "rmsprop(1e-3, learn=alpha)"),
    ("adam(0.01)", "adam(1e-3)"),
    ("adam(0.01, learn=alpha)", "adam(1e-3, learn=alpha)"),
]


@pytest.mark.parametrize("height", [1, 2, 3])
@pytest.mark.parametrize("bottom,upper", BUILT_IN, ids=[b for b, _ in BUILT_IN])
def test_the_automatic_path_gives_the_closed_forms_numbers(bottom, upper, height):
    """Towers up to height 3 of every built-in level: the closed forms and autograd through the same updates give
    the same losses and hyperparameters, step for step (float64, 100 steps)."""
    spec = "/".join([bottom] + [upper] * height)
    auto = _auto(spec)
    assert all(level.automatic for level in parse_tower(auto).levels())
    assert not any(level.automatic for level in parse_tower(spec).levels())
    closed_losses, closed, _ = _train(spec, 100)
    auto_losses, automatic, tower = _train(auto, 100)
    assert tower.nonfinite() is None
    assert auto_losses == pytest.approx(closed_losses, rel=1e-10, abs=1e-14)
    for column, values in closed.items():
        assert automatic[column] == pytest.approx(values, rel=1e-10, abs=1e-14), column
    learned = closed[f"level1.{tower.floors[0].learn[0]}"]
    assert abs(learned[-1] - learned[0]) > 1e-6 * abs(learned[0])  # the hyperparameter really learned


@pytest.mark.parametrize("spec", ["adam(0.01, hypergrad=auto)/sgd(1e-4)", "sgd(0.05, mu=0.9, nesterov=true)/sgd(1e-4)",
                                  "adamw(0.01, weight_decay=0.1)/adam(1e-3)", "lion(1e-3, weight_decay=0.1)/sgd(1e-5)",
                                  "sgd_per_param(0.05, hypergrad=auto)/adagrad(1e-3, hypergrad=auto)"])
def test_the_cpu_float_path_follows_the_accelerator_tensor_path(spec):
    """``Tower.host`` True (hyperparameters as Python floats, hypergradients read back) and False (0-d tensors,
    nothing read back) train the same way on the automatic path."""
    floats, tensors = _train(spec, 60, host=True), _train(spec, 60, host=False)
    assert tensors[0] == pytest.approx(floats[0], rel=1e-10)
    for column, values in floats[1].items():
        assert tensors[1][column] == pytest.approx(values, rel=1e-10, abs=1e-14), column


def _torch_run(make, steps=40):
    """The oracle MLP on the digits in float64 with ``make(params)``; returns the final parameters."""
    torch.manual_seed(0)
    model, data = MLP(64, 32, 10), batches(steps)
    opt = make(model.parameters())
    for x, y in data:
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()
    return list(model.parameters())


@pytest.mark.parametrize("spec,reference", [
    ("adamw(0.01, weight_decay=0.1)", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
    ("adamw(0.005, beta1=0.8, beta2=0.99, weight_decay=0.5, learn=none)/sgd(1e-3)",
     lambda p: torch.optim.AdamW(p, lr=0.005, betas=(0.8, 0.99), weight_decay=0.5)),
    ("sgd(0.05, mu=0.9, nesterov=true)", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd(0.05, mu=0.5, nesterov=true, learn=none)/sgd(1e-3)",
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5, nesterov=True)),
    ("lion(1e-3, weight_decay=0.5)", lambda p: __import__("lion_pytorch").Lion(p, lr=1e-3, weight_decay=0.5)),
    ("lion(3e-4, beta1=0.8, beta2=0.9)", lambda p: __import__("lion_pytorch").Lion(p, lr=3e-4, betas=(0.8, 0.9))),
])
def test_frozen_levels_are_the_published_optimizers_step_for_step(spec, reference):
    """AdamW = torch.optim.AdamW, Nesterov SGD = torch.optim.SGD(nesterov=True) (whose first buffer is g), Lion =
    lion_pytorch.Lion (a dev dependency), with nothing learning (float64, 40 steps)."""
    ours = _torch_run(lambda p: HyperOptimizer(p, spec))
    theirs = _torch_run(reference)
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    assert not torch.equal(ours[0], _torch_run(lambda p: torch.optim.SGD(p, lr=0.0))[0])


# (level, hyperparameter): every learnable hyperparameter of the levels written only as their update
NEW = [
    (lambda: AdamW(0.01, 0.8, 0.9, weight_decay=0.3), "alpha"),
    (lambda: AdamW(0.01, 0.8, 0.9, weight_decay=0.3), "beta1"),
    (lambda: AdamW(0.01, 0.8, 0.9, weight_decay=0.3), "beta2"),
    (lambda: AdamW(0.01, 0.8, 0.9, weight_decay=0.3), "weight_decay"),
    (lambda: parse_level("sgd(0.05, mu=0.7, nesterov=true)"), "alpha"),
    (lambda: parse_level("sgd(0.05, mu=0.7, nesterov=true)"), "mu"),
    (lambda: Lion(0.01, weight_decay=0.3), "alpha"),
    (lambda: Lion(0.01, weight_decay=0.3), "weight_decay"),
]


@pytest.mark.parametrize("make,name", NEW, ids=[f"{m().kind}-{n}" for m, n in NEW])
@pytest.mark.parametrize("t_before", [0, 3])
@pytest.mark.parametrize("host", [True, False], ids=["floats", "tensors"])
def test_the_new_levels_hypergradients_match_finite_differences(make, name, t_before, host):
    """dL(w_{t+1}(h))/dh by central differences of the one-step loss equals the automatic hypergradient."""
    w, loss, grad = _problem()
    level = make()
    level = type(level).from_spec(level.values, learn=None, **level.options())  # every learnable one learns
    learn = level.learn
    rule, state = Automatic(level), level.init_state(w.numel(), w, [w.numel()], plain=False)
    hp = dict(level.values)
    if not host:
        hp = {k: (torch.tensor([v]) if k in learn else v) for k, v in hp.items()}
    extra = {"target": w} if level.TAKES_TARGET else {}
    for _ in range(t_before):  # advance the state with the hyperparameters fixed
        w = w - scaled(*level.update(state, grad(w), hp, learn, **extra))
        extra = {"target": w} if level.TAKES_TARGET else {}
    g = grad(w)

    def one_step_loss(value):
        h = {**hp, name: torch.tensor(value)}
        return loss(w - scaled(*level.update(copy.deepcopy(state), g, h, learn, **extra))).item()

    h0 = float(level.values[name])
    eps = 1e-6 * max(1.0, abs(h0))
    fd = (one_step_loss(h0 + eps) - one_step_loss(h0 - eps)) / (2 * eps)
    w_next = w - scaled(*rule.update(state, g, hp, learn, **extra))
    ours = rule.hypergrad(state, grad(w_next), hp, learn, host)[name]
    assert isinstance(ours, float) if host else (isinstance(ours, torch.Tensor) and ours.dim() == 0)
    assert float(ours) == pytest.approx(fd, rel=1e-5, abs=1e-9)
    if t_before:
        assert abs(fd) > 1e-8  # the case really exercises the hyperparameter


def test_lion_betas_are_constants_since_sign_has_no_derivative():
    assert [h.name for h in Lion.HYPERS if h.learnable] == ["alpha", "weight_decay"]
    with pytest.raises(ValueError, match="lion cannot learn.*alpha, weight_decay"):
        parse_tower("lion(learn=alpha+beta1)/sgd")


# -- a level of one's own ----------------------------------------------------------------------------------------
class SignSGD(AutoLevel):
    """sign-SGD: P_new = P - alpha sign(g)."""

    kind = "sign_sgd"
    label = "sign-SGD"
    HYPERS = (Hyper("alpha", 0.01, low=0.0),)

    def update(self, state, g, hp, learn, out=None):
        return torch.sign(g), hp["alpha"]


def test_a_registered_level_is_in_spec_text_the_command_line_and_the_explorer_menu(tmp_path):
    from gdtuo_explore.cli import main
    from gdtuo_explore.explorer import tower_edits
    register(SignSGD)
    try:
        assert register(SignSGD) is SignSGD  # again: harmless
        assert str(parse_tower("sign_sgd(0.1)/sgd(1e-3)")) == "sign_sgd(0.1)/sgd(0.001)"
        assert tower_edits.choices()["sign-SGD"] == "sign_sgd"
        assert tower_edits.with_choice("adam/sgd", 0, "sign-SGD") == "sign_sgd/sgd"
        torch.set_default_dtype(torch.float32)  # the run's model and data, as on the command line
        assert main(["run", "--task", "digits", "--tower", "sign_sgd(0.05)/sgd(1e-4)", "--steps", "5", "--device",
                     "cpu", "--out", str(tmp_path / "run"), "--quiet"]) == 0
        assert '"sign_sgd(0.05)/sgd(0.0001)"' in (tmp_path / "run" / "config.json").read_text()
        losses, history, tower = _train("sign_sgd(0.05)/sgd(1e-4)", 30)
        assert tower.nonfinite() is None and losses[-1] < losses[0]
        assert history["level1.alpha"][-1] != history["level1.alpha"][0]
    finally:
        KINDS.pop("sign_sgd", None)
    with pytest.raises(ValueError, match="unknown optimizer 'sign_sgd'"):
        parse_tower("sign_sgd")


@pytest.mark.parametrize("cls,message", [
    (int, "register takes a Level subclass"),
    (type("NoKind", (AutoLevel,), {}), r"NoKind.kind='auto' is invalid"),
    (type("Bad", (AutoLevel,), {"kind": "Sign SGD"}), r"Bad.kind='Sign SGD' is invalid"),
    (type("Other", (AutoLevel,), {"kind": "adam"}), "the kind 'adam' is taken by Adam"),
])
def test_register_refuses_what_it_cannot_name(cls, message):
    with pytest.raises(ValueError, match=message):
        register(cls)
    assert KINDS["adam"].__name__ == "Adam"


def _level(kind, body):
    """A one-hyperparameter automatic level whose update is ``body(g, alpha)``."""
    return type(kind, (AutoLevel,), {"kind": kind, "HYPERS": (Hyper("alpha", 0.1, low=0.0),),
                                     "update": lambda self, state, g, hp, learn, out=None: body(g, hp["alpha"])})


@pytest.mark.parametrize("body", [
    lambda g, alpha: (g, float(alpha)),                # read as a number
    lambda g, alpha: (g, alpha.item() if torch.is_tensor(alpha) else alpha),
    lambda g, alpha: (g, alpha.detach() if torch.is_tensor(alpha) else alpha),
    lambda g, alpha: (g, 0.1),                         # not used
], ids=["float", "item", "detach", "unused"])
@pytest.mark.parametrize("host", [True, False], ids=["floats", "tensors"])
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")
def test_a_learned_hyperparameter_the_update_does_not_use_is_refused_at_the_first_step(body, host):
    level = _level("disconnected", body)(optimizer=parse_level("sgd(1e-3)"))
    w, loss, grad = _problem()
    tower = Tower(level, [w.numel()], ["param0"], w)
    tower.host = host
    with pytest.raises(ValueError, match=r"disconnected: its update does not depend on the learned hyperparameter "
                                         r"'alpha'.*silent 0"):
        tower.step(grad(w))
    assert tower.t == 0


def test_a_non_finite_automatic_hypergradient_is_refused_by_the_guard():
    """u = sqrt(alpha) g at alpha = 0: d u/d alpha is infinite, the step is refused and the report names alpha."""
    level = _level("root_sgd", lambda g, alpha: (g, alpha ** 0.5))(0.0, optimizer=parse_level("sgd(1e-3)"))
    losses, history, tower = _train(level, 5)
    report = tower.nonfinite()
    assert report is not None and report.kind == "hyperparameter" and report.values == ("level1.alpha",)
    assert report.step == 2  # the first hypergradient


def test_a_tower_whose_bottom_level_reads_the_weights_asks_for_them():
    w, loss, grad = _problem()
    tower = Tower("adamw/sgd(1e-5)", [w.numel()], ["param0"], w)
    assert tower.takes_target and not Tower("adam/sgd", [w.numel()], ["param0"], w).takes_target
    with pytest.raises(ValueError, match=r"adamw needs the values of what it moves: Tower.step\(..., target=weights\)"):
        tower.step(grad(w))


@pytest.mark.parametrize("text,message", [
    ("adamw(hypergrad=closed)", "adamw has no closed-form hypergradient here: hypergrad must be 'auto'"),
    ("sgd(0.1, mu=0.9, nesterov=true, hypergrad=closed)", "sgd has no closed-form hypergradient"),
    ("adam(hypergrad=fast)", "hypergrad='fast' is invalid for adam: it must be 'closed'"),
    ("sgd(0.1, nesterov=true)", "nesterov=True needs momentum"),
    ("sgd(0.1, mu=0.9, nesterov=yes)", "nesterov='yes' in .* must be true or false"),
    ("adam(nesterov=true)", "adam has no hyperparameter 'nesterov'"),
    ("lion(weight_decay=-1)", r"weight_decay=-1.0 is invalid for lion: must be a finite number >= 0"),
])
def test_bad_automatic_options_are_refused_by_name(text, message):
    with pytest.raises(ValueError, match=message):
        parse_tower(text)


@pytest.mark.parametrize("spec", ["adam(hypergrad=auto)/sgd(1e-05)", "sgd(0.1, mu=0.9, nesterov=true)/sgd(0.001)",
                                  "adamw(weight_decay=0.1, learn=alpha+weight_decay)/sgd(1e-05)",
                                  "lion(0.0003, weight_decay=0.1)/sgd(1e-06)"])
def test_spec_text_round_trips(spec):
    assert str(parse_tower(spec)) == spec and parse_tower(str(parse_tower(spec))) == parse_tower(spec)


def test_the_path_and_the_options_make_a_level_differ():
    assert parse_tower("adam(hypergrad=auto)") != parse_tower("adam")
    assert parse_tower("adam(hypergrad=closed)") == parse_tower("adam")
    assert parse_tower("sgd(mu=0.9, nesterov=true)") != parse_tower("sgd(mu=0.9)")
    assert parse_tower("sgd(mu=0.9, nesterov=false)") == parse_tower("sgd(mu=0.9)")


@pytest.mark.parametrize("spec", ["adam(hypergrad=auto)/sgd(1e-5)", "sgd(0.05, mu=0.9, hypergrad=auto)/sgd(1e-4)"])
def test_no_graph_and_no_growth_between_steps(spec):
    """Between steps the automatic path holds tensors only (no autograd graph): the state's size stops changing
    after the first steps (over 3,000), and it is the level's state plus one copy of its running tensors."""
    w, loss, grad = _problem(n=50)
    tower = Tower(spec, [w.numel()], ["param0"], w)

    def held():
        tensors = [v for v in tower.floors[0].state.values() if isinstance(v, torch.Tensor)]
        assert not any(t.requires_grad or t.grad_fn is not None for t in tensors)
        return sum(t.numel() for t in tensors)

    sizes = []
    for t in range(3000):
        w = w - scaled(*tower.step(grad(w)))
        if t in (5, 2999):
            gc.collect()
            sizes.append(held())
    assert sizes[0] == sizes[1]
    running = len(tower.floors[0].level.RUNNING)
    assert sizes[0] <= (2 * running + 1) * w.numel() + 16  # state, its copy, and the kept gradient
    assert tower.nonfinite() is None
