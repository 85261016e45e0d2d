"""The JupyterLab explorer: ``from gdtuo_explore import Explorer; Explorer()``.

Modules: :mod:`.state` (the one model), :mod:`.tower_edits` (tower edits and presets), :mod:`.shown_run` (a run on the
charts), :mod:`.sweep_state` (the sweep's model), :mod:`.alerts` (step-size alerts, from the current run's updates),
:mod:`.export` (writing what the explorer shows), and the views :mod:`.tower_editor`, :mod:`.controls`,
:mod:`.charts` (whose lines :mod:`.run_series` keeps, drawn in :mod:`.figure`'s charts), :mod:`.compare_panel`,
:mod:`.sweep_panel`, :mod:`.export_panel`, styled by :mod:`.style` and assembled by :mod:`.explorer`, which has the
kernel handle the page's messages in order (:mod:`.message_order`). What the live charts cost is measured by
:mod:`gdtuo_explore.bench.explorer` and :mod:`gdtuo_explore.bench.redraw`.
"""
from .explorer import Explorer, read_setup
from .state import ExplorerState

__all__ = ["Explorer", "ExplorerState", "read_setup"]
