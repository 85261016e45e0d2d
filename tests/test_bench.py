"""The benchmark's own checks: it times only towers that stay finite (a refused step skips work)."""
import pytest
import torch

from gdtuo_explore.bench.steps import Stepper, halving_tower, ours, reference_module, wrapper
from gdtuo_explore.core import parse_tower


@pytest.mark.parametrize("base,height", [("adam", 3), ("sgd", 49)])
def test_halving_tower_halves_the_step_size_level_by_level(base, height):
    levels = parse_tower(halving_tower(base, height, alpha=1e-5)).levels()
    assert [level.kind for level in levels] == [base] * (height + 1)
    assert levels[0].values == type(levels[0])().values  # the weights' optimizer keeps its defaults
    alphas = [level.values["alpha"] for level in levels[1:]]
    assert alphas[0] == 1e-5
    for above, below in zip(alphas[1:], alphas):
        assert above == pytest.approx(below / 2, rel=1e-2)  # written with 3 significant digits


def test_a_diverged_tower_is_detected_and_a_stable_one_is_not():
    cpu = torch.device("cpu")
    unstable = Stepper("x", "mlp", cpu, ours("adam/sgd(1e-5)/sgd(1e-5)/sgd(1e-5)"))  # SGD above Adam: ~1e3 steps
    stable = Stepper("y", "mlp", cpu, ours(halving_tower("adam", 5)))
    for _ in range(12):
        unstable.step()
        stable.step()
    assert unstable.diverged() and not stable.diverged()


def test_a_diverged_reference_wrapper_is_detected_and_a_stable_one_is_not():
    """The reference package has no guard: its weights and hyperparameters themselves are checked."""
    ref = reference_module()
    assert ref is not None  # a test dependency
    cpu = torch.device("cpu")
    stable = Stepper("r", "mlp", cpu, wrapper(ref, lambda g: g.Adam(optimizer=g.SGD(1e-5))), "wrapper")
    unstable = Stepper("u", "mlp", cpu, wrapper(ref, lambda g: g.Adam(optimizer=g.SGD(1e-5, optimizer=g.SGD(
        1e-5, optimizer=g.SGD(1e-5))))), "wrapper")  # as above: nan after 5 steps
    for _ in range(8):
        stable.step()
        unstable.step()
    assert not stable.diverged()
    assert unstable.diverged()


def test_the_parts_to_run_are_checked():
    from gdtuo_explore.bench.steps import main

    with pytest.raises(SystemExit) as stop:
        main(["--only", "memory,nope"])
    assert stop.value.code == 2
