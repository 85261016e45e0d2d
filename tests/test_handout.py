"""Handouts (gdtuo-explore handout): a notebook exported as one HTML file is opened in the system Chromium with every
request that is not a local file refused, and must show its maths typeset by MathJax (no raw $...$ left, no MathJax
error) and every figure as an image of non-zero size; nothing may even try to load from the network. Also: a
notebook whose figures were stored by fig.show() (Plotly's JSON only) gets them as images, --execute runs a notebook
stored without outputs, and bad input exits 2 with a one-line message (a cell that raises: 1)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, REPO, require_browser

PLOTLY = "application/vnd.plotly.v1+json"
MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)


def cli(*args, cwd=None, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "gdtuo_explore", "handout", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def open_offline(html: Path, shot: str) -> dict:
    """Open ``html`` in Chromium with every request but local files refused; wait for MathJax; report what the page
    shows and every request it tried."""
    require_browser()
    from playwright.sync_api import sync_playwright

    tried = []

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            tried.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.route("**/*", route)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.resolve().as_uri())
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=60_000)
            page.evaluate("() => MathJax.startup.promise")
            seen = page.evaluate("""() => ({
                math: document.querySelectorAll('.jp-MarkdownCell mjx-container').length,
                math_drawn: [...document.querySelectorAll('.jp-MarkdownCell mjx-container svg')]
                            .filter(s => s.getBoundingClientRect().width > 0).length,
                math_errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
                raw: [...document.querySelectorAll('.jp-MarkdownCell')].map(e => e.innerText)
                     .filter(t => t.includes('$')),
                images: [...document.querySelectorAll('.jp-OutputArea-output img')].map(
                    i => [i.naturalWidth, i.getBoundingClientRect().width, i.getBoundingClientRect().height]),
            })""")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            if seen["images"]:
                page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"{shot}.png"))
        finally:
            browser.close()
    seen["tried"], seen["errors"] = tried, errors
    return seen


def formulas(nb) -> int:
    return sum(len(MATH.findall(c.source)) for c in nb.cells if c.cell_type == "markdown")


def test_the_hypergradient_notebook_as_a_handout_renders_offline_with_its_maths_and_figures(tmp_path):
    source = REPO / "notebooks" / "hypergradient.ipynb"
    out = tmp_path / "hypergradient.html"
    run = cli(source, "--out", out)
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stdout
    nb = nbformat.read(source, as_version=4)
    figures = sum(PLOTLY in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert figures == 2
    seen = open_offline(out, "handout-hypergradient")
    assert seen["tried"] == [], f"the handout tried to load from the network: {seen['tried']}"
    assert seen["errors"] == []
    assert seen["math"] == formulas(nb) and seen["math_drawn"] == seen["math"], seen
    assert seen["math_errors"] == 0 and seen["raw"] == [], seen["raw"][:2]
    assert len(seen["images"]) == figures
    for natural, width, height in seen["images"]:
        assert natural >= 600 and width > 300 and height > 150


def test_figures_stored_by_fig_show_and_a_notebook_run_with_execute(tmp_path):
    """A teacher's own notebook, stored without outputs, whose figure is shown with fig.show(): --execute runs it,
    the figure (Plotly's JSON and HTML only) comes out as an image; the maths of its Markdown is typeset."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("The step: $w_{t+1} = w_t - \\alpha \\nabla L(w_t)$, and\n"
                                      "$$\\alpha_{t+1} = \\alpha_t + \\kappa\\, \\nabla L(w_t)\\cdot\\nabla L(w_{t-1}).$$"),
        nbformat.v4.new_code_cell("import plotly.graph_objects as go\nimport plotly.io as pio\n"
                                  "pio.renderers.default = 'plotly_mimetype+notebook'\n"
                                  "fig = go.Figure(go.Scatter(y=[3, 1, 2]), layout_title_text='from fig.show')\n"
                                  "fig.show()\nprint('costs $5')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "mine.ipynb"
    nbformat.write(nb, path)
    run = cli(path, "--execute", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    html = tmp_path / "mine.html"
    assert not re.search(r"<script[^>]+src=\"https?:", html.read_text(encoding="utf-8"))
    seen = open_offline(html, "handout-fig-show")
    assert seen["tried"] == [], seen["tried"]
    assert seen["math"] == 2 and seen["math_drawn"] == 2 and seen["raw"] == []
    assert len(seen["images"]) == 1 and seen["images"][0][0] > 0
    assert "costs $5" in html.read_text(encoding="utf-8"), "a printed $ stays as it is"


def test_bad_input_exits_2_and_a_cell_that_raises_exits_1(tmp_path):
    run = cli(tmp_path / "missing.ipynb", cwd=tmp_path)
    assert run.returncode == 2 and "missing.ipynb' is not a file" in run.stderr
    for name, content in (("notes.ipynb", "not a notebook"), ("empty.ipynb", "{}"), ("cells.ipynb", '{"cells": 3}')):
        (tmp_path / name).write_text(content)
        run = cli(tmp_path / name, cwd=tmp_path)
        assert run.returncode == 2 and f"{name}' is not a notebook (" in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    run = cli(REPO / "notebooks" / "towers.ipynb", "--out", tmp_path / "towers.pdf", cwd=tmp_path)
    assert run.returncode == 2 and "out must be an .html file" in run.stderr
    run = cli(REPO / "notebooks" / "towers.ipynb", "--mathjax", tmp_path / "none.js", cwd=tmp_path)
    assert run.returncode == 2 and "mathjax must be a MathJax 3 file" in run.stderr
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise RuntimeError('boom in a cell')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "boom.ipynb")
    run = cli(tmp_path / "boom.ipynb", "--execute", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].endswith("boom.ipynb raised RuntimeError: boom in a cell")
    assert not (tmp_path / "boom.html").exists() and not (tmp_path / "towers.html").exists()


def test_without_a_mathjax_copy_the_error_says_how_to_install_one(monkeypatch, tmp_path):
    import importlib.util

    from gdtuo_explore.engine import handout

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"pip install 'gdtuo-explore\[lab\]'"):
        handout.handout(REPO / "notebooks" / "towers.ipynb", tmp_path / "t.html")
    assert not (tmp_path / "t.html").exists()
