"""Every figure of every notebook is stored with a static image beside its interactive form, so a notebook opened with
no kernel (GitHub, nbviewer, ``jupyter nbconvert --to html``) shows it:

* the stored notebooks: every Plotly output has a PNG of the figure's size, and nbconvert's HTML shows one <img> per
  figure;
* a notebook executed by ``jupyter nbconvert --to notebook --execute`` (GDTUO_FAST=1) stores its figures with their
  images, and its HTML export shows them;
* when nbval runs the notebooks (``make test``), ``notebooks/conftest.py`` fails any cell that displays a Plotly
  figure without an image: checked here on a notebook that uses ``fig.show()``.
"""
import base64
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PLOTLY = "application/vnd.plotly.v1+json"
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
ENV = {**os.environ, "PYTHONPATH": str(REPO), "GDTUO_FAST": "1"}


def figures(nb) -> list[dict]:
    return [o for c in nb.cells for o in c.get("outputs", []) if PLOTLY in o.get("data", {})]


def output_images(html: str) -> list[bytes]:
    """The PNGs of nbconvert's HTML output areas, decoded."""
    return [base64.b64decode(m) for m in re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', html)]


def check_images(nb) -> None:
    for output in figures(nb):
        data = output["data"]
        assert "image/png" in data, f"a figure without a static image: {data[PLOTLY]['layout'].get('title')}"
        layout = data[PLOTLY]["layout"]
        with Image.open(io.BytesIO(base64.b64decode(data["image/png"]))) as image:
            assert image.size == (layout.get("width") or 900, layout.get("height") or 450)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_stored_notebook_keeps_every_figure_with_its_image(path):
    nb = nbformat.read(path, as_version=4)
    check_images(nb)
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"\.show\(\)", sources), "fig.show() stores no static image: use show(fig)"
    html = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--stdout", str(path)],
                          capture_output=True, text=True, env=ENV, timeout=300, check=True).stdout
    assert len(output_images(html)) == len(figures(nb))


def test_an_executed_notebook_stores_its_figures_with_images_and_its_html_shows_them(tmp_path):
    source = REPO / "notebooks" / "hypergradient.ipynb"
    shutil.copy(source, tmp_path / source.name)
    run = lambda *args: subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", *args], cwd=tmp_path,  # noqa
                                       capture_output=True, text=True, env=ENV, timeout=600)
    executed = run("--to", "notebook", "--execute", "--output", "executed.ipynb", source.name)
    assert executed.returncode == 0, executed.stderr[-2000:]
    nb = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    assert len(figures(nb)) == 2
    check_images(nb)
    html = run("--to", "html", "executed.ipynb")
    assert html.returncode == 0, html.stderr[-2000:]
    images = output_images((tmp_path / "executed.html").read_text(encoding="utf-8"))
    assert len(images) == 2
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            colors = image.convert("RGB").getcolors(1 << 16)
            assert image.size[0] == 900 and colors is not None and len(colors) > 20, "an image with a drawing in it"


def test_nbval_fails_a_cell_that_shows_a_figure_without_an_image(tmp_path):
    shutil.copy(REPO / "notebooks" / "conftest.py", tmp_path / "conftest.py")
    cells = {"bare": "fig.show()", "with_image": "from gdtuo_explore import show\nshow(fig)"}
    for name, display in cells.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "import plotly.graph_objects as go\nimport plotly.io as pio\npio.renderers.default = 'plotly_mimetype'\n"
            f"fig = go.Figure(go.Scatter(y=[1, 3, 2]))\n{display}")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    run = lambda name: subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",  # noqa
                                       "-p", "no:cacheprovider", "-q", f"{name}.ipynb"], cwd=tmp_path,
                                      capture_output=True, text=True, env=ENV, timeout=300)
    bare = run("bare")
    assert bare.returncode == 1 and "displays 1 Plotly figure(s) with no static image" in bare.stdout, bare.stdout
    good = run("with_image")
    assert good.returncode == 0, good.stdout[-2000:]
