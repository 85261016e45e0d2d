"""The benchmark, outside the library's import path: ``python -m gdtuo_explore.bench``.

* :mod:`.steps`: step time and memory of towers against ``torch.optim`` and the reference package, the run
  engine's cost of observers, and the table ``python -m gdtuo_explore.bench`` prints;
* :mod:`.explorer`: what the explorer's widgets cost the kernel (no browser), relative to a headless run, and the
  time from a click on Run to the first points in a fresh process;
* :mod:`.redraw`: one redraw's Python cost after a long run against a short one;
* :mod:`.live` (``--browser``): the explorer in JupyterLab in Chromium: live / headless steps/s, click -> first
  points, redraw time in the page (with the browser tests' harness, ``tests/browser.py``: run it from a clone);
* :mod:`.notebook_size`: the size of the explorer notebook as ``jupyter nbconvert --execute`` saves it (widget state
  included), per tower height;
* :mod:`.gpu_check`: everything that needs a GPU, in one table (``make gpu-check``).

Nothing in the library imports this package (``tests/test_layers.py``).
"""
