"""``Figure``: a plotly ``FigureWidget`` whose page-side code (plotly.js and plotly's widget, 5 MB) reaches the page
once, however many charts the explorer shows.

plotly's ``FigureWidget`` is an anywidget whose module source is synced as widget state, so every figure sends the
whole 5 MB bundle to the page, and anywidget evaluates it once per figure (a fresh module from a blob URL each
time). With the explorer's four to six charts that was 20-30 MB through the kernel, the Jupyter server and the
websocket each time the explorer was shown or the page reloaded, and as many evaluations of plotly.js in the page.

Here one hidden :class:`PlotlyBundle` widget brings the bundle; its page side imports it once and shares the
module. The bundle is not part of that widget's state: its page side asks the kernel for it (a custom widget message)
and the kernel answers with the bundle as a binary buffer. So every page that shows the widget (the first view, a
page reload, a second tab, Voila) gets it, and a saved notebook stores none of it: ``jupyter nbconvert --execute``
and JupyterLab's "Save Widget State Automatically" store widget state, which here is a few hundred bytes per chart.
The page asks when it first makes the widget's model; a kernel that is busy with a cell answers when the cell ends,
unless it handles widget messages in a subshell of their own (JupyterLab 4.4 and later with ipykernel 7). anywidget
fails a model whose ``initialize`` has not returned after 2 seconds, and the bundle's round trip and import can take
longer (5 MB through the websocket, a busy kernel), so no ``initialize`` here waits for it: the shared widget starts
loading it, and each chart waits for it in ``render``. Each :class:`Figure` has a few hundred bytes of module source
that waits for that shared module and then
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

:meth:`Figure.publish` copies the figure into its synced state, as plotly does when a figure is displayed, so that a
view made later (a page reload, Voila) draws the figure as it is.

Static pictures of the charts (:mod:`.snapshot`) are notebook outputs for the places where the charts cannot draw
(GitHub, nbviewer, an HTML export, a notebook opened with no kernel). Their PNG carries :data:`STAND_IN_TEXT`; once
plotly's widget code has loaded in a page, so the live charts draw there, the shared module hides every image that
carries it (:data:`HIDE_STAND_INS`, a CSS rule).

All of this reaches into plotly's widget code (its bundle's exports, the page-side view's methods, the kernel side's
handler and synced traits), which plotly may change in any release: it was made for the versions in
:data:`MADE_FOR`, and ``tests/test_figure.py`` fails, naming what changed, when the installed ones differ or lack
what this module uses. If plotly's bundle lacks what the page side needs (:func:`missing`), a ``Figure`` uses
plotly's own page-side code instead (each chart then brings the bundle itself) and a warning says why.
"""
from __future__ import annotations

import base64
import pathlib
import re
import struct
import threading
import zlib
import warnings
from copy import deepcopy

import anywidget
import plotly
import plotly.graph_objects as go
import traitlets

BUNDLE = pathlib.Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"
#: The versions this module was made for and checked with, in a real browser too (tests/test_figure.py).
MADE_FOR = {"plotly": ">=7.1,<7.2", "anywidget": ">=0.11,<0.12"}

# Both modules below share this promise of plotly's widget module (whichever page-side code runs first makes it).
_SHARED = """
const shared = () => globalThis.__gdtuoPlotlyWidget ??= new Promise(resolve => {
    globalThis.__gdtuoPlotlyWidgetResolve = resolve;
});
"""

_BUNDLE_ESM = _SHARED + """
export default {
    initialize({ model }) {
        shared();
        if (globalThis.__gdtuoPlotlyWidgetLoading) return;
        globalThis.__gdtuoPlotlyWidgetLoading = true;
        load(model);   // not awaited: anywidget fails a model whose initialize takes over 2 s (see the docstring)
    },
};

async function load(model) {
        const bundle = new Promise(resolve => {
            const answer = (msg, buffers) => {
                if (!msg || msg.bundle !== true || !buffers || !buffers.length) return;
                model.off("msg:custom", answer);
                resolve(buffers[0]);
            };
            model.on("msg:custom", answer);
        });
        try {
            model.send({ request: "bundle" });
        } catch (error) {   // no kernel (a notebook's saved widget state): the charts cannot draw
            globalThis.__gdtuoPlotlyWidgetLoading = false;
            return;
        }
        const url = URL.createObjectURL(new Blob([await bundle], { type: "text/javascript" }));
        try {
            const module = await import(/* webpackIgnore: true */ url);
            // no reports of what plotly.js drew back to the kernel (see the module docstring)
            const view = module.FigureView.prototype;
            view._sendTraceDeltas = view._sendLayoutDelta = function () {};
            const style = document.createElement("style");   // the charts draw: hide their static pictures
            style.textContent = model.get("loaded_css");
            document.head.appendChild(style);
            globalThis.__gdtuoPlotlyWidgetResolve(module);
        } finally {
            URL.revokeObjectURL(url);
        }
}
"""

_FIGURE_ESM = _SHARED + """
export default () => {
    let widget, ready;   // plotly's widget for this model: its default export is a factory, one per model
    return {
        initialize(context) {   // returns at once: plotly's widget code may take longer than anywidget allows
            ready = shared().then(module => {
                widget = module.default();
                return widget.initialize(context);
            });
        },
        async render(context) {
            await ready;
            return widget.render(context);
        },
    };
};
"""


def missing(bundle: str) -> list[str]:
    """What the page-side code above needs from plotly's widget bundle (the text of ``widgetbundle.js``) and does
    not find there: its exports (the widget's default factory and ``FigureView``) and the ``FigureView`` methods
    that send what plotly.js drew. [] when everything is there."""
    exports = re.findall(r"export\s*\{([^}]*)\}", bundle)
    named = {name.split(" as ")[-1].strip() for group in exports for name in group.split(",")}
    out = [f"the export {name!r}" for name in ("default", "FigureView") if name not in named]
    return out + [f"FigureView's method {name}" for name in ("_sendTraceDeltas", "_sendLayoutDelta")
                  if f"{name}(" not in bundle]


_MISSING = missing(BUNDLE.read_text(encoding="utf-8")) if BUNDLE.is_file() else [f"the file {BUNDLE}"]
if _MISSING:
    warnings.warn(f"plotly {plotly.__version__}'s widget bundle lacks {', '.join(_MISSING)}: the explorer's charts "
                  "use plotly's own page-side code (each chart brings plotly.js to the page itself)", stacklevel=2)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


#: The PNG text chunk (keyword, text) that marks an image as a stand-in for the live charts. :mod:`.snapshot` writes
#: it first after the PNG's header, 33 bytes from the start: a whole number of base64 groups, so the chunk's base64
#: is the same in every such image (:data:`STAND_IN_MARK`).
STAND_IN_TEXT = (b"Software", b"gdtuo-explore: a picture of the live charts, for viewers where they cannot draw")
_CHUNK = _png_chunk(b"tEXt", STAND_IN_TEXT[0] + b"\0" + STAND_IN_TEXT[1])
#: What the base64 of every stand-in PNG contains (the chunk's first whole base64 groups).
STAND_IN_MARK = base64.b64encode(_CHUNK[:len(_CHUNK) // 3 * 3]).decode("ascii")


def mark_stand_in(png: bytes) -> bytes:
    """The PNG ``png`` marked as a stand-in: :data:`STAND_IN_TEXT` as its first chunk after the header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("png must be PNG data (its signature and header chunk first)")
    return png[:33] + _CHUNK + png[33:]
#: CSS that a page applies once the charts draw there: it hides the stand-ins, and the output area around each
#: (JupyterLab, Notebook 7 and Voila draw an image output as ``<img src="data:image/png;base64,...">``).
HIDE_STAND_INS = (f'img[src*="{STAND_IN_MARK}"] {{ display: none; }}\n'
                  f'.jp-OutputArea-child:has(img[src*="{STAND_IN_MARK}"]) {{ display: none; }}\n')


class PlotlyBundle(anywidget.AnyWidget):
    """The hidden widget that brings plotly's widget bundle to the page once (see the module docstring); made by
    :func:`bundle` and never displayed. Its page side asks for the bundle with the custom message
    ``{"request": "bundle"}``; the kernel answers ``{"bundle": true}`` with the bundle's bytes as the one buffer."""

    _esm = traitlets.Unicode(_BUNDLE_ESM).tag(sync=True)
    loaded_css = traitlets.Unicode(HIDE_STAND_INS, help="CSS the page applies once the charts draw").tag(sync=True)

    def __init__(self, source: bytes, **kwargs):
        super().__init__(**kwargs)
        self.source = source
        self.on_msg(self._asked)

    def _asked(self, _, content, buffers) -> None:
        if isinstance(content, dict) and content.get("request") == "bundle":
            self.send({"bundle": True}, buffers=[self.source])


_bundle: PlotlyBundle | None = None
_bundle_lock = threading.Lock()


def bundle() -> PlotlyBundle:
    """The kernel's one :class:`PlotlyBundle` (made on first use; a closed one is replaced)."""
    global _bundle
    with _bundle_lock:
        if _bundle is None or _bundle.comm is None:
            _bundle = PlotlyBundle(BUNDLE.read_bytes())
        return _bundle


class Figure(go.FigureWidget):
    """A ``go.FigureWidget`` that loads plotly's page-side code through the shared :func:`bundle`."""

    if not _MISSING:
        _esm = _FIGURE_ESM

    def __init__(self, *args, **kwargs):
        if not _MISSING:
            bundle()   # its model reaches the page before this figure's
        super().__init__(*args, **kwargs)

    def _handler_js2py_traceDeltas(self, change):   # plotly's observer of that trait, replaced: see the module
        """Ignore the trace properties that plotly.js filled in (see the module docstring)."""

    def publish(self) -> None:
        """Copy the figure into its synced widget state, as plotly does when a FigureWidget is displayed on its own.

        Later changes reach open views as one-off messages, so without this a view that connects later (Voila, a
        page reload) would draw the figure as it was made: empty. Views already open ignore the change.
        """
        self._widget_layout = deepcopy(self._layout_obj._props)
        self._widget_data = deepcopy(self._data)
