"""show(fig) in JupyterLab, in a real browser. Plotly's JupyterLab renderer draws a figure whose output holds an image
(as show(fig) stores) as that image first and swaps in the interactive chart when the mouse moves over it (the same
for a figure it drew itself, then saved: it stores a PNG too). Checked here: the PNG shows after the run, the mouse
over it brings the interactive chart with the figure's data; the saved notebook holds the figure and a PNG; after a
page reload the mouse over the output brings the interactive chart again."""
import nbformat

from browser import jupyter_lab

CELL = """\
import plotly.graph_objects as go
from gdtuo_explore import show

fig = go.Figure(go.Scatter(x=[0, 1, 2, 3], y=[3, 1, 2, 5], mode="lines+markers"), layout_title_text="shown")
show(fig)
"""

SHOWN = """() => {
    const out = document.querySelector('.jp-OutputArea-output');
    if (!out) return null;
    const img = out.querySelector('img');
    const plot = out.matches('.js-plotly-plot') ? out : out.querySelector('.js-plotly-plot');
    const graph = plot && plot.querySelector('.plot-container');
    return {image: img && getComputedStyle(img).display !== 'none' ? img.naturalWidth : 0,
            points: plot && plot.data && graph && getComputedStyle(graph).display !== 'none'
                    ? plot.data[0].x.length : 0};
}"""


def interactive_on_hover(lab, image_first: bool) -> None:
    """Wait for the output; with ``image_first`` it must be the static image. The mouse over the output then brings
    the interactive chart with the figure's 4 points, the image hidden."""
    lab.page.wait_for_function(f"() => ({SHOWN})() && (({SHOWN})().image > 0 || ({SHOWN})().points > 0)")
    if image_first:
        assert lab.page.evaluate(SHOWN) == {"image": 900, "points": 0}, "the static image shows first"
    box = lab.page.locator(".jp-OutputArea-output").first.bounding_box()
    lab.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    lab.page.wait_for_function(f"() => ({SHOWN})().points > 0")
    assert lab.page.evaluate(SHOWN) == {"image": 0, "points": 4}, "the interactive chart replaced the image"


def test_jupyterlab_shows_the_image_then_the_interactive_figure_under_the_mouse(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "shown.ipynb"
    nbformat.write(nb, path)
    with jupyter_lab(path, name="show-in-lab") as lab:
        lab.open()
        lab.run_all()
        interactive_on_hover(lab, image_first=True)
        lab.screenshot("show-in-lab")
        lab.execute_command("docmanager:save")
        saved = lambda: nbformat.read(lab.root_dir / "shown.ipynb", as_version=4).cells[0].get("outputs")  # noqa
        lab.wait_for(lambda: saved() and {"application/vnd.plotly.v1+json", "image/png"} <= set(saved()[0]["data"]),
                     "the saved output, the figure with its image")
        lab.page.mouse.move(0, 0)
        lab.page.reload()
        lab.page.wait_for_selector(".jp-Notebook")
        interactive_on_hover(lab, image_first=False)
