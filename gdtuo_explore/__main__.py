"""``python -m gdtuo_explore``: the command line (see :mod:`gdtuo_explore.cli`)."""
from gdtuo_explore.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
