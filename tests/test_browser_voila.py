"""The explorer in Voila, in a real browser: serve notebooks/explorer.ipynb with Voila (headless, 127.0.0.1, a free
port), open it in the system Chromium, wait for the widgets and the Plotly charts, click Run, see the loss chart gain
points, click Stop, see the status change, save test-artifacts/voila.png.

Voila executes every cell before the page is complete (the notebook's own short synchronous run included: 60 steps
under GDTUO_FAST=1, as `make test` sets), then the widgets stay live over the kernel's websocket: this proves the
explorer "works in Voila (no cell blocks)". Fails (never skips) when voila, Chromium or playwright is missing.
"""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from browser import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, INSTALL_HINT, LAST_STEP, LOSS, REPO, TRACE, _http,
                     free_port, require_browser)

#: The page template the explorer notebook names in its metadata (Voila's "lab" without its CDN stylesheets), found on
#: the Jupyter data path; the server started here looks in the repository's copy first (not in an installed one).
TEMPLATE = "lab-offline"
TEMPLATE_DATA = REPO / "share" / "jupyter"
TIMEOUT = 180  # s: server start + executing every cell (the notebook's own run) before the page is complete


def require_voila():
    try:
        import voila  # noqa: F401
    except ImportError:
        pytest.fail("the Voila browser test cannot run: the python package `voila` is not installed. " + INSTALL_HINT,
                    pytrace=False)


@contextlib.contextmanager
def voila_server(notebook: Path, timeout: float = TIMEOUT):
    """Serve a temp copy of ``notebook`` with Voila; yield (url, log_path); always stop it by its process group."""
    tmp = Path(tempfile.mkdtemp(prefix="gdtuo-voila-"))
    root, home = tmp / "root", tmp / "home"
    root.mkdir()
    shutil.copy(notebook, root / notebook.name)
    port = free_port()
    jupyter_path = os.pathsep.join([str(TEMPLATE_DATA), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_PATH": jupyter_path, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "voila", notebook.name, "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           "--Voila.port_retries=0", "--VoilaConfiguration.show_tracebacks=True"]
    log_path = tmp / "voila.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    log_tail = lambda: log_path.read_text(errors="replace")[-4000:]  # noqa: E731
    try:
        deadline = time.monotonic() + timeout
        while True:  # the static files answer as soon as the server listens (the page itself runs the notebook)
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited with code {proc.returncode}:\n{log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                if _http(f"{base}/voila/static/voila.js")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"voila did not answer on port {port} in {timeout}s:\n{log_tail()}")
            time.sleep(0.25)
        yield f"{base}/", log_tail
    except BaseException:
        print(f"voila log tail ({log_path}):\n{log_tail()}")
        raise
    finally:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)  # voila's own process group (start_new_session=True); its kernel too
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_explorer_notebook_names_the_offline_template_and_an_install_carries_it():
    """The notebook's metadata picks Voila's page template; pyproject.toml installs every file of it where Voila looks
    (a Jupyter data directory), and the template extends Voila's "lab" one."""
    import json
    import tomllib

    notebook = json.loads((REPO / "notebooks" / "explorer.ipynb").read_text())
    assert notebook["metadata"]["voila"]["template"] == TEMPLATE
    folder = TEMPLATE_DATA / "voila" / "templates" / TEMPLATE
    files = sorted(str(f.relative_to(REPO)) for f in folder.rglob("*") if f.is_file())
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    assert data_files == {str(folder.relative_to(REPO)): files}, data_files
    assert json.loads((folder / "conf.json").read_text())["base_template"] == "lab"


def failure_screenshot(page, name: str) -> None:
    """Keep what the page showed when a test failed, as test-artifacts/NAME-failure.png (if the page still answers)."""
    with contextlib.suppress(Exception):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)


def test_explorer_runs_and_draws_live_in_voila():
    require_browser()
    require_voila()
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    with voila_server(REPO / "notebooks" / "explorer.ipynb") as (url, _log_tail), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1400})
        page.set_default_timeout(TIMEOUT * 1000)
        console = []
        page.on("console", lambda m: m.type in ("error", "warning") and console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        try:
            page.goto(url)
            page.wait_for_selector(".jupyter-widgets")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.js-plotly-plot')].filter(e => e.data).length >= 4")
            trace = lambda: page.evaluate(TRACE, list(LOSS))  # noqa: E731
            text = lambda: page.locator("body").inner_text()  # noqa: E731
            # every cell ran before the page completed: the notebook's own run finished and is on the chart
            page.wait_for_function("() => document.body.innerText.includes('Done after')")
            loaded = time.perf_counter() - start
            assert "Traceback" not in text(), "a cell raised"
            assert page.locator('[data-mime-type="application/vnd.jupyter.error"]').count() == 0, "a cell raised"

            def wait_for(pred, what, timeout=60.0):
                deadline = time.monotonic() + timeout
                while not pred():
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"timed out waiting for: {what}")
                    page.wait_for_timeout(100)

            # Voila's page gets the widgets' state after every cell ran: the charts must show the notebook's run
            # (a FigureWidget whose synced state is still its empty construction-time one shows no title, no data)
            wait_for(lambda: trace()["n"] > 0, "the notebook's own run on the loss chart (its title and points)", 15)

            # a long run from the widgets: type a budget, click Run, watch the loss chart grow, click Stop
            budget = page.locator(".widget-inline-hbox").filter(has=page.locator("label.widget-label",
                                                                                 has_text="Train for")).first
            box = budget.locator("input").first
            box.fill("1000000")
            box.press("Enter")
            before = trace()["uid"]
            page.get_by_role("button", name="Run", exact=True).first.click()
            clicked = time.perf_counter()
            wait_for(lambda: trace()["uid"] != before and trace()["n"] > 0, "the new run's first loss points")
            first_points = time.perf_counter() - clicked
            n = trace()["n"]
            wait_for(lambda: trace()["n"] > n, "the loss chart to grow")
            assert "Training: step" in text()
            page.get_by_role("button", name="Stop", exact=True).first.click()
            wait_for(lambda: "Stopped at step" in text(), "the status line to say stopped")
            step = int(re.search(r"Stopped at step ([\d,]+)", text()).group(1).replace(",", ""))
            wait_for(lambda: page.evaluate(LAST_STEP, list(LOSS)) == step, f"the chart to end on step {step}")
            print(f"\nvoila: page complete {loaded:.1f} s after start; click Run -> first loss points "
                  f"{first_points:.2f} s; stopped at step {step}")

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "voila.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 50_000
        except BaseException:
            failure_screenshot(page, "voila")
            print("browser console:\n  " + "\n  ".join(console[-30:]))
            raise
        finally:
            browser.close()


def test_a_link_sets_up_the_explorer_in_voila_and_a_bad_value_shows_on_the_page():
    """A teacher's link: the query sets the task, the tower, the classroom mode and an overlay to compare with; a bad
    seed and a bad overlay are named on the page and the rest applies. Nothing on the page comes from the internet,
    and the picture of the charts kept for viewers with no kernel does not show where the live charts draw."""
    require_browser()
    require_voila()
    from playwright.sync_api import sync_playwright

    from gdtuo_explore.explorer.figure import STAND_IN_MARK

    query = ("?task=spirals&tower=sgd(0.02)/sgd(1e-5)&controls=basic&seed=minus"
             "&overlay=label:plain+sgd;color:d62728;tower:sgd(0.05)&overlay=label:bad;tower:sgd(oops")
    with voila_server(REPO / "notebooks" / "explorer.ipynb") as (url, _log_tail), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1200})
        page.set_default_timeout(TIMEOUT * 1000)
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        try:
            page.goto(url + query)
            page.wait_for_selector(".jupyter-widgets")
            page.wait_for_function("() => document.body.innerText.includes('Done after')")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.js-plotly-plot')].filter(e => e.data).length >= 3")
            text = page.locator("body").inner_text()
            assert "Traceback" not in text
            assert "seed='minus' is invalid" in text and "whole number" in text and "using seed=0" in text
            assert "overlay='label:bad;tower:sgd(oops' (overlay 2) is left out" in text
            values = page.locator("input").evaluate_all("els => els.map(e => e.value)")
            assert "sgd(0.02)/sgd(1e-05)" in values
            assert any("spirals" in v for v in page.locator("select").evaluate_all("els => els.map(e => e.value)"))
            # the classroom mode: no tabs (Sweep, Export), no budget, seed or speed
            shown = page.locator(".gd-root").inner_text()
            assert page.locator(".gd-tabs").count() == 0 and "Train for" not in shown and "Speed" not in shown
            assert "Seed" not in shown and "Task" in shown and "Reset" in shown
            page.wait_for_function("""() => [...document.querySelectorAll('.js-plotly-plot')].some(el => el.layout
                && el.layout.title && el.layout.title.text.includes('Loss') && el.data[0].x.length > 0)""")
            # the link's overlay: trained and drawn on the loss chart under its label, in its colour
            page.wait_for_function("""() => [...document.querySelectorAll('.js-plotly-plot')].some(el => el.layout
                && el.layout.title && el.layout.title.text.includes('Loss') && el.data.some(t => t.name === 'plain sgd'
                && t.line && t.line.color === '#d62728' && t.x && t.x.length > 0))""")
            # the picture for viewers with no kernel never shows here (Voila renders a cell's outputs as the cell
            # ends, before the run's end updates the picture, so there may be none at all)
            assert not any(img.is_visible() for img in page.locator(f'img[src*="{STAND_IN_MARK}"]').all())
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "voila-link.png"), full_page=True)
            base = url.rstrip("/")
            # nothing on the page comes from the internet: Voila's page (the notebook's template) and the explorer
            # load everything from this server; Font Awesome's icons come from Voila's own bundle
            outside = {u for u in requests if not u.startswith((base, "data:", "blob:"))}
            assert requests and not outside, outside
            assert any(f"/voila/templates/{TEMPLATE}/static/" in u for u in requests), "not the notebook's template"
            icon_font = page.evaluate("""() => { const i = document.createElement('i');
                i.className = 'fa fa-check'; document.body.appendChild(i);
                const font = getComputedStyle(i).fontFamily; i.remove(); return font; }""")
            assert "Font Awesome" in icon_font, icon_font
        except BaseException:
            failure_screenshot(page, "voila-link")
            raise
        finally:
            browser.close()


def test_a_sweep_fills_the_sweep_tabs_charts_in_voila():
    """Opened on the Sweep tab by the link, a sweep started from its widgets fills both charts: a log axis with the
    four step sizes apart (not squeezed onto x = 0), a line per height, each chart whole inside the page."""
    require_browser()
    require_voila()
    from playwright.sync_api import sync_playwright

    charts = """() => [...document.querySelectorAll('.js-plotly-plot')].filter(el => el.layout && el.layout.title &&
        el.layout.title.text.includes('Final test')).map(el => {
        const box = el.getBoundingClientRect(), xa = el._fullLayout.xaxis;
        return {title: el.layout.title.text, type: xa.type, left: box.left, right: box.right,
                page: document.documentElement.clientWidth,
                lines: el._fullData.map(t => Array.from(t.x).map(x => Math.round(xa.l2p(xa.d2l(x)))))};
    })"""
    with voila_server(REPO / "notebooks" / "explorer.ipynb") as (url, _log_tail), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1200})
        page.set_default_timeout(TIMEOUT * 1000)
        try:
            page.goto(url + "?tab=Sweep")
            page.wait_for_function("() => document.body.innerText.includes('Done after')")
            for label, value in (("Initial step sizes", "0.001, 0.01, 0.1, 1"), ("Tower heights", "0, 1"),
                                 ("Steps per run", "10")):
                box = page.locator(".widget-inline-hbox").filter(
                    has=page.locator("label.widget-label", has_text=label)).first.locator("input").first
                box.fill(value)
                box.press("Enter")
            page.get_by_role("button", name="Start sweep", exact=True).click()
            page.wait_for_function(f"() => ({charts})().length === 2 && ({charts})().every("
                                   "c => c.lines.length === 2 && c.lines.every(l => l.length === 4))", timeout=300_000)
            for chart in page.evaluate(charts):
                assert chart["type"] == "log", chart
                assert 0 <= chart["left"] and chart["right"] <= chart["page"], f"cut off: {chart}"
                for line in chart["lines"]:   # four step sizes, a decade apart: four places on the axis
                    assert all(b - a > 20 for a, b in zip(line, line[1:])), chart
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "voila-sweep.png"), full_page=True)
        except BaseException:
            failure_screenshot(page, "voila-sweep")
            raise
        finally:
            browser.close()
