"""The landscape lab in a real browser (JupyterLab, headless Chromium): an explorer on the surface task shows the
contours, a click on the landscape moves the next run's start, Run draws the path as it grows from there, Pause,
"×30" on level 1's card nudges the run and level 1's chart marks it, Step shows the step table; then a tower named
"plain" added in the compare bar and Race: both paths grow again from the start, side by side. Saves
test-artifacts/landscape.png (the explorer's root: docs/landscape.png), landscape-page.png (the whole page) and
landscape-race.png (the explorer's root during the race)."""
import nbformat

from browser import ARTIFACTS, jupyter_lab

SETUP = """from gdtuo_explore import Explorer
from gdtuo_explore.engine.config import RunConfig
explorer = Explorer(RunConfig(task="surface", model="quadratic", tower="sgd(0.001)/sgd(1e-6)", steps=100_000))
explorer"""
TITLE = "<b>Landscape</b>"
# the landscape's plot in the page: its traces' point counts by name; its contour picture (a PNG under the plot area)
# and the plot area, in CSS pixels
LANDSCAPE = """() => {
    const el = [...document.querySelectorAll('.js-plotly-plot')].find(
        el => ((el.layout && el.layout.title && el.layout.title.text) || '').startsWith('<b>Landscape</b>'));
    if (!el) return null;
    const n = {};
    for (const d of el.data || []) n[d.name] = {n: d.x ? d.x.length : 0, x: d.x && d.x.length ? d.x[0] : null,
                                                 y: d.y && d.y.length ? d.y[0] : null, type: d.type};
    const im = el.querySelector('.imagelayer image'), box = im ? im.getBoundingClientRect() : null;
    const href = im ? (im.getAttribute('href') || im.getAttribute('xlink:href') || '') : '';
    return {traces: n, picture: box && {width: box.width, height: box.height, png: href.startsWith('data:image/png')},
            plot: {width: el._fullLayout.xaxis._length, height: el._fullLayout.yaxis._length}};
}"""
# the page position of a point (x, y) in the landscape's data coordinates
PIXEL = """([x, y]) => {
    const el = [...document.querySelectorAll('.js-plotly-plot')].find(
        el => ((el.layout && el.layout.title && el.layout.title.text) || '').startsWith('<b>Landscape</b>'));
    const fl = el._fullLayout, box = el.getBoundingClientRect();
    return [box.left + fl.xaxis._offset + fl.xaxis.l2p(x), box.top + fl.yaxis._offset + fl.yaxis.l2p(y)];
}"""
MARKS = """() => {
    const el = [...document.querySelectorAll('.js-plotly-plot')].find(
        el => ((el.layout && el.layout.title && el.layout.title.text) || '').startsWith('<b>Level 1</b>'));
    return el ? el.querySelectorAll('.shapelayer path').length : -1;
}"""


def test_the_landscape_in_jupyterlab(tmp_path):
    notebook = tmp_path / "landscape_lab.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}}), notebook)
    with jupyter_lab(notebook, name="landscape", timeout=120) as lab:
        page = lab.open()
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        page.set_viewport_size({"width": 1800, "height": 1500})   # the landscape beside the loss chart
        lab.run_all(timeout=300)
        lab.wait_widgets()
        lab.wait_for(lambda: (page.evaluate(LANDSCAPE) or {}).get("picture"), "the contours drawn")
        drawn = page.evaluate(LANDSCAPE)
        picture, plot = drawn["picture"], drawn["plot"]   # the picture covers the plot area (the surface's bounds)
        assert picture["png"], picture
        assert abs(picture["width"] - plot["width"]) < 2 and abs(picture["height"] - plot["height"]) < 2, drawn
        shown = drawn["traces"]
        assert shown["f"]["type"] == "heatmap" and shown["minimum"]["n"] == 1
        assert (shown["next start"]["x"], shown["next start"]["y"]) == (-4, 1)   # the bowl's default start

        # a click on the landscape moves the start of the next run (the marker, and the setup in the kernel)
        page.mouse.click(*page.evaluate(PIXEL, [-3.5, -1.5]))
        lab.wait_for(lambda: abs(page.evaluate(LANDSCAPE)["traces"]["next start"]["x"] + 3.5) < 0.1,
                     "the start marker to move to the click")
        start = page.evaluate(LANDSCAPE)["traces"]["next start"]
        assert abs(start["y"] + 1.5) < 0.05
        assert f"starts at ({start['x']:g}, {start['y']:g})" in lab.output_text()

        # Run: the path grows from the clicked start
        lab.click_button("Run")
        path = "run 1: sgd(0.001)/sgd(1e-06)"
        lab.wait_for(lambda: page.evaluate(LANDSCAPE)["traces"].get(path, {}).get("n", 0) > 1, "the path's points")
        first = page.evaluate(LANDSCAPE)["traces"][path]
        assert abs(first["x"] - start["x"]) < 1e-5 and abs(first["y"] - start["y"]) < 1e-5   # float32 weights
        n = first["n"]
        lab.wait_for(lambda: page.evaluate(LANDSCAPE)["traces"][path]["n"] > n, "the path to grow")
        x0, y0 = map(float, lab.kernel_execute("m = explorer.current_run.metrics(); print(m['x'][0], m['y'][0])")
                     .split())
        assert abs(x0 - start["x"]) < 1e-5 and abs(y0 - start["y"]) < 1e-5

        # Pause, then a teacher's kick: ×30 on level 1's step size, marked on level 1's chart; then Step shows what the
        # next update did (on this bowl, alpha x 30 is past the stable 2/50: run on, the tower may or may not pull it
        # back; paused, the test does not depend on which)
        lab.click_button("Pause")
        lab.wait_for(lambda: "Paused at step" in lab.output_text(), "the run to pause")
        page.locator(".gd-card-weights").get_by_role("button", name="×30", exact=True).click()
        lab.wait_for(lambda: "level1.alpha:" in lab.output_text(), "the card to say what the nudge did")
        lab.wait_for(lambda: page.evaluate(MARKS) >= 1, "the nudge mark on level 1's chart")
        assert lab.kernel_execute("print(len(explorer.current_run.nudges()))").strip() == "1"
        done = int(lab.kernel_execute("print(explorer.current_run.steps_done)"))
        lab.click_button("Step")
        lab.wait_for(lambda: f"step {done + 1:,}, one update" in lab.output_text().lower(),
                     f"the step table of step {done + 1}")
        table = page.locator(".gd-step-table").inner_text()
        assert "before" in table and "hypergradient" in table and "after" in table and "dot product" in table, table
        kicked = lab.kernel_execute("print(explorer.current_run.nudges()[0]['new'])").strip()
        assert f"alpha\t{float(kicked):.6g}" in table, (kicked, table)   # the step started from the nudged value
        lab.dismiss_toasts()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator(".gd-root").first.screenshot(path=str(ARTIFACTS / "landscape.png"))
        lab.screenshot("landscape-page")

        # a race: plain SGD added in the compare bar, then Race restarts the run and it together from the start
        page.get_by_placeholder("a tower, e.g. sgd(0.01)").fill("sgd(0.001)")
        page.get_by_placeholder("a tower, e.g. sgd(0.01)").press("Enter")
        page.get_by_placeholder("name (optional)").fill("plain")
        page.get_by_placeholder("name (optional)").press("Enter")
        lab.click_button("Add tower")
        plain = "plain: sgd(0.001)"
        lab.wait_for(lambda: page.evaluate(LANDSCAPE)["traces"].get(plain, {}).get("n", 0) > 1, "plain's path")
        lab.click_button("Race")
        lab.wait_for(lambda: lab.kernel_execute("print(explorer.state.status)").strip() == "running",
                     "the race to start")
        raced = lab.kernel_execute("print(explorer.state.current.label)").strip()
        assert raced != path and raced.endswith(": sgd(0.001)/sgd(1e-06)"), raced   # a new run of the setup
        counts = lambda: [page.evaluate(LANDSCAPE)["traces"].get(name, {}).get("n", 0)  # noqa: E731
                          for name in (raced, plain)]
        lab.wait_for(lambda: min(counts()) > 1, "both paths drawn again")
        for name in (raced, plain):   # both from the clicked start
            first = page.evaluate(LANDSCAPE)["traces"][name]
            assert abs(first["x"] - start["x"]) < 1e-5 and abs(first["y"] - start["y"]) < 1e-5, (name, first)
        grown = counts()
        lab.wait_for(lambda: all(now > then for now, then in zip(counts(), grown)), "both paths to grow")
        steps = lab.kernel_execute("s = explorer.state; print(s.current.run.steps_done, s.compared[0].run.steps_done, "
                                   "s.current.run.pace, s.compared[0].run.pace, s.compared[0].label)")
        steps = steps.strip().split(maxsplit=4)
        assert abs(int(steps[0]) - int(steps[1])) <= 2 + 50 * 0.2, steps   # side by side at 50 steps/s
        assert steps[2:] == ["50.0", "50.0", plain], steps
        lab.dismiss_toasts()
        page.locator(".gd-root").first.screenshot(path=str(ARTIFACTS / "landscape-race.png"))
        assert not lab.errors()
