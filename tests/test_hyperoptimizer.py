"""The torch.optim front and the reference wrapper as PyTorch citizens: Parameters, checkpoints, groups, devices."""
import copy
import io
import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gdtuo_explore import HyperOptimizer, SGD, gdtuo
from gdtuo_explore.core.checkpoint import is_tensor
from gdtuo_explore.core.optimizers.base import scaled
from gdtuo_explore.core.tower import Tower
from oracle import MLP, batches

pytestmark = pytest.mark.usefixtures("tower_path")  # every test on both tower paths (see conftest.py)


def train(model, opt, data, steps=None):
    for x, y in data[:steps]:
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()


@pytest.fixture
def data():
    return batches(40)


def fresh(seed=0):
    torch.manual_seed(seed)
    return MLP(64, 32, 10)


@pytest.mark.parametrize("spec,reference", [
    ("sgd(0.1)", lambda p: torch.optim.SGD(p, lr=0.1)),
    ("sgd(0.05, mu=0.9)", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("sgd(0.1, learn=none)/sgd(0.01)", lambda p: torch.optim.SGD(p, lr=0.1)),
    ("adam(0.01)", lambda p: torch.optim.Adam(p, lr=0.01)),
    ("adam(0.01, beta1=0.8, beta2=0.99, learn=none)/adam", lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99))),
])
def test_frozen_hyperparameters_reproduce_torch_optim(data, spec, reference):
    a, b = fresh(), fresh()
    train(a, HyperOptimizer(a.parameters(), spec), data)
    train(b, reference(b.parameters()), data)
    for p, q in zip(a.parameters(), b.parameters()):
        # a plain level starts Adam's v at 0, as torch.optim does (the reference starts it at eps)
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    assert not torch.equal(a.layer1.weight, fresh().layer1.weight)


@pytest.mark.parametrize("spec", [
    "sgd(0.05)/sgd(0.001)", "sgd(0.05, mu=0.5)/sgd(0.001)", "sgd(0.05, learn=alpha+mu)/adam(1e-4)",
    "sgd_per_param(0.05)/sgd(0.001)", "adagrad(0.05)/sgd(0.001)", "rmsprop(0.001)/sgd(1e-4)",
    "adam(0.01)/sgd(1e-5)", "adam(0.01, learn=alpha)/sgd(1e-5)", "adam(0.01)/adam(1e-4)/adam(1e-5)/sgd(1e-6)",
    "adamw(0.01)/sgd(1e-5)", "lion(1e-3, weight_decay=0.1)/sgd(1e-6)", "adam(0.01, hypergrad=auto)/sgd(1e-5)",
])
def test_cpu_float_path_follows_the_accelerator_tensor_path(data, spec):
    """On the CPU a tower reads its hyperparameters as Python floats; on an accelerator they stay one-element
    tensors. Both paths run here on the CPU (``tower.host``) and must train the same way."""
    models, histories = [], []
    for host in (True, False):
        model = fresh()
        opt = HyperOptimizer(model.parameters(), spec)
        opt.towers[0].host = host
        train(model, opt, data)
        assert opt.nonfinite() is None
        models.append(model)
        histories.append(opt.history())
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)  # float32 vs float64 scalar arithmetic
    for column, values in histories[0].items():
        assert values == pytest.approx(histories[1][column], rel=1e-4, abs=1e-7), column
    assert not torch.equal(models[0].layer1.weight, fresh().layer1.weight)


def test_parameters_stay_leaf_parameters_and_the_model_stays_usable(data):
    model = fresh()
    params = list(model.parameters())
    mw = gdtuo.ModuleWrapper(model, optimizer=gdtuo.Adam(optimizer=gdtuo.SGD(1e-5)))
    mw.initialize()
    for x, y in data[:5]:
        mw.begin()
        loss = F.nll_loss(mw.forward(x), y)
        mw.zero_grad()
        loss.backward(create_graph=True)
        mw.step()
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(isinstance(p, nn.Parameter) and p.is_leaf for p in model.parameters())
    clone = copy.deepcopy(model)  # the reference raised here
    assert torch.equal(clone.layer1.weight, model.layer1.weight)
    assert set(model.state_dict()) == {"layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"}
    plain = torch.optim.SGD(model.parameters(), lr=0.1)  # the reference raised here too
    x, y = data[6]
    before = model.layer1.weight.clone()
    plain.zero_grad()
    F.nll_loss(model(x), y).backward()
    plain.step()
    assert not torch.equal(before, model.layer1.weight)


def test_tied_weights_stay_tied(data):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(64, 64)
            self.b = self.a  # one module under two names
            self.out = nn.Linear(64, 10)

        def forward(self, x):
            return F.log_softmax(self.out(torch.tanh(self.b(torch.tanh(self.a(x))))), 1)

    torch.manual_seed(0)
    model = Tied()
    mw = gdtuo.ModuleWrapper(model, optimizer=gdtuo.SGD(0.05, optimizer=gdtuo.SGD(1e-3)))
    losses = []
    for x, y in data[:10]:
        mw.begin()
        loss = F.nll_loss(mw.forward(x), y)
        mw.zero_grad()
        loss.backward()
        mw.step()
        losses.append(loss.item())
    assert model.a.weight is model.b.weight and model.a is model.b
    assert losses[-1] < losses[0]


def test_initialize_calls_the_modules_initialize():
    calls = []

    class WithInit(MLP):
        def initialize(self):
            calls.append(1)
            nn.init.zeros_(self.layer1.bias)

    torch.manual_seed(0)
    model = WithInit(64, 8, 10)
    nn.init.ones_(model.layer1.bias)
    gdtuo.ModuleWrapper(model, optimizer=gdtuo.SGD()).initialize()
    assert calls == [1] and torch.all(model.layer1.bias == 0)


def test_one_level_object_in_two_towers_shares_nothing(data):
    top = SGD(1e-3)
    level = SGD(0.05, optimizer=top)
    a, b = fresh(), fresh()
    opt_a, opt_b = HyperOptimizer(a.parameters(), level), HyperOptimizer(b.parameters(), level)
    train(a, opt_a, data, 10)
    assert opt_b.hyperparameters()[0]["alpha"] == pytest.approx(0.05, rel=1e-7)  # float32, untouched by a's training
    train(b, opt_b, data, 10)
    assert opt_a.hyperparameters() == opt_b.hyperparameters()
    assert str(level) == "sgd(0.05)/sgd(0.001)"  # the configuration holds no state


@pytest.mark.parametrize("spec", ["adam/sgd(1e-5)", "sgd(0.05, mu=0.9)/adam(0.01)", "rmsprop/adagrad/sgd(1e-4)",
                                  "sgd_per_param(0.05)/sgd(1e-3)", "adam(hypergrad=auto)/sgd(1e-5)",
                                  "adamw(0.01, weight_decay=0.1)/adam(1e-4)", "lion(1e-3, weight_decay=0.1)/sgd(1e-6)",
                                  "sgd(0.05, mu=0.9, nesterov=true)/sgd(1e-3)"])
def test_state_dict_round_trip_resumes_the_same_trajectory(data, spec):
    a = fresh()
    opt_a = HyperOptimizer(a.parameters(), spec)
    train(a, opt_a, data, 30)

    b = fresh()
    opt_b = HyperOptimizer(b.parameters(), spec)
    train(b, opt_b, data, 15)
    buf = io.BytesIO()
    torch.save({"model": b.state_dict(), "opt": opt_b.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)  # the checkpoint holds only tensors, numbers and strings
    c = fresh(seed=1)
    c.load_state_dict(saved["model"])
    opt_c = HyperOptimizer(c.parameters(), spec)
    opt_c.load_state_dict(saved["opt"])
    train(c, opt_c, data[15:], 15)
    for p, q in zip(a.parameters(), c.parameters()):
        assert torch.equal(p, q)
    assert opt_a.hyperparameters() == opt_c.hyperparameters()


def test_state_dict_of_another_tower_is_refused(data):
    a = fresh()
    opt = HyperOptimizer(a.parameters(), "adam/sgd(1e-5)")
    train(a, opt, data, 2)
    with pytest.raises(ValueError, match="tower 'adam/sgd\\(1e-05\\)', not 'adam/sgd\\(0.0001\\)'"):
        HyperOptimizer(a.parameters(), "adam/sgd(1e-4)").load_state_dict(opt.state_dict())


def test_param_groups_get_their_own_towers(data):
    model = fresh()
    opt = HyperOptimizer([{"params": model.layer1.parameters()},
                          {"params": model.layer2.parameters(), "tower": "sgd(0.1)/sgd(1e-3)"}], "adam/sgd(1e-5)")
    train(model, opt, data, 10)
    assert set(opt.hyperparameters(0)[0]) == {"alpha", "beta1", "beta2", "log_eps"}
    assert opt.hyperparameters(1)[0]["alpha"] != 0.1
    assert opt.hyperparameters(0)[0]["alpha"] != 0.001
    assert "sgd(0.1)/sgd(0.001)" in repr(opt)


def test_history_is_per_step_in_natural_units(data):
    model = fresh()
    opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    train(model, opt, data, 25)
    h = opt.history()
    assert list(h["step"]) == list(range(1, 26))
    assert set(h) == {"step", "level1.alpha", "level1.beta1", "level1.beta2", "level1.log_eps", "level2.alpha",
                      "level2.mu", "ok", "gradient_ok"}
    now = opt.hyperparameters()
    assert h["level1.alpha"][-1] == pytest.approx(now[0]["alpha"])
    assert h["level1.beta1"][-1] == pytest.approx(now[0]["beta1"])  # natural, not atanh-stored
    assert 0 < h["level1.beta1"].min() < 1 and h["ok"].all()
    assert h["level1.alpha"][0] == pytest.approx(1e-3)  # the first step moves no hyperparameter
    assert h["level1.alpha"][-1] != pytest.approx(1e-3)
    assert (h["level2.alpha"] == 1e-5).all()
    later = opt.history(since=20)  # only what is new: the engine fetches in batches
    assert list(later["step"]) == [21, 22, 23, 24, 25]
    assert list(later["level1.alpha"]) == list(h["level1.alpha"][20:])


def test_sgd_learns_momentum_from_zero_when_asked(data):
    model = fresh()
    opt = HyperOptimizer(model.parameters(), "sgd(0.05, learn=alpha+mu)/sgd(1e-3)")
    train(model, opt, data, 20)
    assert opt.hyperparameters()[0]["mu"] != 0.0
    model = fresh()
    opt = HyperOptimizer(model.parameters(), "sgd(0.05)/sgd(1e-3)")
    train(model, opt, data, 20)
    assert opt.hyperparameters()[0]["mu"] == 0.0


@pytest.mark.parametrize("base", ["sgd(0.05)", "adam(0.01)"])
def test_fifty_level_tower_trains(data, base):
    spec = "/".join([base] + [base.split("(")[0] + "(1e-6)"] * 49)
    model = fresh()
    opt = HyperOptimizer(model.parameters(), spec)
    losses = []
    for x, y in data[:20]:
        opt.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    values = opt.hyperparameters()
    assert len(values) == 50 and opt.nonfinite() is None
    assert losses[-1] < losses[0]


def test_unused_parameters_are_fine(data):
    model = fresh()
    extra = nn.Parameter(torch.ones(3))
    opt = HyperOptimizer(list(model.parameters()) + [extra], "adam/sgd(1e-5)")
    train(model, opt, data, 3)
    assert torch.equal(extra, torch.ones(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("spec", ["adam/sgd(1e-5)", "sgd(0.01, mu=0.9)/adam(0.1)/sgd(1e-4)", "rmsprop/sgd(1e-4)",
                                  "adamw/sgd(1e-5)", "adam(hypergrad=auto)/adam(1e-4, hypergrad=auto)/sgd(1e-5)",
                                  "lion(weight_decay=0.1)/sgd(1e-6)"])
def test_cuda_step_never_synchronises_with_the_host(spec):
    torch.manual_seed(0)
    model = MLP(64, 32, 10).cuda()
    opt = HyperOptimizer(model.parameters(), spec)
    data = [(x.cuda(), y.cuda()) for x, y in batches(10)]
    train(model, opt, data, 2)  # warm up (allocations)
    assert opt.towers[0].store.device.type == "cuda"
    torch.cuda.synchronize()
    for x, y in data[2:]:
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        torch.cuda.set_sync_debug_mode("error")
        try:
            opt.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert opt.nonfinite() is None and len(opt.history()["step"]) == 10


@pytest.mark.parametrize("spec", ["adam/sgd(1e-5)", "adam(learn=alpha)/sgd(1e-5)", "adam", "sgd/sgd(1e-5)",
                                  "sgd(0.1, mu=0.9)/sgd(1e-5)", "rmsprop/sgd(1e-4)", "adagrad/sgd(1e-4)"])
def test_a_spare_buffer_changes_only_where_the_direction_is_written(spec):
    """Tower.step(g, out): as HyperOptimizer does, the gradient goes into two buffers in turn and the other one is
    the spare; the trajectory is the one of fresh tensors."""
    torch.manual_seed(0)
    n = 40
    target, scale = torch.randn(n), torch.rand(n) + 0.5
    w_spare = torch.randn(n)
    w_fresh = w_spare.clone()
    spare_tower, fresh_tower = Tower(spec, [n], ["p"], w_spare), Tower(spec, [n], ["p"], w_fresh)
    buffers = [torch.empty(n), torch.empty(n)]
    with torch.no_grad():
        for t in range(30):
            g = torch.mul(w_spare - target, scale, out=buffers[t % 2])
            w_spare -= scaled(*spare_tower.step(g, buffers[1 - t % 2]))
            w_fresh -= scaled(*fresh_tower.step((w_fresh - target) * scale))
    assert torch.equal(w_spare, w_fresh)
    assert spare_tower.values() == fresh_tower.values()


def test_a_levels_state_is_training_state_only_and_checkpoints_hold_no_configuration(data):
    """The tower keeps each level's configuration (which hyperparameters learn, their names) itself: a level's state
    and its checkpoint hold tensors and numbers only."""
    model = fresh()
    opt = HyperOptimizer(model.parameters(), "sgd_per_param(0.05)/adam(1e-3)/sgd(0.1, mu=0.5)/rmsprop(1e-4)/"
                                             "adamw(1e-3)/sgd(0.1, mu=0.5, hypergrad=auto)/lion/sgd")
    train(model, opt, data, 3)
    floors = opt.towers[0].floors
    sd = opt.state_dict()
    levels = json.loads(sd["param_groups"][0]["tower_state"])["levels"]   # the rest of the tower
    assert len(levels) == len(floors)
    per_element = set(opt.towers[0].per_element_state())
    for k, (floor, saved) in enumerate(zip(floors, levels)):
        held = set(floor.state) - set(floor.level.UNSAVED) - (per_element if k == 0 else set())
        assert saved.keys() == held, floor.level.kind     # the checkpoint holds the state, all of it
        for key, value in floor.state.items():
            assert isinstance(value, (torch.Tensor, int, float)), (floor.level.kind, key, value)
        assert all(isinstance(v, (int, float)) or is_tensor(v) for v in saved.values()), saved
    for entry in sd["state"].values():  # each parameter's share of the bottom level's state
        assert entry and all(isinstance(v, torch.Tensor) for v in entry.values())
    same = lambda a, b: torch.equal(a.to(b), b) if isinstance(b, torch.Tensor) else a == b  # noqa: E731
    before = [{k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in f.state.items()} for f in floors]
    train(model, opt, data[3:], 1)
    for floor, old in zip(floors[:2], before):   # the weights' level and the one tuning it: their state moves with a
        assert any(not same(old[k], v) for k, v in floor.state.items()), floor.level.kind   # step (configuration would not)


def test_a_tower_without_a_text_form_checkpoints_under_its_kinds(data):
    """SGDPerParam with named step sizes has no spec text: the checkpoint names the tower by its kinds, and a
    ModuleWrapper's checkpoint resumes the same trajectory."""
    named = [("layer1.weight", 0.05), ("layer1.bias", 0.04), ("layer2.weight", 0.03), ("layer2.bias", 0.02)]
    level = gdtuo.SGDPerParam(named, optimizer=gdtuo.SGD(1e-3))
    assert not level.has_text_form() and level.optimizer.has_text_form()
    assert level.tower_name() == "sgd_per_param/sgd"
    assert gdtuo.SGDPerParam(0.05, optimizer=gdtuo.SGD(1e-3)).tower_name() == "sgd_per_param(0.05)/sgd(0.001)"

    def run(mw, batches_):
        for x, y in batches_:
            mw.begin()
            loss = F.nll_loss(mw.forward(x), y)
            mw.zero_grad()
            loss.backward()
            mw.step()

    a = gdtuo.ModuleWrapper(fresh(), optimizer=level)
    run(a, data[:10])
    b = gdtuo.ModuleWrapper(fresh(), optimizer=level)
    run(b, data[:5])
    buf = io.BytesIO()
    torch.save(b.state_dict(), buf)
    buf.seek(0)
    c = gdtuo.ModuleWrapper(fresh(seed=1), optimizer=level)
    c.load_state_dict(torch.load(buf, weights_only=True))
    run(c, data[5:10])
    assert all(torch.equal(p, q) for p, q in zip(a.module.parameters(), c.module.parameters()))
    assert a.hyperparameters() == c.hyperparameters() and a.hyperparameters()[0]["layer1.bias_alpha"] != 0.04
