"""The explorer has the kernel handle the page's messages to each of its widgets in the shell the page sent them
to (gdtuo_explore/explorer/message_order.py), also for widgets made after it was shown. The browser test
(test_browser_explorer.py::test_clicks_in_quick_succession_are_handled_in_order) checks the order in a real kernel."""
import ipywidgets as widgets

from gdtuo_explore import Explorer
from gdtuo_explore.explorer.message_order import keep_page_order, keeps_page_order


def tree(widget):
    """``widget`` and every widget inside it (through containers' children)."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from tree(child)


def routed(widget, page_choice="subshell-1", last_sent_from=None):
    """Where ipykernel would handle the page's next message to ``widget``, sent to ``page_choice``, after the kernel
    last sent the widget a message from the shell ``last_sent_from`` (ipykernel 7 remembers it on the comm)."""
    widget.comm._reply_subshell_id = last_sent_from
    route = getattr(widget.comm, "_reply_subshell_for", None)
    return route({"method": "custom", "content": {"event": "click"}}, page_choice) if route else page_choice


def test_every_widget_of_the_explorer_is_handled_where_the_page_sent_it():
    e = Explorer()
    try:
        shown = list(tree(e.widget))
        assert len(shown) > 50 and all(keeps_page_order(w) for w in shown), \
            [type(w).__name__ for w in shown if not keeps_page_order(w)]
        assert routed(e.run_controls.run) == "subshell-1"
        assert routed(e.run_controls.reset, page_choice=None, last_sent_from="subshell-1") is None
    finally:
        e.close()


def test_widgets_made_later_are_handled_where_the_page_sent_them_too():
    e = Explorer()
    try:
        before = len(list(tree(e.widget)))
        e.state.set_tower("sgd(0.01)/sgd(0.01)/sgd(0.01)/sgd(0.01)")   # two more level charts
        e.state.unit, e.state.budget = "steps", 20
        e.run(wait=True, timeout=60)
        e.add_baseline(wait=True, timeout=60)                          # a compare row with its remove button
        shown = list(tree(e.widget))
        assert len(shown) > before
        assert all(keeps_page_order(w) for w in shown), [type(w).__name__ for w in shown if not keeps_page_order(w)]
    finally:
        e.close()


def test_a_widget_put_into_a_container_later_keeps_the_page_order():
    box = widgets.VBox([widgets.Button()])
    keep_page_order(box)
    late = widgets.Button(description="late")
    inner = widgets.HBox()
    box.children = (*box.children, inner)
    inner.children = (late,)
    assert all(keeps_page_order(w) for w in (box, *box.children, late))
    assert not keeps_page_order(widgets.Button())   # a widget outside the explorer is left alone
    assert routed(late, page_choice="subshell-2", last_sent_from=None) == "subshell-2"
