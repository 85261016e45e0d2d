"""Shareable setups (explorer/share.py) and the classroom mode: a link's query sets the setup (bad values left out
with a message, the rest kept), the Share control gives the setup as a link and as JSON, and ``controls="basic"``
shows the task, the tower, the run bar and the charts and nothing else."""
import json

import ipywidgets as widgets
import pytest

from gdtuo_explore import Explorer
from gdtuo_explore.engine.config import Budget, RunConfig
from gdtuo_explore.explorer.share import query, read_query
from gdtuo_explore.explorer.state import MAX_COMPARED
from helpers import explorer_for, points, trace, wait_until

BASE = RunConfig(steps=100)


def html_text(value: str) -> str:
    import html

    return html.unescape(value)


def tree(widget):
    """Every widget shown under ``widget`` (children of boxes and tabs; a widget with display none is not shown)."""
    if getattr(getattr(widget, "layout", None), "display", None) == "none":
        return
    yield widget
    for child in getattr(widget, "children", ()):
        yield from tree(child)


def test_a_link_sets_every_shared_field():
    setup = read_query("?task=spirals&tower=sgd(0.02)/sgd(1e-5)&controls=basic&seed=3&batch_size=32&steps=40", BASE)
    assert setup.errors == []
    assert setup.controls == "basic"
    c = setup.config
    assert (c.task, c.tower, c.seed, c.batch_size, c.budget) == ("spirals", "sgd(0.02)/sgd(1e-05)", 3, 32,
                                                                Budget("steps", 40))
    assert read_query("epochs=2&model=mlp", BASE).config.budget == Budget("epochs", 2)
    assert read_query("until_stopped=1", BASE).config.budget.unit == "until stopped"


@pytest.mark.parametrize("bad, names", [
    ("task=nope", ["task", "nope", "known tasks"]),
    ("tower=sgd(oops", ["tower", "sgd(oops"]),
    ("seed=x", ["seed", "'x'", "whole number"]),
    ("batch_size=0", ["batch_size", "0"]),
    ("colour=red", ["colour", "unknown setting", "tower"]),
    ("controls=teacher", ["controls", "teacher", "'basic'"]),
    ("model=resnet", ["model", "resnet"]),
])
def test_a_bad_value_in_a_link_is_left_out_with_a_message_naming_it_and_the_rest_is_kept(bad, names):
    good = "steps=30&tower=sgd(0.05)" if "tower" not in bad else "steps=30&seed=4"
    setup = read_query(f"{bad}&{good}", BASE)
    assert len(setup.errors) == 1 and all(name in setup.errors[0] for name in names), setup.errors
    assert setup.config.budget == Budget("steps", 30) and (setup.config.tower == "sgd(0.05)" or setup.config.seed == 4)
    for key in ("task", "model", "tower", "seed", "batch_size"):   # the bad one keeps the default
        if bad.startswith(key):
            assert getattr(setup.config, key) == getattr(BASE, key)


def test_the_query_of_a_setup_reads_back_as_that_setup():
    config = RunConfig(task="spirals", tower="adam(0.01)/sgd(1e-5)", seed=0, batch_size=16, epochs=3)
    text = query(config, "basic")
    assert "seed=0" in text and "tower=adam(0.01)/sgd(1e-05)" in text
    back = read_query(text, RunConfig())
    assert back.errors == [] and back.controls == "basic"
    assert back.config.to_dict() == {**RunConfig().to_dict(), **{k: v for k, v in config.to_dict().items()
                                                                 if k in text or k == "model"}}
    with pytest.raises(ValueError, match="controls='x'"):
        query(config, "x")


def basic_and_more(e):
    """The widgets the basic mode shows, and those it leaves out."""
    basic = [e.task_controls.task, e.tower_editor.widget, e.tower_editor.spec, e.run_controls.run,
             e.run_controls.pause, e.run_controls.step, e.run_controls.stop, e.run_controls.reset,
             e.run_controls.status, *e.charts.figures]
    more = [e.task_controls.model, e.task_controls.batch_size, e.task_controls.budget, e.task_controls.seed,
            e.task_controls.device, e.run_controls.speed, e.compare_panel.widget, e.sweep_panel.widget,
            e.export_panel.widget, e.share_panel.widget]
    return basic, more


def test_the_basic_mode_shows_the_task_the_tower_the_run_bar_and_the_charts_and_nothing_else():
    e, full = Explorer(controls="basic"), Explorer()
    try:
        basic, more = basic_and_more(e)
        shown = set(map(id, tree(e.widget)))
        assert all(id(w) in shown for w in basic) and not any(id(w) in shown for w in more)
        assert not any(isinstance(w, widgets.Tab) for w in tree(e.widget))
        basic, more = basic_and_more(full)
        shown = set(map(id, tree(full.widget)))
        assert all(id(w) in shown for w in basic + more) and full.controls == "full"
    finally:
        e.close()
        full.close()
    with pytest.raises(ValueError, match="controls='simple'.*'basic'"):
        Explorer(controls="simple")


def test_in_voila_the_page_link_sets_up_the_explorer_and_a_bad_value_shows_on_the_page(monkeypatch):
    monkeypatch.setenv("QUERY_STRING", "task=spirals&tower=sgd(0.02)/sgd(1e-5)&controls=basic&seed=minus")
    monkeypatch.setenv("SCRIPT_NAME", "/voila/render/explorer.ipynb")
    e = Explorer()
    try:
        assert (e.state.task, e.state.tower, e.controls) == ("spirals", "sgd(0.02)/sgd(1e-05)", "basic")
        assert e.state.seed == 0 and "seed='minus'" in e.link_errors.value.replace("&#x27;", "'")
        assert id(e.link_errors) in set(map(id, tree(e.widget)))
        e.share_panel.show()
        link = e.share_panel.link.value.replace("&amp;", "&")
        assert "href='/voila/render/explorer.ipynb?task=spirals" in link and "controls=basic" in link
        shared = json.loads(e.share_panel.json.value)
        again = Explorer(config=shared)   # a config given: the page's link is not read
        assert again.state.to_dict() == e.state.to_dict() and again.controls == "full"
        again.close()
    finally:
        e.close()


def test_the_share_control_gives_the_query_and_json_outside_voila_and_says_why_when_the_setup_is_invalid():
    e = Explorer()
    try:
        e.state.set_tower("sgd(0.03)/sgd(1e-4)")
        e.share_panel.show()
        assert "<code class='gd-share-link'>?task=digits" in e.share_panel.link.value
        assert json.loads(e.share_panel.json.value)["config"]["tower"] == "sgd(0.03)/sgd(0.0001)"
        assert e.share_panel.json.layout.display is None
        e.state.batch_size = 0
        e.share_panel.show()
        assert "Nothing to share" in e.share_panel.link.value and "batch_size" in e.share_panel.link.value
        assert e.share_panel.json.layout.display == "none"
    finally:
        e.close()


def test_explorer_json_restores_the_pace_the_open_tab_and_the_overlays_with_their_labels_and_colours(tmp_path):
    from helpers import trace

    e = explorer_for("adam(0.01)/sgd(1e-5)", 15)
    try:
        e.run(wait=True, timeout=120)
        e.state.set_tower("sgd(0.05)/sgd(1e-5)")
        e.run(wait=True, timeout=120)          # the first run becomes an overlay
        e.add_baseline(wait=True, timeout=120)
        e.state.pace, e.state.tab = 10.0, "Sweep"
        shown = [(s.label, s.color, s.config) for s in e.state.compared]
        assert len(shown) == 2
        path = e.export(tmp_path)["explorer"]
    finally:
        e.close()
    again = Explorer(config=path)
    try:
        assert again.state.pace == 10.0 and again.run_controls.speed.value == 10.0
        assert again.state.tab == "Sweep" and again.widget.children[-1].children[1].selected_index == 1
        assert [(s.label, s.color, s.config) for s in again.state.compared] == shown
        for s in again.state.compared:
            assert s.wait(120) == "done"
        for label, color, _ in shown:   # drawn again, each in its colour, under its label
            wait_until(lambda: points(again.charts.loss, label) > 0, f"{label} on the loss chart")
            assert trace(again.charts.loss, label).line.color == color
        again.state.tab = "Export"   # the model drives the tab shown
        assert again.widget.children[-1].children[1].selected_index == 2
    finally:
        again.close()


@pytest.mark.parametrize("change, names", [
    ({"pace": 7}, ["pace=7", "10, 30", "null"]),
    ({"tab": "Charts"}, ["tab='Charts'", "Sweep"]),
    ({"overlays": [{"label": "x"}]}, ["overlay 1", "config"]),
    ({"overlays": [{"config": {"task": "nope"}}]}, ["overlay 1", "nope"]),
])
def test_a_bad_pace_tab_or_overlay_in_a_saved_setup_is_refused_by_name(change, names):
    e = Explorer()
    data = {**e.state.to_dict(), **change}
    e.close()
    with pytest.raises(ValueError) as err:
        Explorer(config=data)
    assert all(name in str(err.value) for name in names), err.value


def test_a_link_sets_the_pace_and_the_open_tab(monkeypatch):
    monkeypatch.setenv("QUERY_STRING", "pace=max&tab=Sweep&steps=20")
    e = Explorer()
    try:
        assert e.state.pace is None and e.state.tab == "Sweep" and e.link_errors.value == ""
        e.share_panel.show()
        assert "pace=max" in e.share_panel.link.value and "tab=Sweep" in e.share_panel.link.value
    finally:
        e.close()
    setup = read_query("pace=7&tab=Charts", BASE)
    assert setup.view == {} and len(setup.errors) == 2 and "pace='7'" in setup.errors[0]


def test_an_overlays_label_colour_and_config_read_back_from_its_link_whatever_its_label_holds():
    base = RunConfig(task="spirals", tower="adam(0.01)/sgd(1e-5)", steps=40, seed=2)
    overlays = [("frozen: adam(0.01)", "#ff7f0e", base.replace(tower="adam(0.01)")),
                ("a; b & c = 100% #1?", "red", base.replace(seed=5, epochs=2, batch_size=16)),
                (None, None, base.replace(task="surface", tower="sgd(0.1)")),
                ("forever", "#2ca02c", base.replace(until_stopped=True))]
    text = query(base, overlays=overlays)
    assert "overlay=label:frozen:+adam(0.01);color:ff7f0e;tower:adam(0.01)" in text   # readable, no '#'
    assert "#" not in text and " " not in text and text.count("overlay=") == 4
    back = read_query(text, RunConfig())
    assert back.errors == []
    assert back.overlays_on(back.config) == overlays
    assert back.overlays[0] == ("frozen: adam(0.01)", "#ff7f0e", {"tower": "adam(0.01)"})   # only what differs


GOOD_OVERLAY = "overlay=label:ok;tower:sgd(0.1)"


@pytest.mark.parametrize("bad, names", [
    ("overlay=tower:sgd(oops", ["overlay 1", "sgd(oops", "left out"]),
    ("overlay=task:nope", ["overlay=", "nope", "known tasks"]),
    ("overlay=colour:red", ["'colour' is not a part", "label, color, task"]),
    ("overlay=label:x;color:not-a-colour", ["color:not-a-colour", "hex digits", "colour name"]),
    ("overlay=seed:x", ["seed:x", "whole number"]),
    ("overlay=sgd(0.1)", ["'sgd(0.1)' is not key:value", "';'"]),
    ("overlay=label:", ["label: is empty"]),
    ("overlay=label:a;label:b", ["label is given twice"]),
])
def test_a_bad_overlay_in_a_link_is_left_out_with_a_message_naming_it_and_the_rest_is_kept(bad, names):
    setup = read_query(f"steps=30&{bad}&{GOOD_OVERLAY}", BASE)
    assert len(setup.errors) == 1 and all(name in setup.errors[0] for name in names), setup.errors
    assert setup.config.budget == Budget("steps", 30)
    assert setup.overlays == [("ok", None, {"tower": "sgd(0.1)"})]


def test_a_link_with_more_overlays_than_the_explorer_keeps_says_which_are_left_out():
    links = "&".join(f"overlay=label:o{i};seed:{i}" for i in range(MAX_COMPARED + 2))
    setup = read_query(links, BASE)
    assert [label for label, _, _ in setup.overlays] == [f"o{i}" for i in range(2, MAX_COMPARED + 2)]
    assert len(setup.errors) == 1 and f"keeps {MAX_COMPARED}" in setup.errors[0] and "first 2" in setup.errors[0]


def test_the_share_link_re_creates_the_overlays_as_the_json_does(monkeypatch):
    """State -> Share link -> Explorer(): the same overlays (labels, colours, configs) as state -> JSON -> Explorer,
    each drawn under its label."""
    import html

    e = explorer_for("adam(0.01)/sgd(1e-5)", 12, seed=3)
    try:
        e.run(wait=True, timeout=120)            # becomes an overlay: another tower, seed and budget than the setup
        e.state.set_tower("sgd(0.05)/sgd(1e-5)")
        e.state.seed, e.state.budget = 0, 10
        e.run(wait=True, timeout=120)
        e.add_baseline(wait=True, timeout=120)
        e.add_compare("sgd(0.02)", name="plain; 100% & more", wait=True, timeout=120)
        shown = [(s.label, s.color, s.config) for s in e.state.compared]
        assert len(shown) == 3 and len({c for _, c, _ in shown}) == 3
        data = e.state.to_dict()
        e.share_panel.show()
        link = html.unescape(e.share_panel.link.value)
    finally:
        e.close()
    text = link.split("<code class='gd-share-link'>?")[1].split("</code>")[0]
    assert text.count("overlay=") == 3 and "overlay=label:frozen:" in text
    from_json = Explorer(config=data)
    try:
        by_json = [(s.label, s.color, s.config) for s in from_json.state.compared]
    finally:
        from_json.close()
    monkeypatch.setenv("QUERY_STRING", text)
    again = Explorer()
    try:
        assert again.link_errors.value == ""
        by_link = [(s.label, s.color, s.config) for s in again.state.compared]
        assert by_link == by_json == shown
        for label, color, _ in shown:
            wait_until(lambda: points(again.charts.loss, label) > 0, f"{label} on the loss chart")
            assert trace(again.charts.loss, label).line.color == color
    finally:
        again.close()


def test_a_bad_overlay_in_the_page_link_is_named_on_the_page_and_the_good_one_is_drawn(monkeypatch):
    monkeypatch.setenv("QUERY_STRING", f"steps=8&pace=max&overlay=tower:sgd(oops&{GOOD_OVERLAY}")
    e = Explorer()
    try:
        assert [s.label for s in e.state.compared] == ["ok"] and e.state.compared[0].config.tower == "sgd(0.1)"
        message = html_text(e.link_errors.value)
        assert "overlay='tower:sgd(oops' (overlay 1) is left out: tower='sgd(oops' is invalid" in message, message
        wait_until(lambda: points(e.charts.loss, "ok") > 0, "the good overlay on the loss chart")
    finally:
        e.close()
