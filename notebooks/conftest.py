"""The notebooks' own check, run by nbval (``pytest --nbval-lax notebooks/``): a cell that displays a Plotly figure
must store a static image beside it (``gdtuo_explore.show(fig)``, not ``fig.show()``), so that the saved notebook
shows the figure where no JavaScript runs (GitHub, nbviewer, ``jupyter nbconvert --to html``)."""
import pytest

PLOTLY = "application/vnd.plotly.v1+json"
IMAGES = ("image/png", "image/svg+xml")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    bare = [o for o in getattr(item, "test_outputs", None) or []   # the outputs of a cell nbval ran
            if PLOTLY in o.get("data", {}) and not any(kind in o["data"] for kind in IMAGES)]
    if bare:
        raise AssertionError(f"{item.name} displays {len(bare)} Plotly figure(s) with no static image: show them "
                             "with gdtuo_explore.show(fig), which stores a PNG beside the interactive figure")
    return result
