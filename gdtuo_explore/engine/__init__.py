"""The run engine: tasks, run configurations, runs trained in a background thread, sweeps and reports.

* :mod:`.tasks`: the task registry (datasets paired with models and losses);
* :mod:`.config`: :class:`RunConfig`, everything that defines a run;
* :mod:`.run`: :class:`Run`, one training run driven by its own thread;
* :mod:`.sweep`: the sensitivity sweep; :mod:`.report`: self-contained HTML reports;
* :mod:`.baselines`: the learning-rate-free optimizers runs are compared with.

The engine builds on :mod:`gdtuo_explore.core` and knows nothing of widgets (``tests/test_layers.py``).
"""
