"""Handouts: a notebook as one HTML file that shows everything with no internet and no kernel: its maths typeset,
its Plotly figures as images, its text and outputs. ``gdtuo-explore handout NOTEBOOK`` on the command line.

``jupyter nbconvert --to html`` alone falls short offline: it loads MathJax (and require.js, and the widget manager
when widget state was saved) from a CDN, so the maths stays raw LaTeX, and it drops a Plotly figure stored only as
``application/vnd.plotly.v1+json`` (what ``fig.show()`` stores) without a trace. Here:

* every Plotly output without an image gets one (:func:`add_static_images`, drawn by :mod:`.static`); the project's
  notebooks already store one beside each figure (``gdtuo_explore.show(fig)``);
* MathJax 3 (its single-file ``tex-svg-full.js``: TeX input with every extension, SVG output that needs no font
  files) is copied into the page from the ``django-static-mathjax`` package (``pip install 'gdtuo-explore[lab]'``)
  or from a file you name, and typesets the maths when the page opens;
* nothing else is loaded from the network: no require.js, no widget manager (widget outputs need a kernel; they are
  left out), images of Markdown cells embedded.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
IMAGES = ("image/png", "image/svg+xml", "image/jpeg")
MATHJAX_FILE = "static/mathjax/es5/tex-svg-full.js"   # inside the django-static-mathjax package ("mathjax")

# MathJax 3 told to read the delimiters nbconvert keeps in Markdown cells ($...$, $$...$$, \(...\), \[...\]).
MATHJAX_CONFIG = """window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'},
  svg: {fontCache: 'global'},
  options: {menuOptions: {settings: {assistiveMml: false}}}
};"""

TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}
<script>{{ resources.handout_mathjax_config }}</script>
<script>{{ resources.handout_mathjax }}</script>
{%- endblock html_head_js_mathjax -%}
"""


def mathjax_path(path=None) -> Path:
    """The MathJax 3 file a handout inlines: ``path`` if given, else ``tex-svg-full.js`` of the installed
    ``django-static-mathjax`` package."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"mathjax must be a MathJax 3 file such as tex-svg-full.js, and {str(path)!r} is not a "
                             "file")
        return path
    spec = importlib.util.find_spec("mathjax")
    found = Path(spec.origin).parent / MATHJAX_FILE if spec is not None and spec.origin else None
    if found is None or not found.is_file():
        raise ValueError("a handout needs a copy of MathJax 3 to typeset its maths offline: install it with "
                         "`pip install 'gdtuo-explore[lab]'` (the django-static-mathjax package), or name a "
                         "MathJax 3 tex-svg-full.js with --mathjax")
    return found


def add_static_images(nb, format: str = "png", scale: float = 1.0) -> int:
    """Give every Plotly output of a notebook (an ``nbformat`` node) that has no image the image and text that
    :func:`gdtuo_explore.engine.static.mimebundle` puts beside a figure (what ``show(fig)`` would have stored);
    returns how many it gave."""
    from .static import mimebundle

    added = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if PLOTLY not in data or any(kind in data for kind in IMAGES):
                continue
            figure = data[PLOTLY]
            extra, metadata = mimebundle({k: figure[k] for k in ("data", "layout") if k in figure}, format,
                                         scale=scale)
            data.update({kind: value for kind, value in extra.items() if kind != PLOTLY})
            if metadata:
                output.setdefault("metadata", {}).update(metadata)
            added += 1
    return added


def _offline(nb) -> None:
    """Leave out what needs a kernel or the network: widget outputs and the saved widget state, and the HTML of a
    Plotly output (it loads plotly.js from a CDN; its image shows instead)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if WIDGET not in o.get("data", {})]
            for output in cell["outputs"]:
                if PLOTLY in output.get("data", {}):
                    output["data"].pop("text/html", None)


def handout(notebook, out=None, *, execute: bool = False, timeout: float = 600, mathjax=None) -> Path:
    """Write a notebook as a handout: one HTML file that renders offline, maths and figures included (see the
    module docstring).

    Args:
        notebook: the ``.ipynb`` file.
        out: the HTML file to write (default: the notebook's name with ``.html``, in the current folder).
        execute: run the notebook first (in its own folder, ``timeout`` seconds per cell), as for a notebook stored
            without outputs; without it, the stored outputs are used.
        mathjax: a MathJax 3 ``tex-svg-full.js`` to inline instead of the installed package's.

    Returns the path written. Raises ``ValueError`` for a file that is not a notebook, ``OSError`` for one that
    cannot be read or written, and nbclient's ``CellExecutionError`` when a cell raises while executing.

    Example::

        from gdtuo_explore.engine.handout import handout
        handout("notebooks/hypergradient.ipynb", "hypergradient.html")
    """
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    notebook = Path(notebook)
    if timeout is None or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    script = mathjax_path(mathjax).read_text(encoding="utf-8").replace("</script", "<\\/script")
    if not notebook.is_file():
        raise ValueError(f"notebook must be an .ipynb file, and {str(notebook)!r} is not a file")
    try:
        nb = nbformat.read(notebook, as_version=4)
        nbformat.validate(nb)
    except (nbformat.reader.NotJSONError, nbformat.ValidationError, KeyError, TypeError, AttributeError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{str(notebook)!r} is not a notebook ({reason})") from err
    out = Path(out) if out is not None else Path(notebook.stem + ".html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"out must be an .html file, not {str(out)!r}")
    if execute:
        from nbclient import NotebookClient

        NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(notebook.parent.resolve())}}).execute()
    add_static_images(nb)
    _offline(nb)
    exporter = HTMLExporter(template_name="lab", embed_images=True,
                            extra_loaders=[jinja2.DictLoader({"handout.html.j2": TEMPLATE})])
    exporter.template_file = "handout.html.j2"
    resources = {"metadata": {"name": notebook.stem, "path": str(notebook.parent.resolve())},
                 "handout_mathjax": script, "handout_mathjax_config": MATHJAX_CONFIG}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    out.write_text(body, encoding="utf-8")
    return out
