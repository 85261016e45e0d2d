"""The run engine: tasks, run configurations, runs trained in a background thread, sweeps and reports.

* :mod:`.tasks`: the task registry (datasets paired with models and losses);
* :mod:`.config`: :class:`RunConfig`, everything that defines a run;
* :mod:`.run`: :class:`Run`, one training run driven by its own thread, composed of :mod:`.trainer` (set-up and
  the training step), :mod:`.control` (the thread's life cycle), :mod:`.records`, :mod:`.dispatch` (observers) and
  :mod:`.divergence` (non-finite values and exploding losses, as data);
* :mod:`.sweep`: the sensitivity sweep (a local process pool), :mod:`.shared_sweep` (the same grid shared by many
  workers through an Optuna storage), :mod:`.distributed` (DDP under ``torchrun``);
* :mod:`.series`: columns and axes, and :mod:`.thinning`: thinning and smoothing long series as they grow, for the
  reports and the explorer's charts alike;
  :mod:`.report`: self-contained HTML reports; :mod:`.baselines`: the learning-rate-free optimizers runs are
  compared with;
* :mod:`.static`: Plotly figures as PNG or SVG with no browser (matplotlib), and ``show(fig)`` for notebooks;
  :mod:`.handout`: a notebook as one HTML file that renders offline, maths included.

The engine builds on :mod:`gdtuo_explore.core` and knows nothing of widgets (``tests/test_layers.py``).
"""
