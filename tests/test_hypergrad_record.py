"""Recording hypergradients (HyperOptimizer(record_hypergrads=True)): the history's ``levelK.NAME.hypergrad``
columns and ``step_details()``, checked against the update rule they must satisfy and against PyTorch itself."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gdtuo_explore import HyperOptimizer
from gdtuo_explore.core.columns import hypergrad_column, parse_column, parse_hypergrad_column
from gdtuo_explore.core.tower import Tower


@pytest.fixture(params=["host", "tensor"])
def path(request, monkeypatch):
    """Both paths of a tower: Python floats on the CPU, and the accelerator's tensor path run on the CPU."""
    if request.param == "tensor":
        monkeypatch.setattr(Tower, "default_host", False)
    return request.param


def problem(seed=0):
    """A small real regression problem: a tanh MLP on random data (weights and data from ``seed``)."""
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(64, 5, generator=gen), torch.randn(64, 1, generator=gen)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    return model, lambda: F.mse_loss(model(x), y)


def train(spec, steps=12, **options):
    model, loss = problem()
    opt = HyperOptimizer(model.parameters(), spec, record_hypergrads=True, **options)
    grads, details = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss().backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).clone())
        opt.step()
        details.append(opt.step_details())
    return opt, grads, details


def test_columns_are_named_per_learned_hyperparameter_and_are_not_hyperparameter_columns():
    opt, _, _ = train("adam/sgd(1e-4)/sgd(1e-6)", steps=2)
    h = opt.history()
    hyper = [c for c in h if c.endswith(".hypergrad")]
    assert hyper == ["level1.alpha.hypergrad", "level1.beta1.hypergrad", "level1.beta2.hypergrad",
                     "level2.alpha.hypergrad"]
    assert hypergrad_column(2, "alpha") == "level2.alpha.hypergrad"
    assert parse_hypergrad_column("level1.beta2.hypergrad") == (1, "beta2")
    assert parse_hypergrad_column("level1.beta2") is None
    assert parse_column("level1.alpha.hypergrad") is None   # not a hyperparameter: charts leave it alone
    assert parse_column("level1.alpha") == (1, "alpha")
    assert all(len(h[c]) == 2 for c in hyper)


def test_under_an_sgd_level_each_alpha_moves_by_kappa_times_its_recorded_hypergradient(path):
    kappa, top = 1e-3, 1e-7
    opt, _, _ = train(f"sgd(0.05)/sgd({kappa})/sgd({top})", steps=15)
    h = opt.history()
    assert h["ok"].all()
    assert h["level1.alpha.hypergrad"][0] == 0.0          # the first step has no previous update
    assert np.any(h["level1.alpha.hypergrad"][1:] != 0.0)
    # level 1's alpha moves with level 2's step size of that step (itself learned), level 2's with the fixed top
    a1, a2, g1, g2 = (h[c] for c in ("level1.alpha", "level2.alpha", "level1.alpha.hypergrad",
                                     "level2.alpha.hypergrad"))
    np.testing.assert_allclose(a2[1:], a2[:-1] - top * g2[1:], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(a1[1:], a1[:-1] - a2[1:] * g1[1:], rtol=1e-5, atol=1e-9)


def test_an_adam_level_s_betas_move_in_their_stored_form():
    kappa = 1e-4
    opt, _, _ = train(f"adam(0.01)/sgd({kappa})", steps=10)
    h = opt.history()
    for name in ("beta1", "beta2"):
        raw = np.arctanh(2 * h[f"level1.{name}"] - 1)
        np.testing.assert_allclose(raw[1:], raw[:-1] - kappa * h[f"level1.{name}.hypergrad"][1:], rtol=1e-4,
                                   atol=1e-6)
    a = h["level1.alpha"]
    np.testing.assert_allclose(a[1:], a[:-1] - kappa * h["level1.alpha.hypergrad"][1:], rtol=1e-5, atol=1e-10)


def test_sgd_s_hypergradient_is_minus_the_dot_product_of_two_successive_gradients(path):
    """PyTorch as the oracle: the gradients the model's backward gave, dotted by hand."""
    opt, grads, details = train("sgd(0.05)/sgd(1e-3)", steps=6)
    h = opt.history()
    for t in range(1, 6):
        expected = -float(torch.dot(grads[t], grads[t - 1]))
        assert h["level1.alpha.hypergrad"][t] == pytest.approx(expected, rel=1e-5)
        product = details[t][0]["product"]
        assert product["dot"] == pytest.approx(-expected, rel=1e-5)
        assert product["gradient"]["norm"] == pytest.approx(float(grads[t].norm()), rel=1e-5)
        assert product["direction"]["norm"] == pytest.approx(float(grads[t - 1].norm()), rel=1e-5)
        np.testing.assert_allclose(product["gradient"]["head"], grads[t][:5].tolist(), rtol=1e-6)
        np.testing.assert_allclose(product["direction"]["head"], grads[t - 1][:5].tolist(), rtol=1e-6)


def test_step_details_hold_the_values_before_and_after_and_the_hypergradient_of_the_history(path):
    opt, _, details = train("sgd(0.05)/sgd(1e-3)/sgd(1e-7)", steps=5)
    h = opt.history()
    assert details[0][0]["product"] is None and details[0][0]["values"]["alpha"]["hypergrad"] == 0.0
    last = details[-1]
    assert [d["level"] for d in last] == [1, 2] and [d["kind"] for d in last] == ["sgd", "sgd"]
    assert [d["moved_by"] for d in last] == ["sgd", "sgd"]
    for d in last:
        k = d["level"]
        v = d["values"]["alpha"]
        assert v["before"] == pytest.approx(h[f"level{k}.alpha"][-2], rel=1e-7)
        assert v["after"] == pytest.approx(h[f"level{k}.alpha"][-1], rel=1e-7)
        assert v["hypergrad"] == pytest.approx(h[f"level{k}.alpha.hypergrad"][-1], rel=1e-7)
    # level 2's "gradient" is level 1's hypergradient vector at this step, its "direction" the one of the step before
    product = last[1]["product"]
    assert product["gradient"]["head"] == pytest.approx([h["level1.alpha.hypergrad"][-1]], rel=1e-6)
    assert product["direction"]["head"] == pytest.approx([h["level1.alpha.hypergrad"][-2]], rel=1e-6)
    g, d = h["level1.alpha.hypergrad"][-1], h["level1.alpha.hypergrad"][-2]   # one entry each: kept whole
    assert product["dot"] == pytest.approx(g * d, rel=1e-6) and product["dot"] != 0
    assert product["gradient"]["norm"] == pytest.approx(abs(g), rel=1e-6)
    assert product["direction"]["norm"] == pytest.approx(abs(d), rel=1e-6)
    assert json_ready(last)


def json_ready(value) -> bool:
    """Plain data only: dicts, lists, str, float, int, None."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_ready(v) for k, v in value.items())
    if isinstance(value, list):
        return all(json_ready(v) for v in value)
    return value is None or isinstance(value, (str, float, int))


def test_a_clipped_hypergradient_is_recorded_as_the_level_above_used_it():
    opt, _, _ = train("sgd(0.05)/sgd(1e-3)", steps=8, hypergrad_clip=1e-3)
    h = opt.history()
    assert np.abs(h["level1.alpha.hypergrad"]).max() == pytest.approx(1e-3)
    np.testing.assert_allclose(h["level1.alpha"][1:], h["level1.alpha"][:-1] - 1e-3 * h["level1.alpha.hypergrad"][1:],
                               rtol=1e-6)


def test_a_refused_step_ends_both_histories_together():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = HyperOptimizer([w], "sgd(0.1)/sgd(0.1)", record_hypergrads=True)
    for i in range(4):
        opt.zero_grad()
        (w.sum() * (math.inf if i == 2 else 1.0)).backward()
        opt.step()
    h = opt.history()
    assert list(h["ok"]) == [True, True, False]
    assert len(h["level1.alpha.hypergrad"]) == 3


def test_without_the_option_nothing_is_recorded_and_step_details_says_how_to_turn_it_on():
    model, loss = problem()
    opt = HyperOptimizer(model.parameters(), "sgd(0.05)/sgd(1e-3)")
    opt.zero_grad()
    loss().backward()
    opt.step()
    assert not [c for c in opt.history() if c.endswith(".hypergrad")]
    with pytest.raises(ValueError, match="record_hypergrads=True"):
        opt.step_details()
    with pytest.raises(ValueError, match="record_hypergrads='yes'"):
        HyperOptimizer(model.parameters(), "sgd", record_hypergrads="yes")


def test_a_one_level_tower_records_no_hypergradient_and_has_no_details():
    opt, _, details = train("sgd(0.05)", steps=3)
    assert not [c for c in opt.history() if c.endswith(".hypergrad")]
    assert details[-1] == []
