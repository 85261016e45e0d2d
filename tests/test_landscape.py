"""The landscape chart (gdtuo_explore.explorer.landscape), without a browser: the bounded path fed by pushed rows,
the log-scaled contours, the minima and start markers, a click that moves the next run's start, and the paths of
the current run and the overlays as a run trains."""
import math

import numpy as np
import pytest

from helpers import LONG, explorer_for, no_observer_errors, wait_until
from gdtuo_explore.engine.tasks import surface as surfaces
from gdtuo_explore.explorer.figures import named_charts
from gdtuo_explore.explorer.landscape import Landscape, Path, log_levels
from gdtuo_explore.explorer.state import ExplorerState


def _trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, f"expected one trace {name!r} in {[t.name for t in fig.data]}"
    return found[0]


def test_path_keeps_every_strideth_row_and_the_newest_within_its_bound():
    xs, ys = np.arange(1000.0), -np.arange(1000.0)
    path = Path(max_points=64)
    for start in range(0, 1000, 37):   # pushed in chunks, as updates push rows
        assert path.add({"x": xs[start:start + 37], "y": ys[start:start + 37]}, first_row=start)
    x, y = path.points()
    assert len(x) <= 64 + 1
    assert path.stride > 1 and path.rows == 1000
    assert x[-1] == 999.0 and y[-1] == -999.0                     # the newest point
    assert np.all(x[:-1] % path.stride == 0)                      # every stride-th row ...
    assert len(x[:-1]) == len(range(0, 1000, path.stride))        # ... all of them
    np.testing.assert_array_equal(y, -x)                          # x and y of the same rows


def test_path_skips_rows_it_has_and_refuses_a_gap():
    path = Path(max_points=10)
    path.add({"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 2.0]})
    assert not path.add({"x": [1.0, 2.0], "y": [1.0, 2.0]}, first_row=1)    # already taken in
    assert path.add({"x": [2.0, 3.0], "y": [2.0, 3.0]}, first_row=2)
    np.testing.assert_array_equal(path.points()[0], [0.0, 1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="never reached"):
        path.add({"x": [9.0], "y": [9.0]}, first_row=7)
    assert not path.add({"train_loss": [1.0]}, first_row=4)                  # not a surface run's rows
    with pytest.raises(ValueError, match="max_points=1"):
        Path(max_points=1)


def test_log_levels_span_decades_below_the_top_and_keep_the_order():
    z = np.array([[0.0, 1e-3], [10.0, 1e4]])
    logz, floor = log_levels(z, decades=6)
    assert floor == pytest.approx(1e-2)
    assert logz[0, 0] == pytest.approx(-2) and logz[1, 1] == pytest.approx(math.log10(1e4 + 1e-2))
    assert np.all(np.diff(logz.ravel()[np.argsort(z.ravel())]) > 0)


def test_the_contour_picture_puts_each_value_of_f_where_the_axes_say_in_its_bands_colour():
    import base64
    import io

    from PIL import Image

    from gdtuo_explore.explorer.landscape import BANDS, IMAGE_SIZE, _band_colors

    state = ExplorerState()
    state.task = "surface"   # rosenbrock over x in [-2, 2], y in [-1, 3]
    landscape = Landscape(state)
    source = landscape.fig.layout.images[0].source
    assert source.startswith("data:image/png;base64,")
    picture = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGB")
    assert picture.size == IMAGE_SIZE
    colors = [tuple(int(v) for v in c[4:-1].split(",")) for c in _band_colors()]

    def band_at(x, y):   # the band whose colour the picture has at the point (x, y)
        px = round((x + 2) / 4 * (IMAGE_SIZE[0] - 1))
        py = round((3 - y) / 4 * (IMAGE_SIZE[1] - 1))
        rgb = picture.getpixel((px, py))
        return min(range(BANDS), key=lambda k: sum((a - b) ** 2 for a, b in zip(rgb, colors[k])))

    assert band_at(-1.99, -0.99) == BANDS - 1   # f = 2,500 at the bottom-left corner: the top band
    assert band_at(1.0, 1.0) == 0               # the minimum: the bottom band
    assert band_at(-1.99, 2.99) < BANDS - 2     # f = 110 at the top-left corner: decades below the top
    assert band_at(0.0, 0.0) < band_at(0.0, 2.5) < band_at(-1.99, -0.99)   # f = 1 < f = 626 < f = 2,500


def test_the_chart_shows_the_surface_of_the_setup_and_a_click_moves_the_start():
    state = ExplorerState()
    landscape = Landscape(state)
    assert not landscape.shown and landscape.widget.layout.display == "none"
    assert not landscape.click(0.0, 0.0) and "task_options" not in state.options
    state.task = "surface"
    assert landscape.shown and landscape.widget.layout.display is None
    s = surfaces.surface("rosenbrock")
    x, y, z = s.grid(len(landscape.values.x))   # what the pointer reads: log10 f on the grid, the picture's floor
    np.testing.assert_allclose(landscape.values.z, log_levels(z)[0], rtol=1e-5, atol=1e-3)
    assert landscape.values.opacity == 0 and landscape.values.showscale
    (picture,) = landscape.fig.layout.images   # the contours, under the plot area, over exactly the surface's bounds
    assert (picture.x, picture.y, picture.sizex, picture.sizey) == (-2, 3, 4, 4) == (
        s.bounds[0][0], s.bounds[1][1], s.bounds[0][1] - s.bounds[0][0], s.bounds[1][1] - s.bounds[1][0])
    assert (picture.xref, picture.yref, picture.layer, picture.sizing) == ("x", "y", "below", "stretch")
    rosenbrock = picture.source
    assert tuple(landscape.fig.layout.xaxis.range) == s.bounds[0] and tuple(landscape.fig.layout.yaxis.range) == \
        s.bounds[1]
    assert list(landscape.minima.x) == [1.0] and list(landscape.minima.y) == [1.0]
    assert (landscape.start.x[0], landscape.start.y[0]) == s.start
    assert "(-1.2, 1)" in landscape.caption.value

    assert landscape.click(0.51234, -0.25)
    assert state.options["task_options"] == {"start": "0.512,-0.25"} and state.setup_error == ""
    assert state.config().task_options == {"start": "0.512,-0.25"}
    assert (landscape.start.x[0], landscape.start.y[0]) == (0.512, -0.25)
    assert "(0.512, -0.25)" in landscape.caption.value

    state.model = "himmelblau"   # another surface: its minima, its own default start, its picture
    assert len(landscape.minima.x) == 4 and "himmelblau" in landscape.fig.layout.title.text
    assert landscape.fig.layout.images[0].source != rosenbrock and landscape.fig.layout.images[0].x == -5
    assert "task_options" not in state.options and (landscape.start.x[0], landscape.start.y[0]) == (0.0, 0.0)
    landscape.click(3, 3)
    state.task = "digits"        # the start of a surface means nothing to another task
    assert "task_options" not in state.options and state.setup_error == ""
    assert not landscape.shown


def test_the_path_grows_live_and_overlays_keep_their_colours(tmp_path):
    e = explorer_for("sgd(0.0001)/sgd(1e-8)", LONG, task="surface", pace=300.0)
    try:
        e.landscape.click(-1.5, 2.0)
        assert len(e.charts.row.children) == 2   # the landscape took the accuracy chart's place
        e.run()
        lengths = []

        def grew():
            shown = e.state.current
            traces = [t for t in e.landscape.fig.data if t.name == shown.label]
            if traces and traces[0].x is not None and len(traces[0].x) not in lengths:
                lengths.append(len(traces[0].x))
            return len(lengths) >= 3
        wait_until(grew, "the path to grow three times while the run trains", timeout=60)
        assert e.state.status == "running"
        e.stop()
        e.wait(30)
        run, shown = e.current_run, e.state.current
        metrics = run.metrics()
        assert (metrics["x"][0], metrics["y"][0]) == pytest.approx((-1.5, 2.0))   # the clicked start
        line = _trace(e.landscape.fig, shown.label)
        assert (line.x[-1], line.y[-1]) == (metrics["x"][-1], metrics["y"][-1])   # drawn to its end
        assert line.line.color == shown.color and line.line.dash is None
        head = _trace(e.landscape.fig, "now")
        assert (head.x[0], head.y[0]) == (metrics["x"][-1], metrics["y"][-1])

        e.state.budget = 600
        baseline = e.add_baseline(wait=True, timeout=60)
        dashed = _trace(e.landscape.fig, baseline.label)
        assert dashed.line.dash == "dash" and dashed.line.color == baseline.color
        assert (dashed.x[0], dashed.y[0]) == pytest.approx((-1.5, 2.0))            # the race's start
        assert baseline.color != shown.color
        no_observer_errors(e)
    finally:
        e.close()


def test_the_saved_figures_and_the_picture_of_a_surface_run_show_the_landscape(tmp_path):
    from PIL import Image

    from gdtuo_explore.explorer.landscape import _band_colors

    e = explorer_for("sgd(0.01)/sgd(1e-8)", 300, task="surface", model="quadratic")
    try:
        assert e.run(wait=True, timeout=120) == "done"
        paths = e.save_figures(tmp_path)
        assert sorted(n for n in paths if n.endswith(".png")) == ["landscape.png", "level-1.png", "loss.png"]
        with Image.open(paths["landscape.png"]) as image:
            rgb = np.asarray(image.convert("RGB")).astype(int)

        def count(colour):   # pixels of that colour, give or take antialiasing
            target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
            return int((np.abs(rgb - target).sum(axis=2) < 30).sum())

        assert count(e.state.current.color) > 300                      # the run's path
        bands = [tuple(int(v) for v in c[4:-1].split(",")) for c in _band_colors()]
        assert count("#%02x%02x%02x" % bands[2]) > 1000                 # the contour picture, under it
        assert list(named_charts(e))[:2] == ["landscape", "loss"]      # the picture for viewers with no kernel too
    finally:
        e.close()
