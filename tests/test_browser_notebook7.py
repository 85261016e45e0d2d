"""Jupyter Notebook 7 (the ``notebook`` package of the ``lab`` extra) serves the explorer: ``jupyter notebook`` starts
(headless, 127.0.0.1, a free port), the system Chromium opens /notebooks/explorer.ipynb, its cells render, its kernel
starts, and after Run All the explorer's widgets and charts are on the page, with no cell raising. Saves
test-artifacts/notebook7.png. Fails (never skips) when the notebook package, Chromium or playwright is missing."""
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from browser import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, INSTALL_HINT, LAST_STEP, LOSS, REPO, TRACE, _http, free_port,
                     require_browser, stop_server)

TIMEOUT = 180   # s: the server's start, the kernel's, and every cell of the notebook (GDTUO_FAST's short run)
SETTINGS = {"@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}
KERNEL = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.context && w.context.sessionContext.session && w.context.sessionContext.session.kernel;
    return k ? k.status : null;
}"""


@contextlib.contextmanager
def notebook_server(notebook: Path, timeout: float = TIMEOUT):
    """``jupyter notebook`` on a temp copy of ``notebook``; yields its base URL; always stopped by its process
    group."""
    if importlib.util.find_spec("notebook") is None:
        pytest.fail("Jupyter Notebook 7 is not installed (the `notebook` package). " + INSTALL_HINT, pytrace=False)
    tmp = Path(tempfile.mkdtemp(prefix="gdtuo-nb7-"))
    root, home = tmp / "root", tmp / "home"
    root.mkdir()
    shutil.copy(notebook, root / notebook.name)
    for plugin, values in SETTINGS.items():
        path = home / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "jupyter", "notebook", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
           "--JupyterNotebookApp.expose_app_in_browser=True"] + (["--allow-root"] if os.geteuid() == 0 else [])
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    tail = lambda: log_path.read_text(errors="replace")[-4000:]  # noqa: E731
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter notebook exited with code {proc.returncode}:\n{tail()}")
            with contextlib.suppress(OSError, ValueError):
                if _http(f"{base}/api/status")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter notebook did not answer on port {port} in {timeout}s:\n{tail()}")
            time.sleep(0.25)
        yield base
    except BaseException:
        print(f"jupyter notebook log tail ({log_path}):\n{tail()}")
        raise
    finally:
        stop_server(proc, base)
        shutil.rmtree(tmp, ignore_errors=True)


def test_notebook7_opens_the_explorer_notebook_and_runs_it():
    require_browser()
    from playwright.sync_api import sync_playwright

    path = REPO / "notebooks" / "explorer.ipynb"
    cells = len(nbformat.read(path, as_version=4).cells)
    with notebook_server(path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(TIMEOUT * 1000)
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        try:
            page.goto(f"{base}/notebooks/{path.name}")
            page.wait_for_selector(".jp-Notebook")
            print("page title:", page.title())
            page.wait_for_function(f"() => ({KERNEL})() === 'idle'")
            assert page.locator(".jp-Notebook .jp-Cell").count() == cells
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function("""() => {
                const w = window.jupyterapp.shell.currentWidget;
                return w.content.widgets.filter(c => c.model.type === 'code')
                        .every(c => c.model.executionCount !== null);
            }""")
            page.wait_for_function(f"() => ({KERNEL})() === 'idle'")
            errors = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
                .filter(c => c.model.type === 'code')
                .flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error'))
                .map(o => o.ename + ': ' + o.evalue)""")
            assert errors == []
            page.wait_for_selector(".jp-OutputArea .jupyter-widgets")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            try:   # the explorer's charts: loss, accuracy and level 1, each drawn with its title
                page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].filter("
                                       "e => e.layout && e.layout.title && e.layout.title.text).length >= 3",
                                       timeout=60_000)
            finally:
                page.screenshot(path=str(ARTIFACTS / "notebook7.png"), full_page=True)
            assert "level 1's alpha" in page.locator(".jp-OutputArea-output").all_inner_texts()[-1]

            # Run from the widgets: a long budget, the loss chart grows, Stop, the status line and the chart agree
            trace = lambda: page.evaluate(TRACE, list(LOSS))  # noqa: E731
            text = lambda: page.locator(".gd-root").inner_text()  # noqa: E731
            box = page.locator(".widget-inline-hbox").filter(
                has=page.locator("label.widget-label", has_text="Train for")).first.locator("input").first
            box.fill("1000000")
            box.press("Enter")
            before = trace()["uid"]
            page.get_by_role("button", name="Run", exact=True).first.click()
            page.wait_for_function(f"() => {{ const t = ({TRACE})({list(LOSS)!r}); "
                                   f"return t.uid !== {before!r} && t.n > 0; }}", timeout=60_000)
            n = trace()["n"]
            page.wait_for_function(f"() => ({TRACE})({list(LOSS)!r}).n > {n}", timeout=60_000)
            assert "Training: step" in text()
            page.get_by_role("button", name="Stop", exact=True).first.click()
            page.wait_for_function("() => document.querySelector('.gd-root').innerText.includes('Stopped at step')",
                                   timeout=60_000)
            step = int(re.search(r"Stopped at step ([\d,]+)", text()).group(1).replace(",", ""))
            page.wait_for_function(f"() => ({LAST_STEP})({list(LOSS)!r}) === {step}", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "notebook7-run.png"), full_page=True)
            outside = {u for u in requests if not u.startswith((base, "data:", "blob:", "ws://127.0.0.1"))}
            assert requests and not outside, outside
        finally:
            browser.close()
