"""``from gdtuo_explore import gdtuo``: the reference package's API; it lives in :mod:`gdtuo_explore.core.gdtuo`."""
from .core.gdtuo import *  # noqa: F401,F403
from .core.gdtuo import __all__  # noqa: F401
