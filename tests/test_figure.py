"""The charts' FigureWidget brings plotly's 5 MB page-side bundle once per page, not once per chart (the page side
is checked by the real-browser tests, which draw every chart through it)."""
import json

import numpy as np
import pytest

import plotly.graph_objects as go

from gdtuo_explore.explorer import figure
from helpers import explorer_for


def synced_bytes(widget) -> int:
    return len(json.dumps(widget.get_state(), default=str))


def test_each_chart_sends_a_small_module_and_one_widget_carries_the_bundle():
    plain = go.FigureWidget()
    assert synced_bytes(plain) > 4_000_000                       # what every chart sent before
    e = explorer_for("adam(0.01)/sgd(1e-5)/sgd(1e-6)", 10)
    charts = e.charts.figures
    assert len(charts) >= 4 and all(isinstance(fig, figure.Figure) for fig in charts)
    assert all(synced_bytes(fig) < 20_000 for fig in charts)
    shared = figure.bundle()
    assert shared is figure.bundle() and synced_bytes(shared) > 4_000_000
    assert shared.bundle == figure.BUNDLE.read_text(encoding="utf-8")
    e.close()


def test_a_closed_bundle_is_replaced():
    first = figure.bundle()
    first.close()
    second = figure.bundle()
    assert second is not first and second.comm is not None
    fig = figure.Figure()
    fig.add_scatter(x=[1, 2], y=[3, 4])
    assert list(fig.data[0].y) == [3, 4]


def test_the_trace_properties_plotly_js_filled_in_are_ignored_without_an_error():
    """After a redraw the page sends the properties plotly.js filled in; for a numpy-backed ``x`` that is a
    ``{dtype, bdata}`` dict, on which plotly's own handler fails (it showed a costly traceback in the kernel)."""
    def filled_in(fig):
        return {"_js2py_traceDeltas": {"trace_deltas": [{"uid": fig.data[0].uid, "x": {"dtype": "f8",
                                                                                         "bdata": "AAAAAAAA8D8="}}],
                                       "trace_edit_id": fig._last_trace_edit_id}}

    plain = go.FigureWidget()
    plain.add_scatter(x=np.arange(3.0), y=np.arange(3.0))
    with pytest.raises(ValueError, match="truth value of an array"):   # plotly's handler, as the page meets it
        plain.set_state(filled_in(plain))
    fig = figure.Figure()
    fig.add_scatter(x=np.arange(3.0), y=np.arange(3.0))
    fig.set_state(filled_in(fig))
    assert list(fig.data[0].x) == [0.0, 1.0, 2.0] and fig.data[0]._prop_defaults == {}
