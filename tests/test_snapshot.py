"""The picture of the explorer's charts that a saved notebook keeps (explorer/snapshot.py): taken when a run ends or
pauses and on ``explorer.snapshot()``, and in a notebook executed with nbclient on a machine where no browser can be
reached, one image output that nbconvert's HTML shows, drawing the run."""
import base64
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gdtuo_explore.explorer import figure, snapshot
from gdtuo_explore.explorer.charts import CHART_WIDTH
from helpers import LONG, explorer_for, wait_until

REPO = Path(__file__).resolve().parents[1]


def colour_pixels(png: bytes, colour: str) -> int:
    """How many pixels of ``png`` have ``colour`` (``#rrggbb``), give or take a little for antialiasing."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).sum(axis=2) < 30).sum())


class Output:
    """Stands for the notebook output that ``display(..., display_id=True)`` makes: records its updates."""

    def __init__(self):
        self.updates = []

    def update(self, data, metadata=None, raw=False):
        assert raw
        self.updates.append((data, metadata))


def test_a_displayed_explorer_leaves_a_picture_of_its_charts_when_a_run_ends_and_when_it_pauses():
    e = explorer_for("adam(0.01)/sgd(1e-5)", 30)
    try:
        assert e.run(wait=True, timeout=120) == "done"
        assert e.picture.png is None   # not displayed: no picture drawn
        assert e.picture.bundle()[0] == snapshot.EMPTY
        e.reset()
        output = e.picture.handle = Output()   # as if displayed
        before = e.snapshot()   # the empty charts: titles and axes, no line of a run
        assert e.run(wait=True, timeout=120) == "done"
        done = e.picture.png
        assert done is not None and done != before
        assert len(output.updates) == 2 and base64.b64decode(output.updates[-1][0]["image/png"]) == done
        colour = e.state.current.color
        assert colour_pixels(before, colour) < 50 < 2000 < colour_pixels(done, colour)
        with Image.open(io.BytesIO(done)) as image:   # loss and accuracy side by side, level 1 below
            assert image.width >= 2 * CHART_WIDTH and image.height > 2 * 280
        assert figure.STAND_IN_MARK in base64.b64encode(done).decode()   # live pages hide it
        data, metadata = e.picture.bundle()
        assert base64.b64decode(data["image/png"]) == done and "done" in data["text/plain"]
        assert metadata["image/png"]["width"] >= 2 * CHART_WIDTH

        e.state.unit, e.state.budget = "steps", LONG
        e.run()
        wait_until(lambda: e.state.status == "running" and e.state.steps_done > 5, "the second run to train")
        e.pause()
        wait_until(lambda: e.state.status == "paused", "the pause")
        wait_until(lambda: e.picture.png != done, "a picture of the paused run")
        assert colour_pixels(e.picture.png, e.state.current.color) > 500
    finally:
        e.close()


def test_bad_input_to_the_picture_is_refused_by_name():
    with pytest.raises(ValueError, match="figures"):
        snapshot.picture([])
    with pytest.raises(ValueError, match="png must be PNG data"):
        figure.mark_stand_in(b"GIF89a not a png")


def test_an_executed_explorer_notebook_keeps_one_picture_of_the_run_that_its_html_shows(tmp_path):
    """The explorer notebook as ``jupyter nbconvert --execute`` runs it, on a machine where no browser can be
    reached (PATH without one, Kaleido unable to start): the saved notebook has one picture output below the explorer
    (updated in place, not one per update) showing the run, nbconvert's HTML shows it, and the saved widget state
    holds no copy of plotly's widget code."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    blocked = tmp_path / "no-browser"
    (blocked / "kaleido").mkdir(parents=True)
    (blocked / "kaleido" / "__init__.py").write_text("raise ImportError('kaleido cannot start: no browser here')\n")
    env_path = os.pathsep.join(filter(None, [str(blocked), str(REPO), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(REPO / "notebooks" / "explorer.ipynb", as_version=4)
    old = {k: os.environ.get(k) for k in ("PATH", "PYTHONPATH", "GDTUO_FAST", "BROWSER_PATH")}
    os.environ.update(PATH=str(Path(sys.executable).parent), PYTHONPATH=env_path, GDTUO_FAST="1",
                      BROWSER_PATH=str(blocked / "chromium"))
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    cell = next(c for c in nb.cells if c.cell_type == "code" and "Explorer()" in c.source)
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1 and images[0] in cell.outputs, [o.get("output_type") for o in cell.outputs]
    assert [o.get("output_type") for o in cell.outputs] == ["display_data", "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in cell.outputs[0]["data"]
    png = base64.b64decode(images[0]["data"]["image/png"])
    assert "done" in images[0]["data"]["text/plain"]
    first_run = "#1f77b4"   # the first run's colour (ShownRun.COLORS[0]) in a fresh kernel
    assert colour_pixels(png, first_run) > 2000
    with Image.open(io.BytesIO(png)) as image:
        assert image.width >= 2 * CHART_WIDTH
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert images[0]["data"]["image/png"][:2000] in html.replace("\n", "")
    widget_state = json.dumps(nb.metadata.get("widgets", {}))
    assert 0 < len(widget_state) < 1_000_000 < figure.BUNDLE.stat().st_size   # no copy of the bundle


def test_the_picture_shows_the_sweep_charts_once_a_sweep_has_results():
    e = explorer_for("sgd(0.01)/sgd(1e-5)", 10)
    try:
        train = e.snapshot()
        sweep = e.state.sweep
        sweep.alphas, sweep.heights, sweep.steps = "0.01, 0.1", "0", 5
        assert e.sweep(wait=True, timeout=300) == "done"
        both = e.snapshot()
        with Image.open(io.BytesIO(train)) as a, Image.open(io.BytesIO(both)) as b:
            assert b.width == a.width and b.height > a.height + 250   # one more row: the sweep's two charts
    finally:
        e.close()
