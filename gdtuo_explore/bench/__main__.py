"""``python -m gdtuo_explore.bench``: see :mod:`gdtuo_explore.bench.steps`."""
import sys

from .steps import main

if __name__ == "__main__":
    sys.exit(main())
