"""HyperOptimizer keeps torch.optim's semantics: parameters without a gradient are skipped, zero_grad's two modes,
step hooks, and checkpoints in torch.optim's shape that restore every group option."""
import copy
import io
import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim import lr_scheduler

from gdtuo_explore import HyperOptimizer
from gdtuo_explore.core.optimizers import auto
from oracle import MLP, batches

pytestmark = pytest.mark.usefixtures("tower_path")  # every test on both tower paths (see conftest.py)


class TwoHeads(nn.Module):
    """A trunk and two heads; a step uses one head (alternating updates, a frozen branch)."""

    def __init__(self):
        super().__init__()
        self.trunk, self.a, self.b = nn.Linear(64, 16), nn.Linear(16, 10), nn.Linear(16, 10)

    def forward(self, x, head):
        return F.log_softmax((self.a if head == "a" else self.b)(torch.tanh(self.trunk(x))), dim=1)


def _run(model, opt, data, heads, set_to_none=True, after_step=None):
    for i, (x, y) in enumerate(data):
        opt.zero_grad(set_to_none=set_to_none)
        F.nll_loss(model(x, heads(i)), y).backward()
        opt.step()
        if after_step:
            after_step(i)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_alternating_heads_move_as_with_torch_optim(set_to_none):
    """set_to_none=True: the idle head has no gradient and torch.optim.SGD leaves it (and its momentum) alone;
    set_to_none=False: its gradient is zero and momentum moves it. Ours does the same in both modes."""
    data = batches(12)
    models = []
    for make in (lambda p: HyperOptimizer(p, "sgd(0.1, mu=0.9, learn=none)"),
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)):
        torch.manual_seed(0)
        model = TwoHeads()
        _run(model, make(model.parameters()), data, lambda i: "a" if i % 3 else "b", set_to_none)
        models.append(model)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spec", ["adam/sgd(1e-5)", "sgd(0.05, mu=0.5)/sgd(1e-3)", "rmsprop/sgd(1e-4)",
                                  "adagrad/sgd(1e-3)", "sgd_per_param(0.05)/sgd(1e-3)",
                                  # the automatic path (its kept graph holds the running state of the last update)
                                  "adam(hypergrad=auto)/sgd(1e-5)", "sgd(0.05, mu=0.5, hypergrad=auto)/sgd(1e-3)",
                                  "sgd(0.05, mu=0.5, nesterov=True)/sgd(1e-3)", "adamw/sgd(1e-5)",
                                  "lion(1e-3)/sgd(1e-6)"])
def test_a_frozen_branch_is_as_if_it_were_not_given(spec):
    """A head that never gets a gradient: the weights and learned hyperparameters follow the same trajectory as
    an optimizer that was never given it (its entries take no part in the hypergradient)."""
    data = batches(15)
    results = []
    for with_b in (True, False):
        torch.manual_seed(0)
        model = TwoHeads()
        params = list(model.parameters()) if with_b else [p for n, p in model.named_parameters() if n[0] != "b"]
        opt = HyperOptimizer(params, spec)
        b_before = model.b.weight.clone()
        _run(model, opt, data, lambda i: "a")
        assert torch.equal(model.b.weight, b_before)
        results.append((model, opt.hyperparameters()[0]))
    (m1, h1), (m2, h2) = results
    for name in ("trunk.weight", "a.weight", "a.bias"):
        torch.testing.assert_close(m1.get_parameter(name), m2.get_parameter(name), rtol=1e-5, atol=1e-7)
    for k in h2:
        assert h1[k] == pytest.approx(h2[k], rel=1e-4)
    for k in set(h1) - set(h2):  # sgd_per_param: the head's own step sizes (param4, param5) never moved
        assert h1[k] == pytest.approx(0.05)


@pytest.mark.parametrize("spec", ["adam(hypergrad=auto)/sgd(1e-5)", "adamw/sgd(1e-5)", "lion(1e-3)/sgd(1e-6)",
                                  "sgd(0.05, mu=0.5, nesterov=True)/sgd(1e-3)"])
def test_a_frozen_branch_of_a_deferred_automatic_update_is_as_if_it_were_not_given(spec, monkeypatch):
    """The same with the automatic path's deferred update (a target above CHUNK, in slices of SLICE entries that
    cut across the parameters): the update taken at the next step leaves the frozen head's state alone."""
    monkeypatch.setattr(auto, "CHUNK", 64)
    monkeypatch.setattr(auto, "SLICE", 100)
    test_a_frozen_branch_is_as_if_it_were_not_given(spec)


@pytest.mark.parametrize("spec", ["adam/sgd(1e-5)", "adam(hypergrad=auto)/sgd(1e-5)", "adamw/sgd(1e-5)"])
def test_a_step_without_a_gradient_keeps_the_running_state(spec):
    torch.manual_seed(0)
    model = TwoHeads()
    opt = HyperOptimizer(model.parameters(), spec)
    state = opt.towers[0].floors[0].state
    offset = sum(p.numel() for p in (model.trunk.weight, model.trunk.bias, model.a.weight, model.a.bias))
    n_b = model.b.weight.numel() + model.b.bias.numel()
    seen = {}

    def check(i):
        b_state = [state[k][offset:offset + n_b].clone() for k in ("m", "v")]
        if i % 2:  # head b had no gradient this step
            assert all(torch.equal(x, y) for x, y in zip(seen["state"], b_state))
            assert torch.equal(model.b.weight, seen["w"])
        seen.update(state=b_state, w=model.b.weight.clone())

    _run(model, opt, batches(8), lambda i: "a" if i % 2 else "b", after_step=check)
    assert opt.nonfinite() is None and not torch.equal(seen["w"], TwoHeads().b.weight)


def test_step_hooks_run():
    model = MLP(64, 8, 10)
    opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o is opt)))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o is opt)))
    x, y = batches(1)[0]
    F.nll_loss(model(x), y).backward()
    opt.step()
    assert calls == [("pre", True), ("post", True)]


def _trained(spec="adam/sgd(1e-5)", steps=6, **kwargs):
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    opt = HyperOptimizer([{"params": model.layer1.parameters()},
                          {"params": model.layer2.parameters(), "tower": "sgd(0.05)/sgd(1e-3)"}], spec, **kwargs)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for x, y in batches(steps):
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()
        sched.step()
    return model, opt


def test_the_checkpoint_has_torch_optims_shape_and_restores_group_options():
    model, opt = _trained(hypergrad_clip=0.5)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]] and set(sd["state"]) == {0, 1, 2, 3}
    params = list(model.parameters())
    assert set(sd["state"][0]) == {"m", "v", "g"} and set(sd["state"][2]) == {"d"}  # each parameter's share
    for i, entry in sd["state"].items():
        assert all(x.shape == params[i].shape for x in entry.values())
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True, map_location="cpu")
    fresh = MLP(64, 16, 10)
    other = HyperOptimizer([{"params": fresh.layer1.parameters()},
                            {"params": fresh.layer2.parameters(), "tower": "sgd(0.05)/sgd(1e-3)"}], "adam/sgd(1e-5)")
    other.load_state_dict(saved)
    for g_new, g_old in zip(other.param_groups, opt.param_groups):
        assert g_new["lr"] == g_old["lr"] == 0.125 and g_new["initial_lr"] == 1.0
        assert g_new["hypergrad_clip"] == 0.5 and other.towers[0].hypergrad_clip == 0.5
    assert other.hyperparameters(0) == opt.hyperparameters(0) and other.hyperparameters(1) == opt.hyperparameters(1)


def test_a_checkpoint_without_the_towers_state_is_refused_and_changes_nothing():
    """A checkpoint whose groups lack the tower state (another optimizer's, or another layout) is refused, naming
    what is missing, before anything changes."""
    model, opt = _trained()
    sd = opt.state_dict()
    old = {"state": {}, "param_groups": [{k: v for k, v in g.items() if k != "tower_state"} for g in sd["param_groups"]]}
    other = _trained(steps=1)[1]
    before = copy.deepcopy(other.state_dict())
    with pytest.raises(ValueError, match="parameter group 0 of the checkpoint lacks 'tower_state'"):
        other.load_state_dict(old)
    after = other.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert all(torch.equal(x, before["state"][i][k]) for i, entry in after["state"].items() for k, x in entry.items())


@pytest.mark.parametrize("make,message", [
    (lambda m: HyperOptimizer(m.parameters(), "adam/sgd(1e-5)"), "the checkpoint has 2 parameter groups, this "
                                                                 "optimizer 1"),
    (lambda m: HyperOptimizer([{"params": [m.layer1.weight]}, {"params": m.layer2.parameters()}], "adam/sgd(1e-5)"),
     "parameter group 0: the checkpoint has 2 parameters, this optimizer 1"),
    (lambda m: HyperOptimizer([{"params": [m.layer1.weight, m.layer2.bias]}, {"params": [m.layer2.weight,
                                                                                          m.layer1.bias]}],
                              "adam/sgd(1e-5)"), "parameter group 0, parameter 1: 16 numbers in the checkpoint, 10 here"),
    (lambda m: HyperOptimizer([{"params": m.layer1.parameters()}, {"params": m.layer2.parameters()}],
                              "adam/sgd(1e-5)"),
     "parameter group 1: this checkpoint is of the tower 'sgd(0.05)/sgd(0.001)', not 'adam/sgd(1e-05)'"),
])
def test_a_mismatched_checkpoint_is_refused_naming_what_differs(make, message):
    sd = _trained()[1].state_dict()
    target = make(MLP(64, 16, 10))
    before = target.state_dict()
    with pytest.raises(ValueError) as err:
        target.load_state_dict(sd)
    assert message in str(err.value)
    assert target.state_dict()["param_groups"] == before["param_groups"]


def _hook_calls(opt):
    """The state_dict and load_state_dict hooks' calls, with what each was given."""
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append(("state_dict pre", o is opt)))
    opt.register_state_dict_post_hook(lambda o, sd: calls.append(("state_dict post", o is opt, sorted(sd))))
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append(("load pre", o is opt, sorted(sd))))
    opt.register_load_state_dict_post_hook(lambda o: calls.append(("load post", o is opt)))
    opt.load_state_dict(opt.state_dict())
    return calls


def test_the_four_state_dict_hooks_fire_as_torch_optims_do():
    model = MLP(64, 8, 10)
    ours = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    theirs = torch.optim.Adam(model.parameters())
    assert _hook_calls(ours) == _hook_calls(theirs) == [
        ("state_dict pre", True), ("state_dict post", True, ["param_groups", "state"]),
        ("load pre", True, ["param_groups", "state"]), ("load post", True)]


def test_hooks_see_and_change_the_optimizers_checkpoints():
    """A state-dict post hook sees the towers' part and may return another dict; a load pre hook may change the
    checkpoint before it is checked and loaded; a load post hook sees the loaded towers."""
    model, opt = _trained()
    seen = {}
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "note": sd["param_groups"][0]["tower_state"][:8]})
    sd = opt.state_dict()
    assert sd["note"] == '{"spec":'
    fresh = HyperOptimizer([{"params": model.layer1.parameters()},
                            {"params": model.layer2.parameters(), "tower": "sgd(0.05)/sgd(1e-3)"}], "adam/sgd(1e-5)")

    def halve_lr(o, checkpoint):
        groups = [{**g, "lr": g["lr"] / 2} for g in checkpoint["param_groups"]]
        return {"state": checkpoint["state"], "param_groups": groups}

    fresh.register_load_state_dict_pre_hook(halve_lr)
    fresh.register_load_state_dict_post_hook(lambda o: seen.update(t=o.towers[0].t, alpha=o.hyperparameters()))
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == opt.param_groups[0]["lr"] / 2
    assert seen == {"t": 6, "alpha": opt.hyperparameters()}


@pytest.mark.parametrize("group,message", [
    ({"params": [torch.nn.Parameter(torch.ones(3))], "tower": "adam/nope"}, "nope"),
    ({"params": [torch.nn.Parameter(torch.ones(3))], "lr": -1.0}, "lr=-1.0 is invalid"),
    ({"params": [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3, dtype=torch.float64))]},
     "share one device and dtype"),
    ({"params": [torch.nn.Parameter(torch.ones(3))], "hypergrad_clip": -2}, "hypergrad_clip=-2"),
    ({"params": [torch.ones(3, requires_grad=True) * 2]}, "can't optimize a non-leaf Tensor"),
    ({"params": []}, "has no parameters"),
])
def test_a_refused_parameter_group_changes_nothing(group, message):
    model = MLP(64, 8, 10)
    opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    with pytest.raises(ValueError, match=message):
        opt.add_param_group(group)
    assert len(opt.param_groups) == len(opt.towers) == 1 and len(opt.state) == 4
    x, y = batches(1)[0]
    F.nll_loss(model(x), y).backward()
    opt.step()  # groups and towers still paired
    assert opt.towers[0].t == 1 and opt.nonfinite() is None


def test_a_parameter_already_optimized_is_refused():
    model = MLP(64, 8, 10)
    opt = HyperOptimizer(model.layer1.parameters(), "adam/sgd(1e-5)")
    with pytest.raises(ValueError, match="appear more than once"):
        opt.add_param_group({"params": [model.layer1.weight, model.layer2.weight]})
    opt.add_param_group({"params": model.layer2.parameters(), "tower": "sgd(0.1)"})
    assert [str(g["tower"]) for g in opt.param_groups] == ["adam/sgd(1e-05)", "sgd(0.1)"] and len(opt.towers) == 2


@pytest.mark.parametrize("call,message", [
    (lambda o: o.hyperparameters(2), "group=2 is invalid: this optimizer has 2 parameter group\\(s\\), numbered 0 to 1"),
    (lambda o: o.history(group=-1), "group=-1 is invalid"),
    (lambda o: o.history(since=-3), "since=-3 is invalid"),
    (lambda o: o.step(closure=3), "closure must be callable"),
])
def test_bad_arguments_are_refused_naming_them(call, message):
    _, opt = _trained(steps=2)
    with pytest.raises((ValueError, TypeError), match=message):
        call(opt)


def test_a_float64_checkpoint_loads_into_float32_parameters_as_float32():
    """As torch.optim casts floating state to the parameter's dtype, so does load_state_dict: the per-parameter
    state and the towers' running statistics become float32, and training goes on."""
    torch.manual_seed(0)
    wide = MLP(64, 16, 10).double()
    opt = HyperOptimizer(wide.parameters(), "adam/sgd(1e-5)")
    for x, y in batches(4):
        opt.zero_grad()
        F.nll_loss(wide(x.double()), y).backward()
        opt.step()
    sd = opt.state_dict()
    assert sd["state"][0]["m"].dtype == torch.float64
    narrow = MLP(64, 16, 10)
    other = HyperOptimizer(narrow.parameters(), "adam/sgd(1e-5)")
    other.load_state_dict(sd)
    assert {x.dtype for entry in other.state_dict()["state"].values() for x in entry.values()} == {torch.float32}
    assert other.towers[0].store.dtype == torch.float32
    assert other.hyperparameters()[0]["alpha"] == pytest.approx(opt.hyperparameters()[0]["alpha"], rel=1e-6)
    torch.testing.assert_close(other.state[narrow.layer1.weight]["m"], sd["state"][0]["m"].float())
    x, y = batches(1)[0]
    F.nll_loss(narrow(x), y).backward()
    other.step()
    assert other.towers[0].t == 5 and other.nonfinite() is None


def _tower_state(change):
    def edit(sd):
        rest = json.loads(sd["param_groups"][0]["tower_state"])
        change(rest)
        sd["param_groups"][0]["tower_state"] = json.dumps(rest)
    return edit


@pytest.mark.parametrize("corrupt,message", [
    (lambda sd: sd["param_groups"][0].update(tower_state="{not json"), "tower_state is not JSON text"),
    (_tower_state(lambda r: r.update(store=r["store"][:2])), "holds 2 learned hyperparameters, this tower 3"),
    (_tower_state(lambda r: r.update(store=["a", 1.0, 2.0])), "are not all numbers"),
    (_tower_state(lambda r: r.update(t=-1)), "t=-1 is invalid"),
    (_tower_state(lambda r: r.update(levels=[{}])), "has 1 levels, this tower 2"),
    (_tower_state(lambda r: r["levels"][0].update(c1={"tensor": "nn", "shape": [], "values": [1.0]})),
     "dtype 'nn', which torch does not have"),
    (lambda sd: sd["state"][1].update(m=torch.zeros(3)), "parameter group 0, parameter 1: its state holds"),
    (lambda sd: sd["state"].pop(1), "parameter group 0, parameter 1: the checkpoint has no state for it"),
])
def test_a_corrupt_checkpoint_is_refused_and_changes_nothing(corrupt, message):
    sd = copy.deepcopy(_trained()[1].state_dict())
    corrupt(sd)
    other = _trained(steps=2)[1]
    before = copy.deepcopy(other.state_dict())
    with pytest.raises(ValueError, match=message):
        other.load_state_dict(sd)
    after = other.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert all(torch.equal(x, before["state"][i][k]) for i, entry in after["state"].items() for k, x in entry.items())


def test_the_private_torch_calls_the_core_makes_still_behave():
    """The core steps a group's parameters with ``torch._foreach_copy_`` and ``torch._foreach_add_`` (the list ops
    torch.optim's own optimizers use), and the automatic path tells an in-place update by ``Tensor._version``: all
    private names, checked here as the core uses them (torch 2.13 to 2.14 seen)."""
    a, b = [torch.zeros(2), torch.zeros(3)], [torch.ones(2), torch.full((3,), 2.0)]
    torch._foreach_copy_(a, b)
    assert [x.tolist() for x in a] == [[1.0, 1.0], [2.0, 2.0, 2.0]]
    torch._foreach_add_(a, b, alpha=-0.5)
    assert [x.tolist() for x in a] == [[0.5, 0.5], [1.0, 1.0, 1.0]]
    x = torch.zeros(2)
    before = x._version
    x.add_(1)
    y = x + 1
    assert x._version == before + 1 and y._version == 0
