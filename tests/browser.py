"""The real-browser harness for the tests: :mod:`gdtuo_explore.bench.browser` (see its docstring), except that a
missing Chromium, playwright or jupyterlab FAILS the test (never skips it) with an install hint."""
import contextlib

import pytest

from gdtuo_explore.bench import browser as _harness
from gdtuo_explore.bench.browser import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, INSTALL_HINT, LOSS, REPO,  # noqa: F401
                                         TRACE, JupyterLab, _http, free_port)


def require_browser():
    """Fail (not skip) with an install hint when the system Chromium or the playwright package is missing."""
    try:
        _harness.require_browser()
    except _harness.BrowserMissing as err:
        pytest.fail(f"browser tests cannot run: {err}", pytrace=False)


@contextlib.contextmanager
def jupyter_lab(notebook, **kwargs):
    """:func:`gdtuo_explore.bench.browser.jupyter_lab`, failing the test if the browser is missing."""
    require_browser()
    with _harness.jupyter_lab(notebook, **kwargs) as lab:
        yield lab
