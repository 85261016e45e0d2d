"""The benchmark's own checks: it times only towers that stay finite (a refused step skips work)."""
import torch

from gdtuo_explore.bench.steps import Stepper, halving_tower, ours, reference_module, wrapper


def test_halving_tower_halves_the_step_size_level_by_level():
    assert halving_tower("adam", 3) == "adam/adam(1e-05)/adam(5e-06)/adam(2.5e-06)"


def test_a_diverged_tower_is_detected_and_a_stable_one_is_not():
    cpu = torch.device("cpu")
    unstable = Stepper("x", "mlp", cpu, ours("adam/sgd(1e-5)/sgd(1e-5)/sgd(1e-5)"))  # SGD above Adam: ~1e3 steps
    stable = Stepper("y", "mlp", cpu, ours(halving_tower("adam", 5)))
    for _ in range(12):
        unstable.step()
        stable.step()
    assert unstable.diverged() and not stable.diverged()


def test_the_reference_wrapper_is_never_called_diverged():
    ref = reference_module()
    assert ref is not None  # a test dependency
    s = Stepper("r", "mlp", torch.device("cpu"), wrapper(ref, lambda g: g.Adam(optimizer=g.SGD(1e-5))), "wrapper")
    s.step()
    assert not s.diverged()
