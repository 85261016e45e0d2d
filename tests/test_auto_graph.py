"""The automatic path's two ways to the same hypergradient (optimizers/auto.py): a small target keeps its update's
graph until the next step, a large one (or one just loaded from a checkpoint) runs its update again from the kept
inputs; and a hypergradient asked after an update that did not finish."""
import pytest
import torch

from gdtuo_explore.core.hyperparams import Hyper
from gdtuo_explore.core.optimizers import AutoLevel, auto
from gdtuo_explore.core.optimizers.base import scaled
from gdtuo_explore.core.spec import parse_level
from gdtuo_explore.core.tower import Tower
from oracle import train_tower as _train


@pytest.fixture(autouse=True)
def float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("spec", ["adamw(0.01, weight_decay=0.1)/sgd(1e-4)",
                                  "adam(0.01, hypergrad=auto)/adam(1e-3, hypergrad=auto)/sgd(1e-5)",
                                  "adam(0.01, learn=alpha, hypergrad=auto)/sgd(1e-4)",
                                  "lion(1e-3, weight_decay=0.1)/sgd(1e-5)",
                                  "sgd(0.05, mu=0.7, nesterov=true)/sgd(1e-4)",
                                  "sgd_per_param(0.05, hypergrad=auto)/sgd(1e-4, hypergrad=auto)"])
@pytest.mark.parametrize("host", [True, False], ids=["floats", "tensors"])
def test_the_kept_graph_gives_the_recomputed_hypergradients(spec, host, monkeypatch):
    """CHUNK = 0 makes every level run its update again at the next step (in slices where it is elementwise); the
    default keeps the graph of the update itself on this 7-entry problem: the same losses and hyperparameters."""
    kept_losses, kept, tower = _train(spec, 60, host=host)
    assert tower.floors[0].rule._graph is not None  # the graph of the last update, held for the next step
    monkeypatch.setattr(auto, "CHUNK", 0)
    again_losses, again, tower = _train(spec, 60, host=host)
    assert tower.floors[0].rule._graph is None
    assert again_losses == pytest.approx(kept_losses, rel=1e-12, abs=1e-15)
    for column, values in kept.items():
        assert again[column] == pytest.approx(values, rel=1e-12, abs=1e-15), column
    first = kept[f"level1.{tower.floors[0].learn[0]}"]
    assert first[-1] != first[0]  # it learned


class Fragile(AutoLevel):
    """SGD whose third update raises ZeroDivisionError (as Python float arithmetic does on the CPU path)."""

    kind = "fragile"
    HYPERS = (Hyper("alpha", 0.05, low=0.0),)

    def init_state(self, n, like, sizes, plain):
        return {"t": 0}

    def update(self, state, g, hp, learn, out=None):
        state["t"] += 1
        return g, hp["alpha"] * (1 / (3 - state["t"]))  # Python's 1 / 0 at the third update


@pytest.mark.parametrize("host", [True, False], ids=["floats", "tensors"])
def test_a_hypergradient_after_an_update_that_did_not_finish_is_refused(host):
    """The tower refuses the step whose update raised; the next step's hypergradient has nothing to differentiate
    and is nan, so the guard refuses it too (it was a KeyError)."""
    target = torch.tensor([1.0, -2.0, 0.5, 3.0])
    w = torch.zeros(4)
    tower = Tower(Fragile(optimizer=parse_level("sgd(1e-4)")), [4], ["p"], w)
    tower.host = host
    assert isinstance(tower.floors[0].rule, auto.Automatic)
    for _ in range(5):
        w = w - scaled(*tower.step(2 * (w - target)))
    report = tower.nonfinite()
    assert report is not None and report.step == 3
    assert torch.isfinite(w).all() and tower.t == 5


class Heavy(AutoLevel):
    """Heavy-ball SGD whose buffer is a new tensor at every update, or, with ``inplace``, changed in place from the
    third update on (an update that makes new state tensors at first and changes one in place later)."""

    kind = "heavy_test"
    HYPERS = (Hyper("alpha", 0.05, low=0.0),)

    def __init__(self, *args, inplace=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.inplace = inplace

    def init_state(self, n, like, sizes, plain):
        return {"t": 0, "b": torch.zeros(n, dtype=like.dtype)}

    def update(self, state, g, hp, learn, out=None):
        state["t"] += 1
        if self.inplace and state["t"] >= 3:
            b = state["b"].mul_(0.5).add_(g)
        else:
            b = state["b"] = state["b"] * 0.5 + g
        return b, hp["alpha"]


def _heavy(inplace, steps, drop_graph_at=None):
    target = torch.tensor([1.0, -2.0, 0.5, 3.0])
    w = torch.zeros(4)
    tower = Tower(Heavy(optimizer=parse_level("sgd(1e-4)"), inplace=inplace), [4], ["p"], w)
    for k in range(steps):
        if k == drop_graph_at:
            tower.floors[0].rule._graph = None  # as after a checkpoint or a move: the kept inputs are needed
        w = w - scaled(*tower.step(2 * (w - target)))
    return w, tower


def test_state_tensors_kept_as_they_are_only_while_the_update_leaves_them_alone():
    """The inputs of an update that keeps its graph are the state tensors themselves while the updates make new
    ones; one changed in place is seen by its version counter: the hypergradient still comes from that update's
    graph (the same numbers), and from then on the inputs are copies."""
    w, tower = _heavy(False, 8)
    rule = tower.floors[0].rule
    assert rule._mutates is False   # every update so far made new state tensors: kept without a copy
    assert tower.floors[0].state[auto.KEPT + "b"] is not tower.floors[0].state["b"]
    w_inplace, tower_inplace = _heavy(True, 8)
    assert tower_inplace.floors[0].rule._mutates is True   # one changed a state tensor in place: copied
    assert torch.equal(w_inplace, w)
    assert tower_inplace.values() == tower.values()
    assert tower_inplace.nonfinite() is None
    # the update that changed its buffer in place (the third) lost its inputs: without its graph, its hypergradient
    # is nan and the tower refuses the fourth step; with copies from then on, a later recompute is exact
    _, lost = _heavy(True, 5, drop_graph_at=3)
    assert lost.nonfinite() is not None and lost.nonfinite().step == 4
    w_later, later = _heavy(True, 8, drop_graph_at=5)
    assert later.nonfinite() is None and torch.allclose(w_later, w, rtol=1e-12, atol=0)
    assert later.values()[0]["alpha"] == pytest.approx(tower.values()[0]["alpha"], rel=1e-12)
