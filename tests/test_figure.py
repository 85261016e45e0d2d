"""The charts' FigureWidget brings plotly's 5 MB page-side bundle once per page, not once per chart (the page side
is checked by the real-browser tests, which draw every chart through it)."""
import json

import plotly.graph_objects as go

from gdtuo_explore.explorer import figure
from test_explorer import explorer_for


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
