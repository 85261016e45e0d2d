"""The explorer in JupyterLab, after a page reload and in a second browser tab: every chart (the Train tab's and the
Sweep tab's) comes back with its title, axes and traces, drawn from its model's synced state; nothing the page loads
comes from the internet; and the notebook JupyterLab saves with "Save Widget State Automatically" on holds no copy
of plotly's widget code and one picture of the charts, of the finished run, for viewers with no kernel."""
import json
import time

from browser import ARTIFACTS, REPO, jupyter_lab
from gdtuo_explore.explorer.figure import STAND_IN_MARK

SWEEP = ("explorer.state.sweep.alphas = '0.001, 0.01, 0.1, 1'\n"
         "explorer.state.sweep.heights = '0, 1'\n"
         "explorer.state.sweep.steps = 30\n"
         "print(explorer.sweep(wait=True, timeout=400))\n"
         "explorer.state.tab = 'Sweep'\n")
# every chart a widget shows (the landscape is there but hidden, display: none, for a task other than the surface)
CHARTS = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(el => !el.closest('[style*="display: none"]')).map(el => ({
    title: ((el.layout && el.layout.title && el.layout.title.text) || '').split('<br>')[0].replace(/<[^>]+>/g, ''),
    xtype: el._fullLayout ? el._fullLayout.xaxis.type : null,
    ytitle: el._fullLayout && el._fullLayout.yaxis.title ? el._fullLayout.yaxis.title.text : null,
    width: el._fullLayout ? el._fullLayout.width : null,
    traces: (el._fullData || []).map(t => [t.name, t.x ? t.x.length : 0]),
}))"""


def charts(page) -> dict:
    return {c["title"]: c for c in page.evaluate(CHARTS)}


def wait_charts(page, expected: dict, timeout: float = 120.0) -> dict:
    """Poll until the page's charts are ``expected`` (the same titles, axes and traces); return what it shows."""
    deadline = time.monotonic() + timeout
    while True:
        shown = charts(page)
        if shown == expected:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"the charts did not come back as they were:\n{json.dumps(shown, indent=1)}\n"
                                 f"expected:\n{json.dumps(expected, indent=1)}")
        page.wait_for_timeout(250)


def test_every_chart_comes_back_after_a_reload_and_in_a_second_tab_and_nothing_comes_from_the_internet():
    with jupyter_lab(REPO / "notebooks" / "explorer.ipynb", name="reload", timeout=120) as lab:
        plugin = lab.root_dir.parent / "home" / "settings" / "@jupyter-widgets" / "jupyterlab-manager"
        plugin.mkdir(parents=True, exist_ok=True)
        (plugin / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
        page = lab.open()
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.set_viewport_size({"width": 1500, "height": 1400})
        lab.run_all(timeout=300)
        lab.wait_widgets()
        lab.wait_plots(5)
        assert lab.kernel_execute(SWEEP).strip() == "done"
        lab.wait_for(lambda: all(n == 4 for title in ("Final test loss", "Final test accuracy")
                                 for _, n in charts(page).get(title, {"traces": [("", 0)]})["traces"]),
                     "the sweep's points on the Sweep tab's charts", timeout=60)
        before = charts(page)
        for title in ("Final test loss", "Final test accuracy"):   # a log axis, one line of 4 points per height
            assert before[title]["xtype"] == "log" and len(before[title]["traces"]) == 2, before[title]
        assert {"Loss", "Test accuracy", "Final test loss", "Final test accuracy"} <= set(before)
        assert all(c["traces"] and all(n > 0 for _, n in c["traces"]) and c["width"] for c in before.values()), before
        lab.screenshot("reload-before")

        # save (as JupyterLab's autosave does), with the widgets' state: the reload opens the saved outputs
        saved = lab.root_dir / lab.notebook
        mtime = saved.stat().st_mtime
        lab.execute_command("docmanager:save")
        lab.wait_for(lambda: saved.stat().st_mtime != mtime and "widgets" in json.loads(saved.read_text()).get(
            "metadata", {}), "JupyterLab to save the notebook with its widget state", timeout=60)
        nb = json.loads(saved.read_text())
        pictures = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert len(pictures) == 1 and STAND_IN_MARK in pictures[0]["data"]["image/png"].replace("\n", ""), \
            "the saved notebook keeps one picture of the charts for viewers with no kernel"
        assert "done" in "".join(pictures[0]["data"]["text/plain"])
        state = len(json.dumps(nb["metadata"]["widgets"]))
        print(f"\nJupyterLab saved {saved.stat().st_size:,d} B, widget state {state:,d} B")
        assert 0 < saved.stat().st_size < 1_000_000

        page.reload()
        page.wait_for_selector(".jp-Notebook")
        lab.wait_kernel_idle()
        wait_charts(page, before)
        lab.screenshot("reload-after")

        second = lab._browser.new_page(viewport={"width": 1500, "height": 1400})
        second.on("request", lambda r: requests.append(r.url))
        second.goto(lab.url)
        second.wait_for_selector(".jp-Notebook")
        wait_charts(second, before)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        second.screenshot(path=str(ARTIFACTS / "reload-second-tab.png"), full_page=True)

        outside = {u for u in requests if not u.startswith((lab.base, "data:", "blob:", "ws://127.0.0.1"))}
        assert requests and not outside, outside

