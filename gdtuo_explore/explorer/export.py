"""``Exporter``: writes what the explorer shows into a folder: the explorer's setup (``explorer.json``, which
``Explorer(config=...)`` opens again), the current run's config, metrics (CSV) and charts (a self-contained HTML
report), the overlays' and the sweep's. The folder defaults to a new one under ``~/gdtuo-explore-exports``, outside
any repository; the Export panel edits it."""
from __future__ import annotations

import json
import time
from pathlib import Path

from traitlets import HasTraits, Unicode

EXPORTS = Path("~") / "gdtuo-explore-exports"   # outside any repository; one folder per explorer, by time


def default_folder() -> str:
    """``~/gdtuo-explore-exports/explorer-YYYYmmdd-HHMMSS``: a new folder outside the repository, named by the time."""
    return str(EXPORTS / time.strftime("explorer-%Y%m%d-%H%M%S"))


class Exporter(HasTraits):
    """Exports an :class:`~.state.ExplorerState` (it only reads it) into ``folder`` or a folder given."""

    folder = Unicode(help="where export() writes by default (~ is the home folder)")

    def __init__(self, state, folder: str | None = None):
        super().__init__(folder=folder or default_folder())
        self.state = state

    def export(self, directory=None) -> dict:
        """Write into ``directory`` (default: ``folder``; ``~`` is expanded, the folder is created if needed):
        ``explorer.json`` (the state's :meth:`~.state.ExplorerState.to_dict`); the current run's ``config.json``,
        ``metrics.csv``, ``evaluations.csv`` and ``report.html``; each overlay's files under ``compare-N/``; the
        sweep's ``sweep/sweep.csv`` and ``sweep/sweep.html``. Returns ``{name: path}`` of what was written."""
        state = self.state
        out = Path(self.folder if directory is None else directory).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        paths = {"explorer": out / "explorer.json"}
        paths["explorer"].write_text(json.dumps(state.to_dict(), indent=2) + "\n", encoding="utf-8")
        if state.current is not None and state.current.run is not None:
            paths.update(state.current.run.export(out))
        for i, shown in enumerate(state.compared, 1):
            if shown.run is not None:
                paths.update({f"compare-{i}.{k}": v for k, v in shown.run.export(out / f"compare-{i}").items()})
        paths.update({f"sweep.{k}": v for k, v in state.sweep.export(out / "sweep").items()})
        return {k: Path(v) for k, v in paths.items()}
