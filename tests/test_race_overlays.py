"""Overlays that race (gdtuo_explore.explorer.state, compare_panel), without a browser: full-spec labels with the
default kappa, names, colours fixed by name or role across Clear and Reset, the Speed setting on every run."""
import pytest

from helpers import LONG, explorer_for, no_observer_errors, text, wait_until
from gdtuo_explore.explorer import tower_edits


@pytest.mark.parametrize("spec, full", [("sgd(0.001)/sgd", "sgd(0.001)/sgd(0.01)"),
                                        ("adam/sgd(1e-5)", "adam(0.001)/sgd(1e-05)"),
                                        ("sgd(mu=0.9)/sgd", "sgd(0.01, mu=0.9)/sgd(0.01)"),
                                        ("sgd(0.01, learn=none)/adam(beta1=0.5)",
                                         "sgd(0.01, learn=none)/adam(0.001, beta1=0.5)")])
def test_full_spec_writes_every_step_size_and_parses_to_the_same_tower(spec, full):
    assert tower_edits.full_spec(spec) == full
    assert tower_edits.canonical(full) == tower_edits.canonical(spec)


def test_labels_names_and_colours_fixed_across_clear_and_reset():
    e = explorer_for("sgd(0.0001)/sgd", 50, task="surface")
    try:
        plain = e.add_compare("sgd(0.0001)", name="plain")
        frozen = e.add_baseline()
        tower = e.add_compare("sgd(0.0001)/sgd(1e-8)", name="tower")
        assert [x.label for x in e.state.compared] == ["plain: sgd(0.0001)", "frozen: sgd(0.0001)",
                                                      "tower: sgd(0.0001)/sgd(1e-08)"]
        colours = {x.label: x.color for x in (plain, frozen, tower)}
        assert len(set(colours.values())) == 3
        e.run(wait=True, timeout=60)
        assert e.state.current.label.endswith(": sgd(0.0001)/sgd(0.01)")   # the default kappa, written out
        assert e.state.current.color not in colours.values()
        e.state.clear_compared()
        e.reset()
        again = [e.add_compare("sgd(0.0001)/sgd(1e-8)", name="tower"), e.add_baseline(),
                 e.add_compare("sgd(0.0001)", name="plain")]   # another order
        assert {x.label: x.color for x in again} == colours
        for x in again:
            x.wait(60)
        no_observer_errors(e)
    finally:
        e.close()


def test_a_refused_tower_in_the_compare_bar_shows_why_and_adds_nothing():
    e = explorer_for("sgd(0.0001)/sgd", 50, task="surface")
    try:
        panel = e.compare_panel
        panel.spec.value = "sgd(0.01"
        assert not panel.add_compare()
        assert "spec='sgd(0.01' is invalid" in text(panel.error) and e.state.compared == []
        panel.spec.value, panel.name.value = "sgd(0.01)", "plain"
        assert panel.add_compare() and panel.error.value == ""
        assert [x.label for x in e.state.compared] == ["plain: sgd(0.01)"]
        e.state.compared[0].wait(60)
    finally:
        e.close()


def test_the_speed_setting_applies_to_every_run_of_a_race():
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", LONG, task="surface", pace=30.0)
    try:
        plain = e.add_compare("sgd(0.0001)", name="plain")
        e.run()
        wait_until(lambda: plain.run is not None and e.current_run is not None, "both runs to be built")
        assert plain.run.pace == 30.0 and e.current_run.pace == 30.0
        e.state.pace = 10.0
        assert plain.run.pace == 10.0 and e.current_run.pace == 10.0
        no_observer_errors(e)
    finally:
        e.close()
