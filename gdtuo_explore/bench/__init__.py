"""The benchmark, outside the library's import path: ``python -m gdtuo_explore.bench``.

* :mod:`.steps`: step time and memory of towers against ``torch.optim`` and the reference package, the run
  engine's cost of observers, and the table ``python -m gdtuo_explore.bench`` prints;
* :mod:`.explorer`: what the explorer's live charts cost, relative to a headless run.

Nothing in the library imports this package (``tests/test_layers.py``).
"""
