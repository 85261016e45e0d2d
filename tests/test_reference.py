"""Against the reference package (the paper's code, a test dependency used as an oracle): the README's loop with
the import swapped gives the same losses, step for step, with create_graph=True and with a plain backward."""
import warnings

import pytest
import torch
from gradient_descent_the_ultimate_optimizer import gdtuo as ref  # a dev extra: without it this file fails

from gdtuo_explore import gdtuo as ours
from oracle import MLP, batches, run_wrapper

pytestmark = pytest.mark.usefixtures("tower_path")  # every test on both tower paths (see conftest.py)


STACKS = {
    "SGD/SGD": lambda m: m.SGD(0.01, optimizer=m.SGD(0.01)),
    "SGD(mu=0.9)/SGD": lambda m: m.SGD(0.01, mu=0.9, optimizer=m.SGD(0.001)),
    "AdaGrad/SGD": lambda m: m.AdaGrad(optimizer=m.SGD(0.01)),
    "RMSProp/SGD(1e-4)": lambda m: m.RMSProp(optimizer=m.SGD(1e-4)),
    "RMSPropAlpha/SGD(1e-4)": lambda m: m.RMSPropAlpha(optimizer=m.SGD(1e-4)),
    "Adam/SGD(1e-5)": lambda m: m.Adam(optimizer=m.SGD(1e-5)),
    "AdamBaydin/SGD(1e-5)": lambda m: m.AdamBaydin(optimizer=m.SGD(1e-5)),
    "Adam/Adam": lambda m: m.Adam(optimizer=m.Adam()),
    "SGD/SGD/SGD": lambda m: m.SGD(0.01, optimizer=m.SGD(0.01, optimizer=m.SGD(0.01))),
    "SGD/Adam(0.1)": lambda m: m.SGD(0.01, optimizer=m.Adam(0.1)),
    "SGDPerParam/SGD": lambda m: m.SGDPerParam([(n, 0.01) for n in ("layer1.weight", "layer1.bias", "layer2.weight",
                                                                     "layer2.bias")], optimizer=m.SGD(0.01)),
}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    return MLP(64, 32, 10), batches(100)


@pytest.fixture(scope="module")
def reference_losses(setup):
    model, data = setup
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's create_graph=True reference-cycle warning
        return {name: run_wrapper(ref, build, model, data)[0] for name, build in STACKS.items()}


@pytest.mark.parametrize("create_graph", [True, False], ids=["create_graph", "plain_backward"])
@pytest.mark.parametrize("name", list(STACKS))
def test_same_losses_as_reference(setup, reference_losses, name, create_graph):
    model, data = setup
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        losses, mw = run_wrapper(ours, STACKS[name], model, data, create_graph=create_graph)
    expected = reference_losses[name]
    assert len(losses) == len(expected) == 100
    for step, (a, b) in enumerate(zip(losses, expected)):
        assert a == pytest.approx(b, rel=1e-4), f"{name}: step {step} loss {a} vs reference {b}"
    assert expected[-1] < expected[0]  # the oracle really trained
    for p in mw.module.parameters():  # and ours left leaf Parameters with no graph behind
        assert isinstance(p, torch.nn.Parameter) and p.is_leaf and p.grad_fn is None
        assert p.grad is None or p.grad.grad_fn is None
