"""The explorer's layout in a real browser (JupyterLab + the system Chromium) at laptop sizes with the file browser
open: no widget sticks out of the notebook's output area, nothing needs a horizontal scroll bar and no button's text
is cut. Saves test-artifacts/layout-1280.png and layout-1440.png (what the user sees) and layout-*-explorer.png (the
whole explorer). The notebook's own run and a frozen baseline are on the charts and in the Compare table, in the views
made when the notebook ran."""
import pytest

from browser import ARTIFACTS, REPO, jupyter_lab
from gdtuo_explore.explorer.charts import CHART_WIDTH

SIZES = [(1280, 800), (1440, 900)]

# Everything visible under .gd-root that reaches outside the output area, buttons whose text does not fit, and
# whether the output area or the explorer scrolls sideways.
MEASURE = """() => {
    const root = document.querySelector('.gd-root');
    const area = root.closest('.jp-OutputArea-output');
    const box = area.getBoundingClientRect();
    const name = el => el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined
        ? '.' + String(el.className).trim().split(/\\s+/).slice(0, 3).join('.') : '')
        + (el.textContent ? ' "' + el.textContent.trim().slice(0, 30) + '"' : '');
    const outside = [];
    for (const el of root.querySelectorAll('*')) {
        if (!el.getClientRects().length) continue;
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) continue;
        if (r.left < box.left - 1 || r.right > box.right + 1)
            outside.push(`${name(el)}: ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
    const truncated = [...root.querySelectorAll('button')].filter(b => b.getClientRects().length
        && b.scrollWidth > b.clientWidth + 1).map(b => `${b.textContent.trim()} (${b.scrollWidth} > ${b.clientWidth})`);
    return {area: [Math.round(box.left), Math.round(box.right)], window: window.innerWidth,
            outside: outside.slice(0, 15), count: outside.length, truncated,
            areaScrolls: area.scrollWidth > area.clientWidth + 1, rootScrolls: root.scrollWidth > root.clientWidth + 1,
            sidebar: !window.jupyterapp.shell.leftCollapsed};
}"""


# What the layout depends on: the output area's box and every chart's and button's box (stable once laid out).
BOXES = """() => JSON.stringify([...document.querySelectorAll('.jp-OutputArea-output, .gd-root .js-plotly-plot, '
    + '.gd-root button')].map(el => { const r = el.getBoundingClientRect();
        return [Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)]; }))"""


def laid_out(lab):
    """Wait until JupyterLab and the widgets have laid the page out again: the same boxes in two readings 0.2 s
    apart."""
    seen = [None]

    def stable():
        boxes = lab.page.evaluate(BOXES)
        same, seen[0] = boxes == seen[0], boxes
        return same

    lab.wait_for(stable, "the page to lay out again", poll=0.2)


def test_the_explorer_fits_laptop_screens_with_the_file_browser_open():
    with jupyter_lab(REPO / "notebooks" / "explorer.ipynb", name="layout", timeout=120,
                     env={"GDTUO_FAST": "1"}) as lab:
        page = lab.open()
        page.evaluate("() => window.jupyterapp.shell.activateById('filebrowser')")
        lab.run_all(timeout=300)
        lab.wait_widgets()
        lab.wait_plots(4)
        lab.click_button("Add frozen baseline")   # a second row in the Compare table, with its remove button
        lab.wait_for(lambda: page.locator(".gd-table button").count() == 2
                     and lab.output_text().count("done") >= 2, "the baseline's row in the Compare table")
        lab.check_charts(width=CHART_WIDTH)       # the views as first shown, each drawn from its model
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        problems = []
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            laid_out(lab)
            lab.dismiss_toasts()
            page.screenshot(path=str(ARTIFACTS / f"layout-{width}.png"))
            m = page.evaluate(MEASURE)
            page.set_viewport_size({"width": width, "height": 2400})   # the whole explorer, at the same width
            laid_out(lab)
            page.locator(".gd-root").first.screenshot(path=str(ARTIFACTS / f"layout-{width}-explorer.png"))
            print(f"\n{width}x{height}: output area {m['area']} of {m['window']} px, sidebar open {m['sidebar']}")
            assert m["sidebar"], "the file browser should be open"
            if m["count"] or m["truncated"] or m["areaScrolls"] or m["rootScrolls"]:
                problems.append(f"{width}x{height}: {m}")
        assert not problems, "\n".join(problems)
        assert not lab.errors()


if __name__ == "__main__":
    pytest.main([__file__, "-s"])
