"""Setting one hyperparameter of one level between steps (HyperOptimizer.set_hyperparameter, Tower's), in natural
units through the level's stored form; bad input is refused naming it and changes nothing."""
import math

import numpy as np
import pytest
import torch

from gdtuo_explore import HyperOptimizer
from gdtuo_explore.core.tower import Tower


@pytest.fixture(params=["host", "tensor"])
def path(request, monkeypatch):
    if request.param == "tensor":
        monkeypatch.setattr(Tower, "default_host", False)
    return request.param


def quadratic_opt(spec, **options):
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    opt = HyperOptimizer([w], spec, record_hypergrads=True, **options)

    def step():
        opt.zero_grad()
        (w * w * torch.tensor([1.0, 3.0, 10.0])).sum().backward()
        opt.step()
    return opt, step


def test_a_learned_alpha_goes_on_learning_from_the_value_set(path):
    opt, step = quadratic_opt("sgd(0.01)/sgd(1e-4)")
    for _ in range(3):
        step()
    assert opt.set_hyperparameter(1, "alpha", 0.003) == pytest.approx(opt.history()["level1.alpha"][-1])
    assert opt.hyperparameters()[0]["alpha"] == pytest.approx(0.003)
    step()
    h = opt.history()
    assert h["level1.alpha"][-1] == pytest.approx(0.003 - 1e-4 * h["level1.alpha.hypergrad"][-1], rel=1e-6)


@pytest.mark.parametrize("spec,name,value", [("adam/sgd(1e-5)", "beta1", 0.5), ("adam/sgd(1e-5)", "beta2", 0.9),
                                             ("rmsprop/sgd(1e-5)", "alpha", 0.04),
                                             ("rmsprop/sgd(1e-5)", "gamma", 0.7)])
def test_a_value_is_set_in_natural_units_through_the_stored_form(path, spec, name, value):
    opt, step = quadratic_opt(spec)
    step()
    opt.set_hyperparameter(1, name, value)
    assert opt.hyperparameters()[0][name] == pytest.approx(value, rel=1e-6)
    step()
    assert math.isfinite(opt.hyperparameters()[0][name])


def test_a_fixed_value_keeps_the_new_value_and_the_history_shows_when_it_changed(path):
    opt, step = quadratic_opt("sgd(0.01)/sgd(1e-4)")
    for _ in range(3):
        step()
    assert opt.set_hyperparameter(2, "alpha", 1e-3) == pytest.approx(1e-4)
    step()
    step()
    h = opt.history()
    np.testing.assert_allclose(h["level2.alpha"], [1e-4, 1e-4, 1e-4, 1e-3, 1e-3])
    # the level above moves level 1 with the new kappa from the next step on
    assert h["level1.alpha"][3] == pytest.approx(h["level1.alpha"][2] - 1e-3 * h["level1.alpha.hypergrad"][3],
                                                 rel=1e-6)


def test_fixed_values_survive_a_checkpoint():
    opt, step = quadratic_opt("sgd(0.01)/sgd(1e-4)")
    step()
    opt.set_hyperparameter(2, "alpha", 5e-4)
    again, _ = quadratic_opt("sgd(0.01)/sgd(1e-4)")
    again.load_state_dict(opt.state_dict())
    assert again.hyperparameters()[1]["alpha"] == 5e-4


@pytest.mark.parametrize("level,name,value,message", [
    (0, "alpha", 0.1, r"level=0 is out of range: this tower has levels 1 to 2"),
    (3, "alpha", 0.1, r"level=3 is out of range"),
    ("1", "alpha", 0.1, r"level='1' is out of range"),
    (1, "beta1", 0.5, r"level 1 \(sgd\) has no hyperparameter 'beta1'; its hyperparameters: alpha, mu"),
    (1, "alpha", math.nan, r"alpha=nan is invalid for level 1 \(sgd\): must be a finite number >= 0"),
    (1, "alpha", math.inf, r"alpha=inf is invalid"),
    (1, "alpha", -0.1, r"alpha=-0.1 is invalid"),
    (1, "alpha", "0.1", r"alpha='0.1' is invalid"),
    (1, "alpha", True, r"alpha=True is invalid"),
    (1, "mu", 1.0, r"mu=1.0 is invalid for level 1 \(sgd\): must be in the interval \[0, 1\)"),
])
def test_bad_input_is_refused_naming_it_and_changes_nothing(path, level, name, value, message):
    opt, step = quadratic_opt("sgd(0.01)/sgd(1e-4)")
    step()
    before = opt.hyperparameters()
    with pytest.raises(ValueError, match=message):
        opt.set_hyperparameter(level, name, value)
    assert opt.hyperparameters() == before
    with pytest.raises(ValueError, match="group=1 is invalid: this optimizer has 1 parameter group"):
        opt.set_hyperparameter(1, "alpha", 0.1, group=1)


def test_a_beta_its_stored_form_cannot_hold_is_refused():
    opt, step = quadratic_opt("adam/sgd(1e-5)")
    step()
    before = opt.hyperparameters()
    with pytest.raises(ValueError, match=r"level1.beta1=0.99999999 cannot be stored"):
        opt.set_hyperparameter(1, "beta1", 0.99999999)
    assert opt.hyperparameters() == before


def test_a_step_size_outside_alpha_bounds_is_refused():
    opt, step = quadratic_opt("sgd(0.01)/sgd(1e-4)", alpha_bounds=(1e-4, 0.1))
    step()
    with pytest.raises(ValueError, match=r"level1.alpha=0.5 is outside this tower's alpha_bounds \(0.0001, 0.1\)"):
        opt.set_hyperparameter(1, "alpha", 0.5)
    assert opt.hyperparameters()[0]["alpha"] <= 0.1
