"""Static images of Plotly figures (gdtuo_explore.engine.static): every figure kind the project draws is rendered
and the picture's content is checked: where a line's pixels are against where Plotly's layout puts its data, the
titles and tick labels in the SVG's text, how many lines, markers, bars and contour bands it holds, the colours of a
contour's bands, and a placeholder for what it cannot draw. No browser is involved (one test proves it)."""
import base64
import io
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image
from plotly.subplots import make_subplots

from gdtuo_explore.engine import static
from gdtuo_explore.engine.report import run_figures
from gdtuo_explore.engine.series import sweep_traces, value_axis

SVG = "{http://www.w3.org/2000/svg}"
RED = "#ff0000"


def png(fig, **kwargs) -> np.ndarray:
    """The rendered PNG as an RGB array (rows from the top)."""
    return np.asarray(Image.open(io.BytesIO(static.render(fig, "png", **kwargs))).convert("RGB"), dtype=int)


def svg(fig, **kwargs) -> ET.Element:
    return ET.fromstring(static.render(fig, "svg", **kwargs))


def group(root: ET.Element, gid: str) -> ET.Element | None:
    return next((g for g in root.iter(f"{SVG}g") if g.get("id") == gid), None)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def pixels(image: np.ndarray, color: str, tolerance: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the pixels within ``tolerance`` of ``color`` in every channel."""
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    return np.nonzero(np.all(np.abs(image - rgb) <= tolerance, axis=2))


def frame(width=400, height=300, l=60, r=20, t=40, b=50, **layout) -> dict:
    return dict(width=width, height=height, margin=dict(l=l, r=r, t=t, b=b), showlegend=False, **layout)


# -- where the data is drawn ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1, 2])
def test_a_line_is_drawn_where_the_layout_puts_its_data(scale):
    W, H, l, r, t, b = 400, 300, 60, 20, 40, 50
    fig = go.Figure(go.Scatter(x=[2, 8], y=[1, 4], mode="lines", line=dict(color=RED, width=2)),
                    layout=frame(xaxis=dict(range=[0, 10]), yaxis=dict(range=[0, 5])))
    image = png(fig, scale=scale)
    assert image.shape[:2] == (H * scale, W * scale)
    rows, cols = pixels(image, RED)
    assert len(rows) > 50 * scale, "the red line is missing"
    x = lambda v: (l + v / 10 * (W - l - r)) * scale  # noqa: E731  (Plotly's plot area: inside the margins)
    y = lambda v: (t + (1 - v / 5) * (H - t - b)) * scale  # noqa: E731
    tol = 2.5 * scale   # the line's half width and anti-aliasing
    assert abs(cols.min() - x(2)) <= tol and abs(cols.max() - x(8)) <= tol
    assert abs(rows.min() - y(4)) <= tol and abs(rows.max() - y(1)) <= tol
    # the line's pixels follow the segment (not just its bounding box)
    expected = y(1) + (cols - x(2)) / (x(8) - x(2)) * (y(4) - y(1))
    assert np.abs(rows - expected).max() <= tol + 1


def test_a_log_axis_range_is_in_decades_and_places_values_logarithmically():
    H, t, b = 300, 40, 50
    fig = go.Figure(go.Scatter(x=[0, 10], y=[0.01, 10], mode="lines", line=dict(color=RED, width=2)),
                    layout=frame(xaxis=dict(range=[0, 10]), yaxis=dict(type="log", range=[-3, 2])))
    rows, _ = pixels(png(fig), RED)
    y = lambda v: t + (1 - (np.log10(v) + 3) / 5) * (H - t - b)  # noqa: E731
    assert abs(rows.min() - y(10)) <= 2.5 and abs(rows.max() - y(0.01)) <= 2.5
    labels = texts(svg(fig))
    assert {"0.001", "0.01", "0.1", "1", "10", "100"} <= set(labels)


def test_the_autorange_pads_like_plotly_and_keeps_the_data_inside():
    """No range given: lines-only x hugs the data, y gets 5 % of the axis length each side (not below zero for
    positive data)."""
    W, H, l, r, t, b = 400, 300, 60, 20, 40, 50
    fig = go.Figure(go.Scatter(x=[0, 100], y=[10, 20], mode="lines", line=dict(color=RED, width=2)),
                    layout=frame())
    rows, cols = pixels(png(fig), RED)
    plot_h = H - t - b
    assert abs(cols.min() - l) <= 2.5 and abs(cols.max() - (W - r)) <= 2.5
    assert abs(rows.min() - (t + 0.05 * plot_h)) <= 2.5 and abs(rows.max() - (H - b - 0.05 * plot_h)) <= 2.5


# -- the explorer's charts ------------------------------------------------------------------------------------------
def test_a_symmetric_log_axis_shows_its_tick_labels_and_the_zero_line():
    values = np.array([0.01, 0.5, 3.0, -20.0, -0.2, 0.05])
    axis = value_axis([values])
    assert axis.kind == "symlog"
    fig = go.Figure(go.Scatter(x=np.arange(6), y=axis.transform(values), mode="lines", line=dict(color=RED)),
                    layout=frame(yaxis={k: v for k, v in axis.layout.items() if v is not None},
                                 yaxis_zerolinecolor="#00aa00", yaxis_zerolinewidth=2))
    labels = texts(svg(fig))
    for text in axis.layout["ticktext"]:
        assert text in labels, f"tick label {text!r} missing from {labels}"
    assert len(pixels(png(fig), "#00aa00", tolerance=40)[0]) > 100, "no zero line"


def test_a_level_chart_with_its_strip_labels_the_steps_once_under_the_strip():
    """The explorer's level chart: step sizes above, beta/mu/gamma in a strip below (yaxis2 with its own domain),
    the x axis anchored to the strip; a title with <b> and a red warning <span> after <br>."""
    steps = np.arange(0, 301)
    fig = go.Figure(layout=frame(width=420, height=290, t=52))
    fig.add_trace(go.Scatter(x=steps, y=0.001 + 0.02 * np.exp(-steps / 100), name="alpha", mode="lines",
                             line=dict(color="#1f77b4", width=2)))
    fig.add_trace(go.Scatter(x=steps, y=0.9 + 0 * steps, name="beta1", mode="lines", yaxis="y2",
                             line=dict(color="#00aa00", width=2)))
    fig.update_layout(yaxis=dict(type="log", domain=[0.4, 1]), xaxis=dict(anchor="y2"),
                      yaxis2=dict(domain=[0, 0.3], anchor="x", title=dict(text="beta, mu, gamma")),
                      title=dict(text="<b>Level 1</b> · Adam: trains the weights<br><span style='color:#d62728;"
                                      "font-size:11px'>&#9888; a step size went negative</span>", x=0.02))
    root = svg(fig)
    labels = texts(root)
    assert labels.count("200") == 1, "the steps are labelled on one axis only"
    assert "Level 1" in labels and "⚠ a step size went negative" in labels
    bold = [t for t in root.iter(f"{SVG}text") if "".join(t.itertext()) == "Level 1"][0]
    assert "font-weight: 700" in bold.get("style")
    warning = [t for t in root.iter(f"{SVG}text") if "went negative" in "".join(t.itertext())][0]
    assert "fill: #d62728" in warning.get("style")
    # the strip's line is below the step sizes' panel: compare the lines' vertical positions in the PNG
    image = png(fig)
    green_rows, _ = pixels(image, "#00aa00")
    blue_rows, _ = pixels(image, "#1f77b4", tolerance=40)
    assert green_rows.min() > blue_rows.max(), "the strip is not below the upper panel"
    assert green_rows.min() > 52 + 0.7 * (290 - 52 - 50) - 3   # inside the strip's domain [0, 0.3]


def test_the_explorers_live_charts_render_with_every_line(tmp_path):
    from gdtuo_explore.explorer import Explorer

    explorer = Explorer()
    try:
        explorer.state.set_tower("adam(0.001)/sgd(1e-5)/sgd(1e-6)")
        explorer.state.unit, explorer.state.budget = "steps", 40
        assert explorer.run(wait=True, timeout=300) == "done"
        for fig in explorer.charts.figures:
            root = svg(fig)
            drawn = {g.get("id") for g in root.iter(f"{SVG}g") if re.fullmatch(r"trace\d+-lines", g.get("id") or "")}
            with_data = {f"trace{i}-lines" for i, tr in enumerate(fig.data) if tr.x is not None and len(tr.x)}
            assert drawn == with_data, (fig.layout.title.text, drawn, with_data)
            title = re.sub("<[^>]+>", "", fig.layout.title.text.split("<br>")[0])
            assert title.split(" · ")[0] in texts(root)
    finally:
        explorer.close()


# -- the report and the sweep -----------------------------------------------------------------------------------
def test_the_reports_figures_render_with_titles_lines_and_a_right_axis():
    n = 500
    steps = np.arange(1, n + 1)
    histories = {"steps": {"step": steps, "train_loss": 2 * np.exp(-steps / 200) + 0.1,
                           "level1.alpha": 0.001 + 1e-5 * steps, "level1.beta1": 0.9 - 1e-5 * steps,
                           "level1.beta2": np.full(n, 0.999), "level2.alpha": np.full(n, 1e-5)},
                 "evaluations": {"step": steps[::50], "test_loss": np.linspace(2, 0.3, 10),
                                 "test_accuracy": np.linspace(0.2, 0.9, 10)},
                 "tower": "adam(0.001)/sgd(1e-5)"}
    figures = dict(run_figures(histories))
    assert set(figures) == {"loss", "accuracy", "level1", "level2"}
    root = svg(figures["level1"])
    labels = texts(root)
    assert any(t.startswith("Level 1 (adam") for t in labels) and "other hyperparameters" in labels
    assert {g.get("id") for g in root.iter(f"{SVG}g")} >= {"trace0-lines", "trace1-lines"}
    root = svg(figures["loss"])
    assert group(root, "trace2-markers") is not None and len(list(group(root, "trace2-markers").iter(
        f"{SVG}use"))) == 10, "one marker per test evaluation"


def test_the_sweep_figure_has_one_line_per_height_on_a_log_axis():
    rows = [dict(height=h, alpha=a, status="done", final_test_loss=1 / (1 + h) + a, final_test_accuracy=0.5)
            for h in (0, 1, 2) for a in (1e-4, 1e-2, 1)]
    fig = go.Figure(sweep_traces(rows, "final_test_loss"), layout=dict(xaxis_type="log", title="Sweep"))
    root = svg(fig)
    for i in range(3):
        assert len(list(group(root, f"trace{i}-markers").iter(f"{SVG}use"))) == 3
    labels = texts(root)
    assert {"height 0", "height 1", "height 2"} <= set(labels)   # the legend
    assert {"100µ", "0.01", "1"} <= set(labels)


# -- notebook figures ---------------------------------------------------------------------------------------------
def test_subplots_with_a_filled_contour_markers_an_hline_and_a_log_panel():
    """hypergradient.ipynb's figure: a contour with paths on top, subplot titles, add_hline's line and label."""
    g1, g2 = np.meshgrid(np.linspace(-2.3, 2.3, 60), np.linspace(-1.2, 1.2, 40))
    fig = make_subplots(rows=1, cols=3, subplot_titles=["path", "step size α", "loss"])
    fig.add_trace(go.Contour(x=g1[0], y=g2[:, 0], z=0.5 * (g1 ** 2 + 10 * g2 ** 2), showscale=False,
                             colorscale="Greys", reversescale=True, contours=dict(start=0, end=8, size=0.5)), 1, 1)
    fig.add_trace(go.Scatter(x=[-2, -1, 0], y=[1, 0.2, 0], mode="lines+markers", marker=dict(size=4)), 1, 1)
    fig.add_trace(go.Scatter(x=[0, 50, 100], y=[0.01, 0.11, 0.12], mode="lines"), 1, 2)
    fig.add_trace(go.Scatter(x=[0, 50, 100], y=[10, 1e-3, 1e-9], mode="lines"), 1, 3)
    fig.add_hline(y=0.2, line_dash="dot", annotation_text="stability limit 2/10", row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=3)
    root = svg(fig)
    labels = texts(root)
    assert {"path", "step size α", "loss", "stability limit 2/10"} <= set(labels)
    assert len(list(group(root, "trace1-markers").iter(f"{SVG}use"))) == 3
    assert group(root, "trace0-contour") is not None and group(root, "trace0-contourlines") is not None
    assert {"10n", "100µ", "1", "0.2"} <= set(labels)   # every second decade (Plotly's dtick 2)


def test_a_filled_contour_with_log_levels_has_its_bands_colour_bar_and_markers_on_top():
    """The landscape chart: z = log10(loss) in bands of half a decade, a colour bar naming the real values, a path
    and the minimum drawn on top."""
    a, b = np.meshgrid(np.linspace(-2, 2, 80), np.linspace(-1, 3, 60))
    loss = (1 - a) ** 2 + 100 * (b - a ** 2) ** 2 + 1e-3
    levels = dict(start=-2, end=3.5, size=0.5)
    W, H, l, r, t, bm = 600, 450, 60, 140, 50, 50
    fig = go.Figure(go.Contour(x=a[0], y=b[:, 0], z=np.log10(loss), colorscale="Viridis", contours=levels,
                               colorbar=dict(title=dict(text="loss"), tickvals=[-2, 0, 2],
                                             ticktext=["0.01", "1", "100"])),
                    layout=frame(W, H, l, r, t, bm, xaxis=dict(range=[-2, 2]), yaxis=dict(range=[-1, 3])))
    fig.add_trace(go.Scatter(x=[-1.5, 0, 1], y=[2.5, 0.1, 1], mode="lines+markers", line=dict(color="white"),
                             marker=dict(size=7, color="white")))
    fig.add_trace(go.Scatter(x=[1], y=[1], mode="markers", marker=dict(symbol="x", size=14, color=RED)))
    root = svg(fig)
    bands = group(root, "trace0-contour")
    # the data spans log10(loss) from -3 to 3.4: the band below -2 and the 11 bands from -2 to 3.5, none above
    filled = [p for p in bands.iter(f"{SVG}path") if len(p.get("d", "").strip()) > 10]
    assert len(filled) == 12, len(filled)
    assert len(list(group(root, "trace1-markers").iter(f"{SVG}use"))) == 3
    assert {"0.01", "1", "100", "loss"} <= set(texts(root))
    image = png(fig)
    px = lambda x, y: image[round(t + (1 - (y + 1) / 4) * (H - t - bm)), round(l + (x + 2) / 4 * (W - l - r))]  # noqa
    assert np.all(np.abs(px(1, 1) - [255, 0, 0]) < 60), "the minimum's marker is on top of the bands"
    low, high = px(0.3, 0.09 + 0.05), px(-1.9, -0.9)     # near the valley floor (z ~ 0) and a far corner (z ~ 3.3)
    viridis_dark, viridis_yellow = np.array([68, 1, 84]), np.array([253, 231, 37])
    assert np.linalg.norm(low - viridis_dark) < np.linalg.norm(low - viridis_yellow)
    assert np.linalg.norm(high - viridis_yellow) < 90, high


@pytest.mark.parametrize("anchors", [("left", "top"), ("center", "middle")])
def test_a_layout_image_is_stretched_over_its_data_box_under_the_traces(anchors):
    """The landscape chart's contour picture: a data-URI PNG laid under the plot area, from (x, y) by sizex x
    sizey in data coordinates; a line drawn over it."""
    quarters = np.zeros((40, 40, 3), dtype=np.uint8)   # top half green, bottom half blue (rows from the top)
    quarters[:20] = (0, 200, 0)
    quarters[20:] = (0, 0, 255)
    out = io.BytesIO()
    Image.fromarray(quarters).save(out, format="PNG")
    xanchor, yanchor = anchors
    x, y = {"left": 2, "center": 5}[xanchor], {"top": 4, "middle": 2.5}[yanchor]   # the box x 2..8, y 1..4
    W, H, l, r, t, b = 400, 300, 60, 20, 40, 50
    fig = go.Figure(go.Scatter(x=[0, 10], y=[2.5, 2.5], mode="lines", line=dict(color=RED, width=2)),
                    layout=frame(W, H, l, r, t, b, xaxis=dict(range=[0, 10]), yaxis=dict(range=[0, 5]),
                                 images=[dict(source="data:image/png;base64," + base64.b64encode(out.getvalue())
                                              .decode(), xref="x", yref="y", x=x, y=y, sizex=6, sizey=3,
                                              xanchor=xanchor, yanchor=yanchor, sizing="stretch",
                                              layer="below")]))
    image = png(fig)
    col = lambda v: round(l + v / 10 * (W - l - r))  # noqa: E731
    row = lambda v: round(t + (1 - v / 5) * (H - t - b))  # noqa: E731
    rows, cols = pixels(image, "#00c800")
    assert abs(cols.min() - col(2)) <= 2 and abs(cols.max() - col(8)) <= 2     # the box's width ...
    assert abs(rows.min() - row(4)) <= 2 and abs(rows.max() - row(2.5)) <= 3   # ... green over its upper half
    rows, _ = pixels(image, "#0000ff")
    assert abs(rows.max() - row(1)) <= 2                                        # blue down to y = 1
    assert np.all(np.abs(image[row(2.5), col(5)] - [255, 0, 0]) < 60), "the line is drawn over the picture"
    assert np.all(image[row(0.5), col(5)] > 200), "nothing outside the box"


def test_a_marker_traces_legend_entry_has_its_markers_fill_and_edge():
    """The landscape's "minimum" star: a yellow marker with a dark edge, in the plot and in the legend (not the
    trace's default colour)."""
    fig = go.Figure(go.Scatter(x=[5], y=[2.5], mode="markers", name="minimum",
                               marker=dict(symbol="star", size=14, color="#ffd21f", line=dict(color="#1d2330",
                                                                                                  width=1))),
                    layout=dict(width=400, height=300, margin=dict(l=60, r=20, t=40, b=90), showlegend=True,
                                legend=dict(orientation="h", x=0, y=-0.3, yanchor="top"),
                                xaxis=dict(range=[0, 10]), yaxis=dict(range=[0, 5])))
    image = png(fig)
    legend = image[300 - 90 + 40:]   # below the plot area and its tick labels
    assert len(pixels(legend, "#ffd21f", tolerance=40)[0]) > 5, "the legend's star is not the marker's yellow"
    assert len(pixels(legend, "#636efa", tolerance=40)[0]) == 0, "the legend's star has the default colour"
    assert len(pixels(image[:300 - 90], "#ffd21f", tolerance=40)[0]) > 20   # and the star in the plot


def test_grouped_bars_with_category_labels_and_the_table1_legend_above():
    names = ["SGD", "SGD/SGD", "Adam", "Adam/SGD(1e-5)"]
    fig = go.Figure([go.Bar(name="paper", x=names, y=[9, 4.8, 4.7, 3.0], marker_color="#bbbbbb"),
                     go.Bar(name="ours", x=names, y=[20, 18, 14.7, None], marker_color="#1f77b4")])
    fig.update_layout(barmode="group", xaxis_tickangle=-40, legend=dict(orientation="h", y=1.08))
    root = svg(fig)
    assert len([g for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("trace0-bar")]) == 4
    assert len([g for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("trace1-bar")]) == 3
    assert set(names) | {"paper", "ours"} <= set(texts(root))


def test_a_fill_between_the_paper_band_and_dotted_lines():
    """towers.ipynb's right panel: a filled band (fill='toself', mode='none') and dotted lines."""
    fig = go.Figure([go.Scatter(x=[1e-8, 1, 1, 1e-8], y=[14, 14, 21, 21], fill="toself", mode="none",
                                fillcolor=RED, opacity=0.35),
                     go.Scatter(x=[1e-8, 1e-2, 1], y=[90, 13, 60], line=dict(dash="dot"))],
                    layout=frame(xaxis=dict(type="log"), yaxis=dict(range=[0, 100])))
    root = svg(fig)
    assert group(root, "trace0-fill") is not None and group(root, "trace0-lines") is None
    dotted = group(root, "trace1-lines").find(f".//{SVG}path").get("style")
    assert "stroke-dasharray" in dotted


def test_a_legendonly_trace_is_in_the_legend_but_not_drawn():
    fig = go.Figure([go.Scatter(y=[1, 2, 3], name="shown"), go.Scatter(y=[3, 2, 1], name="hidden",
                                                                       visible="legendonly")])
    root = svg(fig)
    assert group(root, "trace0-lines") is not None and group(root, "trace1-lines") is None
    assert {"shown", "hidden"} <= set(texts(root))


def test_a_trace_it_cannot_draw_gets_a_placeholder_not_a_crash():
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "xy"}, {"type": "domain"}]])
    fig.add_trace(go.Scatter(y=[1, 3, 2]), 1, 1)
    fig.add_trace(go.Pie(values=[1, 2]), 1, 2)
    fig.add_trace(go.Scatter3d(x=[1], y=[2], z=[3]))
    labels = texts(svg(fig))
    assert any("not drawn in this static image" in t and "pie" in t for t in labels)
    assert any("scatter3d" in t for t in labels)
    assert len(png(fig)) > 0


ODD = {
    "empty figure": go.Figure(),
    "only NaN": go.Figure(go.Scatter(y=[np.nan, np.nan])),
    "empty arrays": go.Figure(go.Scatter(x=[], y=[])),
    "infinities and huge values": go.Figure(go.Scatter(y=[np.inf, 1e300, -1e300, 1e-300, -np.inf])),
    "a 1x1 contour": go.Figure(go.Contour(z=[[1.0]])),
    "a flat contour": go.Figure(go.Contour(z=np.ones((5, 5)))),
    "a 1x1 heatmap": go.Figure(go.Heatmap(z=[[3]])),
    "a log axis with nothing positive": go.Figure(go.Scatter(y=[-1, 0, -3]), layout=dict(yaxis_type="log")),
    "marker sizes and colours per point": go.Figure(go.Scatter(y=[1, 2, 3], mode="markers",
                                                               marker=dict(size=[5, 10, 15], color=[1, 2, 3]))),
    "a bar with no value": go.Figure(go.Bar(x=["a"], y=[None])),
}


@pytest.mark.parametrize("name", ODD)
def test_odd_data_gives_an_image_not_an_error(name):
    with Image.open(io.BytesIO(static.render(ODD[name]))) as image:
        assert image.size == (static.DEFAULT_WIDTH, static.DEFAULT_HEIGHT)
    assert static.render(ODD[name], "svg").startswith(b"<?xml")


# -- the API ------------------------------------------------------------------------------------------------------
def test_a_figurewidget_and_a_figure_dict_render_like_the_figure():
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="a"), layout=dict(title="Same", width=300, height=200))
    expected = static.render(fig, "svg")
    assert static.render(go.FigureWidget(fig), "svg") == expected
    assert static.render(fig.to_plotly_json(), "svg") == expected
    assert static.render(fig.to_dict(), "svg") == expected


def test_bad_arguments_name_the_value_and_what_is_allowed(tmp_path):
    fig = go.Figure()
    with pytest.raises(ValueError, match=r"format must be one of png, svg, not 'jpg'"):
        static.render(fig, "jpg")
    with pytest.raises(ValueError, match=r"scale must be a number in \(0, 8\], not 0"):
        static.render(fig, scale=0)
    with pytest.raises(ValueError, match=r"width must be .* not -5"):
        static.render(fig, width=-5)
    with pytest.raises(ValueError, match="fig must be a plotly Figure.*not int"):
        static.render(42)
    with pytest.raises(ValueError, match=r"path must end in .png or .svg, not 'chart.gif'"):
        static.write(fig, tmp_path / "chart.gif")
    assert not (tmp_path / "chart.gif").exists()


def test_write_picks_the_format_from_the_suffix(tmp_path):
    fig = go.Figure(go.Scatter(y=[1, 2]), layout=dict(width=320, height=240))
    assert static.write(fig, tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in static.write(fig, tmp_path / "a.svg").read_bytes()[:400]
    with Image.open(tmp_path / "a.png") as image:
        assert image.size == (320, 240)


def test_the_mimebundle_holds_the_interactive_figure_and_its_image():
    fig = go.Figure(go.Scatter(y=[1, 2]), layout=dict(title="<b>Mine</b>", width=320, height=240))
    data, metadata = static.mimebundle(fig, scale=2)
    plotly_json = data["application/vnd.plotly.v1+json"]
    assert plotly_json["layout"]["title"]["text"] == "<b>Mine</b>" and len(plotly_json["data"]) == 1
    with Image.open(io.BytesIO(base64.b64decode(data["image/png"]))) as image:
        assert image.size == (640, 480)
    assert metadata == {"image/png": {"width": 320, "height": 240}}
    assert data["text/plain"] == "<plotly figure: Mine>"
    data, metadata = static.mimebundle(fig, "svg")
    assert data["image/svg+xml"].lstrip().startswith("<?xml") and metadata == {}


def test_it_renders_with_no_browser_and_without_plotlys_image_export():
    """The machine's Chromium out of reach (no PATH, a Chromium path that does not exist) and Plotly's Kaleido
    export replaced by a failure: the renderer still gives a PNG."""
    code = ("import shutil, plotly.io as pio, plotly.graph_objects as go\n"
            "assert shutil.which('chromium') is None and shutil.which('google-chrome') is None\n"
            "def refuse(*a, **k): raise RuntimeError('Kaleido used')\n"
            "pio.to_image = pio.write_image = go.Figure.to_image = go.Figure.write_image = refuse\n"
            "from gdtuo_explore.engine.static import render\n"
            "data = render(go.Figure(go.Scatter(y=[1, 3, 2]), layout_title='no browser'))\n"
            "print(len(data), data[:4])\n")
    env = {**os.environ, "PATH": "/nonexistent", "BROWSER": "", "GDTUO_CHROMIUM": "/nonexistent/chromium"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "b'\\x89PNG'" in out.stdout


def test_importing_show_does_not_load_matplotlib():
    """``import gdtuo_explore`` stays light: matplotlib loads when a figure is first drawn."""
    code = ("import sys\nfrom gdtuo_explore import show\n"
            "assert callable(show) and 'matplotlib' not in sys.modules, sorted(m for m in sys.modules if 'matplotlib' in m)\n"
            "from gdtuo_explore.engine.static import render\nimport plotly.graph_objects as go\n"
            "render(go.Figure())\nassert 'matplotlib' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
