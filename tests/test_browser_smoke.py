"""Smoke test of the real-browser harness (tests/browser.py): JupyterLab + Chromium render an ipywidgets Button and
a Plotly FigureWidget, a click reaches the kernel, and the kernel's update reaches the chart."""
import nbformat

from browser import jupyter_lab

CELL = """\
import ipywidgets as widgets
import plotly.graph_objects as go

fig = go.FigureWidget(go.Scatter(x=[0, 1, 2], y=[0, 1, 4], mode="lines+markers"))
fig.update_layout(width=500, height=320, margin=dict(l=30, r=10, t=30, b=30), title="smoke")
button = widgets.Button(description="Add point")
how_many = widgets.Dropdown(description="Points", options=["1", "2"], value="1")
scale = widgets.IntText(description="Scale", value=1)

def add_point(_):
    for _ in range(int(how_many.value)):
        n = len(fig.data[0].x)
        with fig.batch_update():
            fig.data[0].x = list(fig.data[0].x) + [n]
            fig.data[0].y = list(fig.data[0].y) + [scale.value * n * n]

button.on_click(add_point)
widgets.VBox([widgets.HBox([button, how_many, scale]), fig])
"""


def test_widget_and_plot_render_and_react(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "smoke.ipynb"
    nbformat.write(nb, path)

    with jupyter_lab(path, name="browser-smoke") as lab:
        lab.open()
        lab.run_all()
        lab.wait_widgets()
        lab.wait_plots(1)
        assert lab.plot_count() == 1
        assert lab.plot_points(0) == 3
        assert lab.plot_data(0)[0]["y"] == [0, 1, 4]

        lab.click_button("Add point")
        lab.wait_for(lambda: lab.plot_points(0) == 4, "the chart to gain a point after the click")
        lab.select("Points", "2")
        lab.fill("Scale", 10)
        lab.click_button("Add point")
        lab.wait_for(lambda: lab.plot_points(0) == 6, "two more points after choosing 2 in the Dropdown")
        assert lab.plot_data(0)[0]["y"][-2:] == [160, 250]
        shot = lab.screenshot()
        assert shot.stat().st_size > 10_000
