"""Divergence as data: the tower's NonFinite report, the engine's Divergence record and the exploding-loss rule."""
import math

import numpy as np
import pytest

from gdtuo_explore.core.nonfinite import NonFinite
from gdtuo_explore.engine.divergence import Divergence, ExplodingLoss, nonfinite

REFUSED = "; the step was refused and the weights and hyperparameters kept their last finite values"


@pytest.mark.parametrize("report,sentence", [
    (NonFinite(6, "gradient"), "step 6: non-finite the loss or the gradient" + REFUSED),
    (NonFinite(9, "update"), "step 9: non-finite the weights' update" + REFUSED),
    (NonFinite(3, "hyperparameter", ("level1.alpha", "level2.alpha")),
     "step 3: non-finite level1.alpha, level2.alpha" + REFUSED),
    (NonFinite(None, "unknown"), "a hyperparameter or the weights' update became non-finite"),
])
def test_nonfinite_report_sentences(report, sentence):
    assert report.message == str(report) == sentence


LOSSES = np.array([2.0, 1.9, math.nan, 1.7])  # steps 11..14 of a run (first = 10)


@pytest.mark.parametrize("losses,report,history,message", [
    (np.array([2.0, 1.9]), None, None, None),
    (LOSSES, None, None, "diverged at step 13: non-finite train loss (nan)"),
    (LOSSES, NonFinite(13, "gradient"), {}, "diverged at step 13: non-finite train loss (nan)"),
    (np.array([2.0, 1.9]), NonFinite(12, "gradient"), {}, "diverged at step 12: non-finite gradient"),
    (np.array([2.0, 1.9]), NonFinite(11, "update"), {}, "diverged at step 11: non-finite weights' update"),
    (LOSSES, NonFinite(12, "hyperparameter", ("level1.alpha",)), {"level1.alpha": np.array([0.1, math.inf])},
     "diverged at step 12: non-finite level1.alpha (inf)"),
    (LOSSES, NonFinite(13, "hyperparameter", ("level1.beta1",)), {"level1.beta1": np.array([0.9, 0.9, -math.inf])},
     "diverged at step 13: non-finite train loss (nan), level1.beta1 (-inf)"),
])
def test_nonfinite_rule_finds_the_first_bad_step(losses, report, history, message):
    found = nonfinite(10, losses, history, report)
    assert (found.message if found else None) == message
    if found:
        assert found.kind == "non-finite" and str(found) == message


def test_exploding_loss_sentence():
    d = Divergence(412, "exploding loss", smoothed=812345.0, start=2.3026, factor=100.0)
    assert d.message == "diverged at step 412: the train loss (smoothed 8.12e+05) exceeded 100x its start (2.3)"


@pytest.mark.parametrize("sizes", [[60], [7, 23, 30], [1] * 60, [19, 1, 40]])
def test_exploding_loss_rule_over_fetches(sizes):
    """The smoothed loss is the trailing mean over 20 steps, also across fetches; the start is the first loss."""
    losses = np.concatenate([np.full(30, 2.0), np.full(30, 250.0)])
    expected = next(i + 1 for i in range(60) if losses[max(0, i - 19):i + 1].mean() > 200)
    rule, first, found = ExplodingLoss(100.0), 0, None
    for n in sizes:
        found = found or rule.check(first, losses[first:first + n])
        first += n
    assert found.step == expected and found.start == 2.0
    assert found.smoothed == pytest.approx(losses[expected - 20:expected].mean())


@pytest.mark.parametrize("losses", [
    np.full(50, 2.0) * np.linspace(1, 150, 50),      # grows 150x: the 20-step mean crosses 100x some steps later
    np.array([0.0, 5.0, 9.0]),                        # no positive start: the rule is off
    np.concatenate([[2.0], np.full(5, 1e4), np.full(100, 1.0)]),  # a spike high enough to lift the mean over 100x
    np.concatenate([[2.0], [300.0], np.full(100, 1.0)]),          # a spike the mean smooths out: no divergence
])
def test_exploding_loss_rule_is_the_trailing_mean(losses):
    found = ExplodingLoss(100.0).check(0, losses)
    means = [losses[max(0, i - 19):i + 1].mean() for i in range(len(losses))]
    expected = next((i + 1 for i in range(1, len(losses)) if losses[0] > 0 and means[i] > 100 * losses[0]), None)
    assert (found.step if found else None) == expected
