"""Clicks handled in the order they were made: :func:`keep_page_order`.

JupyterLab (4.4 and later, by default) sends the messages of every widget to one kernel subshell, a thread of its
own, so that widgets answer while a cell runs. ipykernel 7.4 overrides that choice widget by widget: it
sends the page's messages for a widget to the shell from which the kernel last sent that widget a message, to route
the answer to a request back to the loop that asked. The explorer's widgets are sent messages from the cell that made
them (the main shell), from click handlers (the subshell) and from the engine's threads, so the page's messages to
different widgets were handled in two threads at once, and not in the order they were sent. Stop, Clear overlays,
Reset and Run clicked in quick succession ran as Stop, Clear overlays, Run, Reset whenever Clear overlays (which waits
for the overlays' threads to end) still ran in the main shell when Run reached the subshell: the new run was
forgotten at once, and the stopped one stayed as an overlay.

:func:`keep_page_order` undoes the override for a widget and every widget that is, or later becomes, its child: the
kernel handles each message in the shell the page sent it to (JupyterLab's setting "Kernel comms over subshells"),
so the explorer's widgets share one thread and their messages keep the page's order. With that setting at "one
subshell per comm" each widget has a thread of its own again and clicks on different widgets may overtake each
other.

This replaces a method of ipykernel's comms that ipykernel may change in any release: it was made for the ipykernel
versions in :data:`MADE_FOR` (ipykernel 7.1 to 7.3 route each message to the shell the page chose, so the hook is
not needed there and they do not read it), and ``tests/test_message_order.py`` fails, naming what changed, when the
installed ipykernel differs or no longer routes through the hook.
"""
from __future__ import annotations

import ipywidgets as widgets

#: The ipykernel versions this module was made for and checked with, in a real browser too.
MADE_FOR = {"ipykernel": ">=7.4,<7.5"}


def _the_page_choice(data, default):
    """ipykernel's ``Comm._reply_subshell_for(data, default)``: ``default`` is the subshell the page sent to."""
    return default


def keep_page_order(widget: widgets.Widget) -> None:
    """Have the kernel handle the page's messages to ``widget``, to its children and to every widget later put into a
    container among them, in the shell the page sent them to (see the module docstring)."""
    if widget.comm is not None:
        widget.comm._reply_subshell_for = _the_page_choice   # the hook ipykernel 7.4 reads; 7.1 to 7.3 have none
    if isinstance(widget, widgets.Box):
        if not getattr(widget, "_keeps_page_order", False):
            widget._keeps_page_order = True
            widget.observe(lambda change: [keep_page_order(child) for child in change["new"]], "children")
        for child in widget.children:
            keep_page_order(child)


def keeps_page_order(widget: widgets.Widget) -> bool:
    """Whether the kernel handles the page's messages to ``widget`` where the page sent them."""
    return widget.comm is not None and getattr(widget.comm, "_reply_subshell_for", None) is _the_page_choice
