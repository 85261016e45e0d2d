"""``Figure``: a plotly ``FigureWidget`` whose page-side code (plotly.js and plotly's widget, 5 MB) reaches the page
once, however many charts the explorer shows.

plotly's ``FigureWidget`` is an anywidget whose module source is synced as widget state, so every figure sends the
whole 5 MB bundle to the page, and anywidget evaluates it once per figure (a fresh module from a blob URL each
time). With the explorer's four to six charts that was 20-30 MB through the kernel, the Jupyter server and the
websocket each time the explorer was shown or the page reloaded, and as many evaluations of plotly.js in the page.

Here one hidden :class:`PlotlyBundle` widget carries the bundle; its page side imports it once and shares the
module. Each :class:`Figure` has a few hundred bytes of module source that waits for that shared module and then
hands its model and views to plotly's own widget code, unchanged: a ``Figure`` behaves as a ``FigureWidget`` in the
kernel and in the page, except for one message it ignores (below).

After each redraw plotly's page side sends the kernel the trace properties that plotly.js filled in
(``_js2py_traceDeltas``). The explorer never reads them, and plotly's handler fails on some of them: plotly.js
returns a numpy-backed array (the explorer sends every line's ``x`` and ``y`` as numpy arrays) as a ``{dtype, bdata}``
dict, and the handler then takes the truth value of the numpy array (``ValueError: The truth value of an array ...
is ambiguous``). ipywidgets shows that error as a traceback in the kernel, whose formatting (IPython reads and parses
the source file of every frame) took about a second of the kernel's CPU in the middle of a live run, on a 2-core
machine where the browser needs that core to draw. A ``Figure`` therefore does not handle these messages.
"""
from __future__ import annotations

import pathlib
import threading

import anywidget
import plotly
import plotly.graph_objects as go
import traitlets

BUNDLE = pathlib.Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"

# Both modules below share this promise of plotly's widget module (whichever page-side code runs first makes it).
_SHARED = """
const shared = () => globalThis.__gdtuoPlotlyWidget ??= new Promise(resolve => {
    globalThis.__gdtuoPlotlyWidgetResolve = resolve;
});
"""

_BUNDLE_ESM = _SHARED + """
export default {
    async initialize({ model }) {
        shared();
        if (globalThis.__gdtuoPlotlyWidgetLoading) return;
        globalThis.__gdtuoPlotlyWidgetLoading = true;
        const url = URL.createObjectURL(new Blob([model.get("bundle")], { type: "text/javascript" }));
        try {
            globalThis.__gdtuoPlotlyWidgetResolve(await import(/* webpackIgnore: true */ url));
        } finally {
            URL.revokeObjectURL(url);
        }
    },
};
"""

_FIGURE_ESM = _SHARED + """
export default () => {
    let widget;   // plotly's widget for this model: its default export is a factory, one per model
    return {
        async initialize(context) {
            widget = (await shared()).default();
            return widget.initialize(context);
        },
        async render(context) {
            while (widget === undefined) await shared();
            return widget.render(context);
        },
    };
};
"""


class PlotlyBundle(anywidget.AnyWidget):
    """The hidden widget that brings plotly's widget bundle to the page once (see the module docstring); made by
    :func:`bundle` and never displayed."""

    _esm = traitlets.Unicode(_BUNDLE_ESM).tag(sync=True)
    bundle = traitlets.Unicode().tag(sync=True)


_bundle: PlotlyBundle | None = None
_bundle_lock = threading.Lock()


def bundle() -> PlotlyBundle:
    """The kernel's one :class:`PlotlyBundle` (made on first use; a closed one is replaced)."""
    global _bundle
    with _bundle_lock:
        if _bundle is None or _bundle.comm is None:
            _bundle = PlotlyBundle(bundle=BUNDLE.read_text(encoding="utf-8"))
        return _bundle


class Figure(go.FigureWidget):
    """A ``go.FigureWidget`` that loads plotly's page-side code through the shared :func:`bundle`."""

    _esm = _FIGURE_ESM

    def __init__(self, *args, **kwargs):
        bundle()   # its model reaches the page before this figure's
        super().__init__(*args, **kwargs)

    def _handler_js2py_traceDeltas(self, change):   # plotly's observer of that trait, replaced: see the module
        """Ignore the trace properties that plotly.js filled in (see the module docstring)."""
