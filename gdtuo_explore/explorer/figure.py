"""``Figure``: a plotly ``FigureWidget`` whose page-side code (plotly.js and plotly's widget, 5 MB) reaches the page
once, however many charts the explorer shows.

plotly's ``FigureWidget`` is an anywidget whose module source is synced as widget state, so every figure sends the
whole 5 MB bundle to the page, and anywidget evaluates it once per figure (a fresh module from a blob URL each
time). With the explorer's four to six charts that was 20-30 MB through the kernel, the Jupyter server and the
websocket each time the explorer was shown or the page reloaded, and as many evaluations of plotly.js in the page.

Here one hidden :class:`PlotlyBundle` widget carries the bundle; its page side imports it once and shares the
module. Each :class:`Figure` has a few hundred bytes of module source that waits for that shared module and then
hands its model and views to plotly's own widget code, unchanged: a ``Figure`` behaves as a ``FigureWidget`` in the
kernel and in the page, except that it does not report back to the kernel what plotly.js drew (below).

After each redraw plotly's page side works out which trace and layout properties plotly.js filled in (a deep copy
of every trace, its ``x`` and ``y`` included, compared with what the kernel sent) and sends them to the kernel
(``_js2py_traceDeltas``, ``_js2py_widget_layoutDelta``). The explorer never reads them, and they are costly:

* in the page, working them out and sending them took 40% of the page's main-thread time per redraw (22 of 52 ms
  with a paced run in JupyterLab, Chromium's ``TaskDuration``), on a 2-core machine where the training thread has
  the other core;
* in the kernel, plotly's handler fails on them: plotly.js returns a numpy-backed array (the explorer sends every
  line's ``x`` and ``y`` as numpy arrays) as a ``{dtype, bdata}`` dict, and the handler then takes the truth value of
  the numpy array (``ValueError: The truth value of an array ... is ambiguous``). ipywidgets shows that error as a
  traceback in the kernel, whose formatting took about a second of the kernel's CPU in a live run.

So the page side of a ``Figure`` does not send them (the shared module's ``FigureView`` has no-op
``_sendTraceDeltas`` and ``_sendLayoutDelta``), and its kernel side ignores a trace delta if one comes. Only
plotly's ``on_edits_completed`` reads them, and its layout half never worked in plotly's widget (the page names the
message ``_js2py_widget_layoutDelta``, the kernel waits for ``_js2py_layoutDelta``); the explorer does not use it.
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
            const module = await import(/* webpackIgnore: true */ url);
            // no reports of what plotly.js drew back to the kernel (see the module docstring)
            const view = module.FigureView.prototype;
            view._sendTraceDeltas = view._sendLayoutDelta = function () {};
            globalThis.__gdtuoPlotlyWidgetResolve(module);
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
