"""The explorer's layout in a real browser (JupyterLab + the system Chromium) at laptop sizes with the file browser
open: no widget sticks out of the notebook's output area, nothing needs a horizontal scroll bar and no button's text
is cut. Saves test-artifacts/layout-1280.png and layout-1440.png (what the user sees) and layout-*-explorer.png (the
whole explorer). The notebook's own run and a frozen baseline are on the charts and in the Compare table."""
import pytest

from browser import ARTIFACTS, REPO, jupyter_lab

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
        # Fresh views of the finished state (a chart view made while its figure changes can miss its layout and
        # draw 700 px wide: a charts defect of its own, not this test's subject).
        # A reload can itself come up with "Error displaying widget: model not found" (the page asked for the
        # widget before the kernel's models were restored; seen once in a CI run): then reload again, at most 3 times.
        lab.execute_command("docmanager:save")
        page.wait_for_timeout(1000)
        for attempt in range(4):
            page.reload()
            page.wait_for_selector(".jp-Notebook")
            page.wait_for_function("() => !!window.jupyterapp")
            lab.wait_kernel_idle()
            lab.dismiss_toasts()
            page.evaluate("() => window.jupyterapp.shell.activateById('filebrowser')")
            try:
                page.wait_for_function("() => document.querySelectorAll('.gd-root .js-plotly-plot').length >= 4",
                                       timeout=30_000)
                break
            except Exception:  # noqa: BLE001 - playwright's TimeoutError: the views did not come back
                if attempt == 3:
                    raise
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        problems = []
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(1200)                # JupyterLab and the widgets lay out again
            lab.dismiss_toasts()
            page.screenshot(path=str(ARTIFACTS / f"layout-{width}.png"))
            m = page.evaluate(MEASURE)
            page.set_viewport_size({"width": width, "height": 2400})   # the whole explorer, at the same width
            page.wait_for_timeout(800)
            page.locator(".gd-root").first.screenshot(path=str(ARTIFACTS / f"layout-{width}-explorer.png"))
            print(f"\n{width}x{height}: output area {m['area']} of {m['window']} px, sidebar open {m['sidebar']}")
            assert m["sidebar"], "the file browser should be open"
            if m["count"] or m["truncated"] or m["areaScrolls"] or m["rootScrolls"]:
                problems.append(f"{width}x{height}: {m}")
        assert not problems, "\n".join(problems)
        assert not lab.errors()


if __name__ == "__main__":
    pytest.main([__file__, "-s"])
