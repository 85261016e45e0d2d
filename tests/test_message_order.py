"""The explorer has the kernel handle the page's messages to each of its widgets in the shell the page sent them
to (gdtuo_explore/explorer/message_order.py), also for widgets made after it was shown. The browser test
(test_browser_explorer.py::test_clicks_in_quick_succession_are_handled_in_order) checks the order in a real kernel."""
import inspect
from importlib.metadata import version

import ipywidgets as widgets
from packaging.specifiers import SpecifierSet

from gdtuo_explore import Explorer
from gdtuo_explore.explorer import message_order
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


def test_ipykernel_is_the_version_message_order_py_was_made_for():
    installed, made_for = version("ipykernel"), message_order.MADE_FOR["ipykernel"]
    assert installed in SpecifierSet(made_for), (
        f"ipykernel {installed} is installed, but gdtuo_explore/explorer/message_order.py was made for "
        f"ipykernel{made_for}, whose kernel re-routes each comm's messages through Comm._reply_subshell_for. Check "
        "whether clicks still keep their order without it (tests/test_browser_explorer.py::"
        "test_clicks_in_quick_succession_are_handled_in_order), then widen MADE_FOR or drop the module")


def test_ipykernel_routes_the_pages_comm_messages_through_the_hook_keep_page_order_replaces():
    from ipykernel.comm.comm import BaseComm
    from ipykernel.kernelbase import Kernel

    assert list(inspect.signature(BaseComm._reply_subshell_for).parameters) == ["self", "data", "default"], \
        "ipykernel's Comm._reply_subshell_for(data, default) changed its signature"
    routing = inspect.getsource(Kernel.shell_channel_thread_main)
    assert 'getattr(comm, "_reply_subshell_for", None)' in routing and \
        'route(content.get("data"), subshell_id)' in routing, \
        "ipykernel no longer routes the page's comm messages through Comm._reply_subshell_for(data, subshell_id)"
