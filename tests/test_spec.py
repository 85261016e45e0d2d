"""Tower specs: parsing, canonical text, round trips and errors."""
import pytest

from gdtuo_explore import SGD, Adam, AdaGrad, RMSProp, RMSPropAlpha, AdamBaydin, parse_tower


@pytest.mark.parametrize("spec,canonical", [
    ("sgd", "sgd"),
    ("SGD(0.1)/SGD(1e-4)", "sgd(0.1)/sgd(0.0001)"),
    ("adam(alpha=1e-3)/sgd(1e-5)", "adam/sgd(1e-05)"),
    ("adam/adam", "adam/adam"),
    ("sgd(0.01, mu=0.9)/adam(0.1)", "sgd(mu=0.9)/adam(0.1)"),
    ("rmsprop(learn=alpha)/sgd(1e-4)", "rmsprop(learn=alpha)/sgd(0.0001)"),
    ("rmsprop(0.02, 0.9)/sgd(1e-4)", "rmsprop(0.02, gamma=0.9)/sgd(0.0001)"),
    ("sgd(0.1, learn=alpha+mu)/sgd", "sgd(0.1, learn=alpha+mu)/sgd"),
    ("adagrad(learn=none)/sgd", "adagrad(learn=none)/sgd"),
    (" adam ( 0.01 , beta1 = 0.8 ) / sgd ( 1e-5 ) ", "adam(0.01, beta1=0.8)/sgd(1e-05)"),
    ("sgd_per_param(0.05)/sgd", "sgd_per_param(0.05)/sgd"),
    ("adam(log_eps=-6)/sgd", "adam(log_eps=-6.0)/sgd"),
])
def test_canonical_form_and_round_trip(spec, canonical):
    tower = parse_tower(spec)
    assert str(tower) == canonical
    assert parse_tower(str(tower)) == tower


def test_nesting_equals_parsing():
    assert parse_tower("adam/sgd(1e-5)") == Adam(optimizer=SGD(1e-5))
    assert parse_tower("rmsprop(learn=alpha)/sgd(1e-4)") == RMSPropAlpha(optimizer=SGD(1e-4))
    assert parse_tower("adam(learn=alpha)/sgd(1e-5)") == AdamBaydin(optimizer=SGD(1e-5))
    assert parse_tower("adagrad/adagrad") == AdaGrad(optimizer=AdaGrad())
    assert parse_tower("adam/sgd(1e-5)") != Adam(optimizer=SGD(1e-4))


def test_tall_tower_round_trips():
    spec = "/".join(["sgd(0.01)"] + ["sgd(0.001)"] * 49)
    tower = parse_tower(spec)
    assert tower.height() == 50
    assert parse_tower(str(tower)) == tower


def test_sgd_learns_mu_only_when_nonzero_by_default():
    assert SGD(0.1).learn == ("alpha",)
    assert SGD(0.1, mu=0.5).learn == ("alpha", "mu")
    assert SGD(0.1, learn="alpha+mu").learn == ("alpha", "mu")
    assert RMSProp().learn == ("alpha", "gamma") and Adam().learn == ("alpha", "beta1", "beta2")


@pytest.mark.parametrize("spec,fragments", [
    ("adma/sgd", ["unknown optimizer 'adma'", "known optimizers", "adam(alpha=0.001"]),
    ("adam/sgd(", ["unbalanced '('"]),
    ("adam//sgd", ["empty level"]),
    ("adam/sgd(x)", ["'x'", "not a number"]),
    ("adam(gamma=0.9)", ["adam has no hyperparameter 'gamma'", "alpha, beta1, beta2, log_eps"]),
    ("sgd(1, 2, 3)", ["positional value '3'", "at most 2"]),
    ("sgd(-1)", ["alpha=-1.0", "sgd", ">= 0"]),
    ("adam(beta1=1.0)", ["beta1=1.0", "open interval (0, 1)"]),
    ("sgd(nan)", ["alpha=nan"]),
    ("adam(learn=gamma)", ["learn names 'gamma'", "alpha, beta1, beta2"]),
    ("sgd(alpha=1, alpha=2)", ["given twice"]),
    ("", ["non-empty string"]),
])
def test_bad_specs(spec, fragments):
    with pytest.raises(ValueError) as err:
        parse_tower(spec)
    for fragment in fragments:
        assert fragment in str(err.value)
