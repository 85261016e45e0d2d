"""copy.deepcopy and pickle of a HyperOptimizer, alone and with its model: the copy keeps its towers and trains
exactly as the original does (weights, hyperparameters and their history, bit for bit), on both tower paths."""
import copy
import pickle

import pytest
import torch
import torch.nn.functional as F

from gdtuo_explore import HyperOptimizer, gdtuo
from gdtuo_explore.core.optimizers import auto
from oracle import MLP, batches

pytestmark = pytest.mark.usefixtures("tower_path")  # every test on both tower paths (see conftest.py)

SPECS = ["adam/sgd(1e-5)", "sgd(0.05, mu=0.5)/adam(1e-3)/sgd(1e-4)", "rmsprop/sgd(1e-4)", "adagrad/sgd(1e-3)",
         "sgd_per_param(0.05)/sgd(1e-3)", "adam(hypergrad=auto)/sgd(1e-5)", "adamw(weight_decay=0.1)/sgd(1e-5)",
         "lion(1e-3)/sgd(1e-6)", "sgd(0.05, mu=0.9, nesterov=true)/sgd(1e-3)"]


def _copy(obj, how):
    return copy.deepcopy(obj) if how == "deepcopy" else pickle.loads(pickle.dumps(obj))


def _fresh(spec):
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    return model, HyperOptimizer(model.parameters(), spec)


def _step(model, opt, x, y):
    opt.zero_grad()
    F.nll_loss(model(x), y).backward()
    opt.step()


def _assert_same(a, b):
    (ma, oa), (mb, ob) = a, b
    assert all(torch.equal(p, q) for p, q in zip(ma.parameters(), mb.parameters()))
    assert oa.hyperparameters() == ob.hyperparameters()
    ha, hb = oa.history(), ob.history()
    assert ha.keys() == hb.keys() and all((ha[k] == hb[k]).all() for k in ha)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("spec", SPECS)
def test_a_copy_with_its_model_trains_exactly_as_the_original(spec, how):
    data = batches(12)
    original = _fresh(spec)
    for x, y in data[:6]:
        _step(*original, x, y)
    original[1].register_step_post_hook(lambda *args: None)  # a lambda: pickled optimizers leave hooks out, as torch's
    twin = _copy(original, how)
    model, opt = twin
    assert opt.param_groups[0]["params"][0] is model.layer1.weight  # the copy optimizes the copy's model
    assert not opt._optimizer_step_post_hooks
    for x, y in data[6:]:
        _step(*original, x, y)
        _step(*twin, x, y)
    _assert_same(original, twin)
    assert original[1].towers[0].t == 12 and original[1].nonfinite() is None


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copy_of_the_optimizer_alone_moves_its_own_copies_of_the_parameters(how):
    """As with torch.optim, a copy of the optimizer alone holds copies of the parameters; given the same
    gradients, it moves them exactly as the original moves the model's."""
    model, opt = _fresh("adam/sgd(1e-5)")
    data = batches(10)
    for x, y in data[:4]:
        _step(model, opt, x, y)
    twin = _copy(opt, how)
    params = twin.param_groups[0]["params"]
    assert params[0] is not model.layer1.weight and torch.equal(params[0], model.layer1.weight)
    for x, y in data[4:]:
        _step(model, opt, x, y)
        for p, q in zip(params, model.parameters()):
            p.grad = q.grad.clone()
        twin.step()
    assert all(torch.equal(p, q) for p, q in zip(params, model.parameters()))
    assert twin.hyperparameters() == opt.hyperparameters()


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_deferred_automatic_update_is_copied_too(how, monkeypatch):
    """Where the automatic path defers its update (a target above CHUNK entries), a copy made between steps
    takes it at its next step as the original does."""
    monkeypatch.setattr(auto, "CHUNK", 100)
    monkeypatch.setattr(auto, "SLICE", 300)  # several slices, across the parameters
    data = batches(10)
    original = _fresh("adamw(weight_decay=0.1)/sgd(1e-5)")
    assert original[1].towers[0].floors[0].rule.defers(original[1].towers[0].n, ("alpha",))
    for x, y in data[:5]:
        _step(*original, x, y)
    twin = _copy(original, how)
    for x, y in data[5:]:
        _step(*original, x, y)
        _step(*twin, x, y)
    _assert_same(original, twin)


def test_a_tower_with_a_reference_api_level_says_it_cannot_be_copied():
    class Plain(gdtuo.Optimizable):
        def __init__(self, alpha=0.01, optimizer=gdtuo.NoOpOptimizer()):
            super().__init__({"alpha": torch.tensor(alpha)}, optimizer)

        def step(self, params):
            self.optimizer.step(self.parameters)
            for name, p in params.items():
                params[name] = p.detach() - self.parameters["alpha"] * p.grad.detach()

    model, opt = _fresh(Plain(optimizer=gdtuo.SGD(1e-4)))
    _step(model, opt, *batches(1)[0])
    with pytest.raises(ValueError, match="Plain keeps its step's autograd graph .* cannot be checkpointed, copied"):
        copy.deepcopy(opt)
