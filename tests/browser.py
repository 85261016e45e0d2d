"""Real-browser harness: a headless JupyterLab server + the system Chromium driven by Playwright. The browser tests
use it, and so does the benchmark's live-charts row (``gdtuo_explore/bench/live.py`` loads this file from the clone).

Usage (in a test)::

    from browser import REPO, jupyter_lab

    def test_something():
        with jupyter_lab(REPO / "notebooks" / "explorer.ipynb") as lab:   # copies the notebook into a temp root dir
            lab.open()                        # opens /lab/tree/<notebook>, waits for the notebook + idle kernel
            lab.run_all()                     # Run All Cells, waits until no cell is still running
            lab.wait_widgets()                # at least one rendered ipywidget view (.jupyter-widgets)
            lab.wait_plots(1)                 # at least one rendered Plotly chart (.js-plotly-plot)
            n = lab.plot_points(0)            # number of x values in trace 0 of chart 0
            lab.click_button("Run")           # an ipywidgets Button, by its exact label, in the cell outputs
            lab.select("Task", "digits")      # a Dropdown, by its description; lab.fill("lr", 0.01) for text/sliders
            lab.wait_for(lambda: lab.plot_points(0) > n, "the chart grows")
            lab.screenshot("explorer")        # -> test-artifacts/explorer.png
            lab.page                          # the Playwright Page, for anything else

Helpers on the object: ``open``, ``run_all`` (raises if a cell raised; ``check=False`` to allow it),
``wait_kernel_idle``, ``cells``, ``errors``, ``wait_widgets``, ``wait_plots``, ``check_charts`` (every chart drawn
from its model's state: a title and its width), ``plot_count``, ``plot_data`` (a chart's whole ``el.data`` as JSON),
``plot_points``, ``button``, ``click_button``, ``widget`` (a locator by description), ``select``, ``fill``,
``output_text``, ``wait_for``, ``screenshot``, ``dismiss_toasts``, ``execute_command`` (any JupyterLab command id),
``kernel_execute`` (run code in the notebook's kernel, get its printed text), ``watch_redraws``/``redraws`` (time
every Plotly redraw in the page, and the page's long tasks), plus ``page``, ``url``, ``port``, ``root_dir``,
``server_log()``.
``jupyter_lab(path, extra_files=(...), name=..., timeout=60, env={...})``: ``timeout`` (s) is every wait's default.

The server: ``python -m jupyter lab`` on 127.0.0.1 with a free port, an empty token, ``--allow-root`` when run
as root, its root dir a fresh temp dir (with its own settings/workspaces/runtime dirs, the news toast turned
off), no browser. It is stopped by its own process id (its process group; its kernels are shut down through
the REST API first) when the ``with`` block ends, even on failure. On failure, a screenshot
``test-artifacts/<name>-failure.png`` and the tail of the server log are kept/shown.

The kernel inherits this process's environment (e.g. ``GDTUO_FAST=1`` set by ``make test``).
If Chromium, the playwright package or jupyterlab is missing, ``jupyter_lab`` raises :class:`BrowserMissing` saying
how to install them: the test fails (never skips).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("GDTUO_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM = os.environ.get("GDTUO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
LAB_SETTINGS = {  # user settings of the test server: no news toast; every cell in the DOM (no windowing)
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}
INSTALL_HINT = ("`make test` installs everything the browser tests need; by hand: "
                "`sudo apt-get install chromium` and `.venv/bin/python -m pip install -e '.[lab,baselines,dev]'`")


# the explorer's charts, read in the page: points of a trace, found by its chart's title and its name
# (-1 if there is no such chart)
TRACE = """([title, name]) => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        const t = (el.layout && el.layout.title && el.layout.title.text) || '';
        if (!t.startsWith(title)) continue;
        const tr = (el.data || []).find(d => d.name === name);
        return tr ? {uid: tr.uid || '', n: tr.x ? tr.x.length : 0} : {uid: '', n: 0};
    }
    return {uid: '', n: -1};
}"""
LOSS = ("<b>Loss</b>", "train loss")
# the last x of a trace found the same way (-1 if none)
LAST_STEP = """([title, name]) => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        const t = (el.layout && el.layout.title && el.layout.title.text) || '';
        if (!t.startsWith(title)) continue;
        const tr = (el.data || []).find(d => d.name === name);
        return tr && tr.x && tr.x.length ? tr.x[tr.x.length - 1] : -1;
    }
    return -1;
}"""


class BrowserMissing(RuntimeError):
    """The system Chromium, playwright or jupyterlab is missing."""


def missing() -> list[str]:
    """What the harness needs and lacks ([] if nothing)."""
    problems = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        problems.append(f"no Chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the python package `playwright` is not installed")
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        problems.append("the python package `jupyterlab` is not installed")
    return problems


def require_browser():
    """Raise :class:`BrowserMissing` with an install hint when Chromium, playwright or jupyterlab is missing."""
    problems = missing()
    if problems:
        raise BrowserMissing("a real browser cannot run: " + "; ".join(problems) + ". " + INSTALL_HINT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str, method: str = "GET", timeout: float = 2.0, headers: dict | None = None):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
        return r.status, (json.loads(body) if body and r.headers.get_content_type() == "application/json" else body)


def stop_server(proc: subprocess.Popen, base: str, headers: dict | None = None, term_wait: float = 10) -> None:
    """Stop a Jupyter server started with ``start_new_session=True``: its kernels first, through its REST API (they
    live in sessions of their own), then its process group, SIGTERM then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(Exception):
            _, kernels = _http(f"{base}/api/kernels", headers=headers)
            for k in kernels:
                _http(f"{base}/api/kernels/{k['id']}", method="DELETE", timeout=5, headers=headers)
    for sig, wait in ((signal.SIGTERM, term_wait), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)


class JupyterLab:
    """A running server + (after ``open``) a Chromium page on one notebook. Made by ``jupyter_lab``."""

    def __init__(self, root_dir: Path, notebook: str, port: int, proc: subprocess.Popen, log_path: Path,
                 name: str, timeout: float):
        self.root_dir, self.notebook, self.port, self.proc = root_dir, notebook, port, proc
        self.log_path, self.name, self.timeout = log_path, name, timeout
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/lab/tree/{notebook}"
        self.page = None
        self.console: list[str] = []  # browser console errors/warnings and page errors
        self._pw = self._browser = None

    # ------------------------------------------------------------------ server
    def server_log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def _wait_server(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode}:\n{self.server_log()}")
            with contextlib.suppress(OSError, ValueError):
                if _http(f"{self.base}/api/status")[0] == 200:
                    return
            time.sleep(0.25)
        raise TimeoutError(f"JupyterLab did not answer on port {self.port} in {self.timeout}s:\n{self.server_log()}")

    def _stop_server(self):
        stop_server(self.proc, self.base)

    # ------------------------------------------------------------------ browser
    def open(self, timeout: float | None = None):
        """Launch Chromium, open the notebook, wait for it and for an idle kernel. Returns the Page."""
        from playwright.sync_api import sync_playwright

        timeout = timeout or self.timeout
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        self.page = self._browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.set_default_timeout(timeout * 1000)
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.goto(self.url)
        self.page.wait_for_selector(".jp-Notebook")
        self.page.wait_for_function("() => !!window.jupyterapp", timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)
        self.dismiss_toasts()
        return self.page

    def _close_browser(self):
        with contextlib.suppress(Exception):
            if self._browser:
                self._browser.close()
        with contextlib.suppress(Exception):
            if self._pw:
                self._pw.stop()

    def dismiss_toasts(self):
        """Close notifications (e.g. 'Would you like to get notified about official Jupyter news?')."""
        page = self.page
        for _ in range(5):
            news = page.get_by_role("button", name="No", exact=True)
            if news.count() and news.first.is_visible():
                news.first.click()
                continue
            close = page.locator(".Toastify__toast .Toastify__close-button, .jp-toast-button:has-text('Dismiss')")
            if close.count() and close.first.is_visible():
                close.first.click()
                continue
            break

    def execute_command(self, command: str, args: dict | None = None):
        """Run a JupyterLab command by id (e.g. 'notebook:run-all-cells'), as the menus do."""
        self.page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)", [command, args or {}])

    _KERNEL_STATUS = """() => {
        const w = window.jupyterapp.shell.currentWidget;
        const k = w && w.context && w.context.sessionContext.session && w.context.sessionContext.session.kernel;
        return k ? k.status : null;
    }"""

    def wait_kernel_idle(self, timeout: float | None = None):
        self.page.wait_for_function(f"() => ({self._KERNEL_STATUS})() === 'idle'",
                                    timeout=(timeout or self.timeout) * 1000)

    _CELLS = """() => {
        const w = window.jupyterapp.shell.currentWidget;
        return w.content.widgets.filter(c => c.model.type === 'code').map(c => ({
            count: c.model.executionCount,
            errors: c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                     .map(o => o.ename + ': ' + o.evalue),
        }));
    }"""

    def cells(self) -> list[dict]:
        """The code cells as seen by the front end: ``{"count": execution count or None, "errors": [...]}``."""
        return self.page.evaluate(self._CELLS)

    def errors(self) -> list[str]:
        """'Name: value' of every error output in the notebook."""
        return [e for c in self.cells() for e in c["errors"]]

    def run_all(self, wait: bool = True, timeout: float | None = None, check: bool = True):
        """Run All Cells (the Run menu's command). With ``wait``: until every code cell ran (or one failed) and
        the kernel is idle; with ``check``: fail if a cell raised. A cell that starts a background thread counts
        as done when the cell returns."""
        self.execute_command("notebook:run-all-cells")
        if not wait:
            return
        self.page.wait_for_function(
            f"""() => {{
                const cells = ({self._CELLS})();
                const done = cells.every(c => c.count !== null) || cells.some(c => c.errors.length);
                return done && ({self._KERNEL_STATUS})() === 'idle';
            }}""",
            timeout=(timeout or self.timeout) * 1000,
        )
        self.dismiss_toasts()
        if check and self.errors():
            raise AssertionError("a notebook cell raised: " + "; ".join(self.errors()))

    def wait_widgets(self, count: int = 1, timeout: float | None = None):
        self.page.wait_for_function(f"() => document.querySelectorAll('.jp-OutputArea .jupyter-widgets').length >= {count}",
                                    timeout=(timeout or self.timeout) * 1000)

    def wait_plots(self, count: int = 1, timeout: float | None = None):
        """Wait for ``count`` Plotly charts that have data."""
        self.page.wait_for_function(
            f"() => [...document.querySelectorAll('.js-plotly-plot')].filter(e => e.data).length >= {count}",
            timeout=(timeout or self.timeout) * 1000)

    def plot_count(self) -> int:
        return self.page.evaluate("() => document.querySelectorAll('.js-plotly-plot').length")

    def plot_data(self, index: int = 0) -> list[dict]:
        """``el.data`` of the index-th Plotly chart on the page (a list of traces, JSON-able)."""
        return self.page.evaluate(
            "i => JSON.parse(JSON.stringify(document.querySelectorAll('.js-plotly-plot')[i].data || []))", index)

    def plot_points(self, index: int = 0, trace: int = 0) -> int:
        """Number of x values in one trace of the index-th chart (0 if it has none)."""
        return self.page.evaluate(
            """([i, t]) => { const el = document.querySelectorAll('.js-plotly-plot')[i];
                             const d = el && el.data && el.data[t];
                             return d && d.x ? d.x.length : 0; }""", [index, trace])

    def button(self, label: str):
        """Locator of the ipywidgets Button labelled exactly ``label`` in the cell outputs."""
        return self.page.locator(".jp-OutputArea").get_by_role("button", name=label, exact=True)

    def click_button(self, label: str):
        btn = self.button(label)
        btn.first.wait_for(state="visible")
        btn.first.click()

    def widget(self, description: str):
        """Locator of the ipywidget (Dropdown, slider, Text, Checkbox...) whose description is exactly ``description``."""
        label = self.page.locator("label.widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
        return self.page.locator(".jp-OutputArea .widget-inline-hbox").filter(has=label).first

    def select(self, description: str, option: str):
        """Pick ``option`` (its shown label) in the Dropdown described ``description``."""
        self.widget(description).locator("select").select_option(label=option)

    def fill(self, description: str, value):
        """Type ``value`` into a Text/IntText/FloatText (or a slider's readout) and press Enter to commit it."""
        box = self.widget(description).locator("input:not([type=checkbox]), textarea, .widget-readout").first
        box.fill(str(value))
        box.press("Enter")

    def output_text(self) -> str:
        """The visible text of all cell outputs (widget labels, status lines, printed text)."""
        return "\n".join(self.page.locator(".jp-OutputArea-output").all_inner_texts())

    def wait_for(self, predicate, what: str = "condition", timeout: float | None = None, poll: float = 0.2):
        """Poll a Python predicate (which may call the helpers above) until true."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if predicate():
                return
            self.page.wait_for_timeout(poll * 1000)
        raise TimeoutError(f"timed out waiting for: {what}")

    _EXECUTE = """async (code) => {
        const k = window.jupyterapp.shell.currentWidget.context.sessionContext.session.kernel;
        const future = k.requestExecute({code, store_history: false, silent: false});
        let out = '';
        future.onIOPub = m => {
            if (m.header.msg_type === 'stream') out += m.content.text;
            if (m.header.msg_type === 'error') out += m.content.ename + ': ' + m.content.evalue;
        };
        await future.done;
        return out;
    }"""

    def kernel_execute(self, code: str) -> str:
        """Run ``code`` in the notebook's kernel (not in a cell); returns what it printed (and an error's text)."""
        return self.page.evaluate(self._EXECUTE, code)

    _WATCH = """() => {
        if (window.__gdRedraws) return true;
        const log = window.__gdRedraws = {redraws: [], longtasks: []};
        // every FigureWidget view draws with its own copy of Plotly (anywidget loads the module per widget), so
        // the draws are timed on the charts themselves: from Plotly's 'plotly_beforeplot' event to its
        // 'plotly_afterplot' on the same chart (each restyle, relayout or react that redraws goes through both)
        const attach = () => document.querySelectorAll('.js-plotly-plot').forEach(el => {
            if (el.__gdWatched || typeof el.on !== 'function') return;
            el.__gdWatched = true;
            el.on('plotly_beforeplot', () => { el.__gdT0 = performance.now(); });
            el.on('plotly_afterplot', () => {
                if (el.__gdT0 === undefined) return;
                const title = (el.layout && el.layout.title && el.layout.title.text) || '';
                log.redraws.push({chart: title.split('<br>')[0].replace(/<[^>]+>/g, ''), call: 'plot',
                                  t: el.__gdT0, ms: performance.now() - el.__gdT0});
                el.__gdT0 = undefined;
            });
        });
        attach();
        setInterval(attach, 250);
        try {
            new PerformanceObserver(list => list.getEntries().forEach(
                e => log.longtasks.push({t: e.startTime, ms: e.duration}))).observe({type: 'longtask'});
        } catch (e) { /* no long-task timing in this browser */ }
        return true;
    }"""

    def watch_redraws(self) -> bool:
        """Time every redraw of every chart in the page (from Plotly's ``plotly_beforeplot`` event to its
        ``plotly_afterplot``) and record the page's long tasks (> 50 ms). Returns True."""
        return self.page.evaluate(self._WATCH)

    def redraws(self, clear: bool = False) -> dict:
        """``{"redraws": [{chart, call, t, ms}], "longtasks": [{t, ms}]}`` since :meth:`watch_redraws` (or the last
        ``clear``); times in ms of the page's clock."""
        return self.page.evaluate("""(clear) => {
            const log = window.__gdRedraws || {redraws: [], longtasks: []};
            const out = JSON.parse(JSON.stringify(log));
            if (clear) { log.redraws.length = 0; log.longtasks.length = 0; }
            return out;
        }""", clear)

    _CHARTS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(el => ({
        title: ((el.layout && el.layout.title && el.layout.title.text) || '').replace(/<[^>]+>/g, ''),
        width: el._fullLayout ? el._fullLayout.width : null, traces: (el.data || []).length}))"""

    def check_charts(self, width: int | None = None) -> list[dict]:
        """Every chart on the page, ``{title, width, traces}``; fails if one has no title or (given ``width``) is
        not that wide: a view drawn from anything but its model's state."""
        charts = self.page.evaluate(self._CHARTS)
        bad = [c for c in charts if not c["title"] or (width is not None and c["width"] != width)]
        assert not bad, f"charts not drawn from their models' state: {bad} (of {charts})"
        return charts

    def screenshot(self, name: str | None = None, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name or self.name}.png"
        self.dismiss_toasts()
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@contextlib.contextmanager
def jupyter_lab(notebook, *, extra_files=(), name: str | None = None, timeout: float = 60, env: dict | None = None):
    """Start JupyterLab on a temp copy of ``notebook`` (a path); yield a ``JupyterLab``; always stop it.

    ``extra_files``: more paths copied next to the notebook. ``env``: extra environment for the server/kernel.
    """
    require_browser()
    notebook = Path(notebook).resolve()
    name = name or notebook.stem
    tmp = Path(tempfile.mkdtemp(prefix="gdtuo-lab-"))
    root, home = tmp / "root", tmp / "home"
    root.mkdir()
    for f in (notebook, *map(Path, extra_files)):
        shutil.copy(f, root / Path(f).name)
    for plugin, values in LAB_SETTINGS.items():
        f = home / "settings" / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))

    port = free_port()
    server_env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),  # no user config; extensions come from sys.prefix
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=server_env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    lab = JupyterLab(root, notebook.name, port, proc, log_path, name, timeout)
    try:
        lab._wait_server()
        yield lab
    except BaseException:
        if lab.page is not None:
            with contextlib.suppress(Exception):
                print(f"failure screenshot: {lab.screenshot(name + '-failure')}")
            print("browser console:\n  " + "\n  ".join(lab.console[-30:]))
        print(f"JupyterLab log tail ({log_path}):\n{lab.server_log()}")
        raise
    finally:
        lab._close_browser()
        lab._stop_server()
        shutil.rmtree(tmp, ignore_errors=True)
