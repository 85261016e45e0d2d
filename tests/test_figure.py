"""The charts' FigureWidget brings plotly's 5 MB page-side bundle once per page, not once per chart (the page side
is checked by the real-browser tests, which draw every chart through it), and what it uses of plotly's widget code
is still there."""
import inspect
import json
from importlib.metadata import version

import numpy as np
import pytest
from packaging.specifiers import SpecifierSet

import plotly.graph_objects as go
from plotly.basewidget import BaseFigureWidget
from traitlets import ObserveHandler

from gdtuo_explore.explorer import figure
from helpers import explorer_for


def synced_bytes(widget) -> int:
    return len(json.dumps(widget.get_state(), default=str))


def test_each_chart_sends_a_small_module_and_the_bundle_goes_by_message_not_as_state(monkeypatch):
    """Widget state is what a saved notebook stores: no chart's and not the shared widget's holds the bundle. The
    page asks the shared widget for it and gets it as a binary buffer."""
    plain = go.FigureWidget()
    assert synced_bytes(plain) > 4_000_000                       # what every chart would store
    e = explorer_for("adam(0.01)/sgd(1e-5)/sgd(1e-6)", 10)
    charts = e.charts.figures + [e.sweep_panel.loss, e.sweep_panel.accuracy]
    assert len(charts) >= 6 and all(isinstance(fig, figure.Figure) for fig in charts)
    assert all(synced_bytes(fig) < 20_000 for fig in charts)
    shared = figure.bundle()
    assert shared is figure.bundle() and synced_bytes(shared) < 20_000
    sent = []
    monkeypatch.setattr(shared, "send", lambda content, buffers=None: sent.append((content, buffers)))
    shared._handle_custom_msg({"request": "something else"}, [])
    assert sent == []
    shared._handle_custom_msg({"request": "bundle"}, [])
    assert sent == [({"bundle": True}, [figure.BUNDLE.read_bytes()])]
    e.close()


def test_the_stand_in_mark_is_in_every_png_that_carries_the_text_chunk_first():
    """A PNG whose first chunk after the header is the stand-in text has :data:`figure.STAND_IN_MARK` in its base64,
    whatever the image; the page's CSS finds stand-ins by it. Another PNG has not."""
    import base64
    import io

    from PIL import Image, PngImagePlugin

    def png(size, colour, text=True):
        info = PngImagePlugin.PngInfo()
        if text:
            info.add_text(*(part.decode() for part in figure.STAND_IN_TEXT))
        out = io.BytesIO()
        Image.new("RGB", size, colour).save(out, format="png", pnginfo=info)
        return base64.b64encode(out.getvalue()).decode()

    assert figure.STAND_IN_MARK in png((10, 20), "red") and figure.STAND_IN_MARK in png((999, 3), "blue")
    assert figure.STAND_IN_MARK not in png((10, 20), "red", text=False)
    assert figure.STAND_IN_MARK in figure.HIDE_STAND_INS and figure.bundle().loaded_css == figure.HIDE_STAND_INS


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


@pytest.mark.parametrize("package", sorted(figure.MADE_FOR))
def test_plotly_and_anywidget_are_the_versions_figure_py_was_made_for(package):
    installed, made_for = version(package), figure.MADE_FOR[package]
    assert installed in SpecifierSet(made_for), (
        f"{package} {installed} is installed, but gdtuo_explore/explorer/figure.py was made for {package}{made_for}: "
        "it reaches into plotly's widget code. Run tests/test_figure.py and the browser tests "
        "(tests/test_browser_*.py), look at their screenshots, then widen MADE_FOR")


def test_plotlys_widget_code_still_has_what_figure_py_uses():
    """The bundle's exports and FigureView methods the shared module patches, the kernel-side handler a Figure
    replaces, and the two synced traits publish() writes as plotly's own display does."""
    assert figure.missing(figure.BUNDLE.read_text(encoding="utf-8")) == [], \
        f"plotly's widget bundle changed: {figure.missing(figure.BUNDLE.read_text(encoding='utf-8'))}"
    handler = BaseFigureWidget.__dict__.get("_handler_js2py_traceDeltas")
    assert isinstance(handler, ObserveHandler) and handler.trait_names == ("_js2py_traceDeltas",), \
        "plotly's kernel side no longer handles what plotly.js drew in _handler_js2py_traceDeltas"
    shown = inspect.getsource(BaseFigureWidget._repr_mimebundle_)
    for line in ("self._widget_layout = deepcopy(self._layout_obj._props)", "self._widget_data = deepcopy(self._data)"):
        assert line in shown, f"plotly's FigureWidget no longer syncs its figure on display with {line!r}"
    traits = go.FigureWidget.class_traits()
    assert all(traits[name].metadata.get("sync") for name in ("_widget_layout", "_widget_data"))


def test_a_changed_bundle_is_named_and_the_figures_fall_back_to_plotlys_own_page_side():
    bundle = figure.BUNDLE.read_text(encoding="utf-8")
    changed = bundle.replace("as FigureView", "as FigureRenderer").replace("_sendLayoutDelta(", "_sendLayout(")
    assert figure.missing(changed) == ["the export 'FigureView'", "FigureView's method _sendLayoutDelta"]
    assert figure.Figure._esm == figure._FIGURE_ESM      # the installed bundle has everything: the shared module


def test_publish_syncs_what_the_figure_shows():
    fig = figure.Figure()
    fig.add_scatter(x=[1, 2], y=[3, 4], name="a")
    fig.update_layout(title_text="T", width=420)
    made = fig.get_state()                                                # what the figure was made with
    assert "title" not in made["_widget_layout"] and made["_widget_data"] == []
    fig.publish()
    state = fig.get_state()
    assert state["_widget_layout"]["title"]["text"] == "T" and state["_widget_layout"]["width"] == 420
    assert [t["name"] for t in state["_widget_data"]] == ["a"] and list(state["_widget_data"][0]["y"]) == [3, 4]
