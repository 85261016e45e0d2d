"""The explorer's own defaults: what differs from a scripted run's (:class:`~gdtuo_explore.engine.config.RunConfig`'s
defaults, which the explorer starts from for everything else).

A newcomer's first press of Run should train long enough, and slowly enough, to be watched: the default tower on
the default task for :data:`EXPLORER_BUDGET` at :data:`EXPLORER_PACE` steps per second trains for about 14 s (690
steps on digits), the charts redrawing as it goes, then stops by itself. The Speed menu lifts the limit.
"""
from __future__ import annotations

import torch

from ..engine.config import Budget
from ..engine.threads import usable_cores

#: The explorer's budget: about 700 steps on digits, the paper's budget for its SGD stacks, long enough for a step
#: size to rise and settle.
EXPLORER_BUDGET = Budget("epochs", 30)
#: At most this many steps per second for the run on the charts, until the user picks another Speed.
EXPLORER_PACE = 50.0


def _explorer_threads() -> int:
    return max(1, min(torch.get_num_threads(), usable_cores() - 1))


#: The explorer's PyTorch intra-op threads: one core fewer than this process may use (at least 1, at most PyTorch's
#: default). A watched run shares the machine with the browser drawing its charts and the Jupyter server: on a 2-core
#: machine PyTorch's default 2 threads then fight them for both cores, and the digits run trains at half the speed of
#: 1 thread, headless as well as watched (``python -m gdtuo_explore.bench.live``; docs/benchmarks.md).
EXPLORER_THREADS = _explorer_threads()
#: How much lower the explorer's training threads run than the kernel (Unix niceness, Linux): the browser drawing the
#: charts and the Jupyter server carrying them get the CPU first, training takes the rest.
EXPLORER_NICE = 10
