"""Figures for slides (explorer/figures.py): each chart as a PNG and as a standalone HTML file that works offline,
from ``explorer.save_figures(folder)`` and from the Export tab's button; the HTML opened in Chromium with every
request outside the file refused draws the chart with its data."""
import contextlib
import io
import re

import pytest
from PIL import Image

from gdtuo_explore.explorer.charts import CHART_HEIGHT, CHART_WIDTH
from helpers import explorer_for, text


@pytest.fixture(scope="module")
def ran():
    e = explorer_for("adam(0.01)/sgd(1e-5)", 20)
    assert e.run(wait=True, timeout=120) == "done"
    yield e
    e.close()


def test_each_chart_is_written_as_a_png_and_as_an_offline_html_file(ran, tmp_path):
    paths = ran.save_figures(tmp_path / "slides")
    assert sorted(paths) == sorted(f"{n}.{x}" for n in ("loss", "accuracy", "level-1") for x in ("png", "html"))
    with Image.open(paths["loss.png"]) as image:   # twice the chart's pixels, for slides
        assert image.size == (2 * CHART_WIDTH, 2 * CHART_HEIGHT)
    page = paths["loss.html"].read_text(encoding="utf-8")
    assert "<title>Loss</title>" in page
    assert not re.search(r"<script[^>]+src=", page)                  # nothing loaded from elsewhere
    assert page.count("plotly.js v") == 1 and len(page) > 3_000_000   # plotly.js inlined, once
    steps = [int(x) for x in ran.charts.loss.data[0].x]
    assert str(steps[-1]) in page
    with pytest.raises(ValueError, match="scale=0"):
        ran.save_figures(tmp_path / "x", scale=0)
    with pytest.raises(ValueError, match="folder must be a path"):
        ran.save_figures("  ")


def test_the_export_tabs_button_saves_the_figures_into_the_folder_shown(ran, tmp_path):
    ran.exporter.folder = str(tmp_path / "export")
    ran.figures_panel.button.click()
    assert "Wrote 6 files" in text(ran.figures_panel.result)
    assert (tmp_path / "export" / "figures" / "level-1.html").is_file()
    ran.exporter.folder = ""
    ran.figures_panel.button.click()
    assert "needs a folder" in text(ran.figures_panel.result)


def test_a_saved_html_chart_draws_offline_in_chromium(ran, tmp_path):
    from browser import CHROMIUM, CHROMIUM_ARGS, require_browser
    from playwright.sync_api import sync_playwright

    require_browser()
    path = ran.save_figures(tmp_path)["loss.html"]
    refused = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route(re.compile(r"^(?!file:|data:|blob:)"), lambda route: (refused.append(route.request.url),
                                                                           route.abort()))
            page.goto(path.as_uri())
            page.wait_for_function("() => document.querySelector('.js-plotly-plot') && "
                                   "document.querySelector('.js-plotly-plot').data.length >= 3", timeout=30_000)
            n = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData[1].x.length")
            assert n == len(ran.charts.loss.data[1].x) and n > 0
            assert page.locator(".gtitle").text_content() == "Loss"
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / "loss-offline.png"))
        finally:
            browser.close()
    assert refused == []
    with Image.open(io.BytesIO((tmp_path / "loss-offline.png").read_bytes())) as shot:
        assert shot.width > 400
