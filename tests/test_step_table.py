"""The step table (gdtuo_explore.explorer.step_table), without a browser: a paused run's last update per level, from
Run.last_update(), in a run the explorer made with recorded hypergradients."""
import re

import pytest

from helpers import explorer_for, no_observer_errors, text, wait_until
from gdtuo_explore.explorer.step_table import HINT, step_html


def _numbers(row: str) -> list[float]:
    return [float(x) for x in re.findall(r"<td>([-+0-9.e]+)</td>", row)]


def test_step_shows_before_hypergradient_after_and_the_dot_product_of_an_sgd_level():
    kappa = 1e-8
    e = explorer_for(f"sgd(0.0001)/sgd({kappa})", 1000, task="surface")
    try:
        assert e.step_table.widget.value == HINT
        e.step(3)
        wait_until(lambda: "Step 3," in e.step_table.widget.value, "the step table of step 3")
        run = e.current_run
        assert run.config.record_hypergrads   # the explorer records hypergradients
        value = e.step_table.widget.value
        rows = re.findall(r"<tr><td>alpha</td>.*?</tr>", value)
        assert len(rows) == 1
        before, hypergrad, after = _numbers(rows[0])
        assert after == pytest.approx(before - kappa * hypergrad, rel=1e-4)   # SGD above: the update itself
        assert after == pytest.approx(run.optimizer.hyperparameters()[0]["alpha"], rel=1e-5)   # what it is now
        product = run.last_update()["levels"][0]["product"]
        shown = text(e.step_table.widget)
        assert f"dot product: {product['dot']:.6g}" in shown
        assert f"norm {product['gradient']['norm']:.4g}" in shown and "previous update's direction" in shown
        e.step(2)
        wait_until(lambda: "Step 5," in e.step_table.widget.value, "the table to follow the next Step")
        e.run()
        wait_until(lambda: e.step_table.widget.value == HINT, "the hint while the run trains")
        no_observer_errors(e)
    finally:
        e.close()


def test_levels_without_an_sgd_product_and_a_tower_that_learns_nothing():
    update = {"step": 4, "levels": [{"step": 4, "level": 1, "kind": "adam", "moved_by": "sgd", "product": None,
                                     "values": {"beta1": {"before": 0.9, "hypergrad": -1.5, "after": 0.91}}}]}
    html = step_html(update)
    assert "Level 1</b> · adam, moved by level 2 (sgd)" in html and "dot product" not in html
    assert _numbers(re.findall(r"<tr><td>beta1</td>.*?</tr>", html)[0]) == [0.9, -1.5, 0.91]
    assert "no hypergradient" in step_html({"step": 4, "levels": []})
