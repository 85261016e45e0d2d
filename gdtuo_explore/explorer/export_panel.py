"""The Export panel: write the explorer's setup (``explorer.json``, which ``Explorer(config=...)`` opens again), the
current run's config, metrics (CSV) and charts (a self-contained HTML report), the overlays' and the sweep's."""
from __future__ import annotations

import html

import ipywidgets as widgets

_L = widgets.Layout


class ExportPanel:
    """A folder, an Export button and the list of files written, as ``widget``."""

    def __init__(self, state):
        self.state = state
        self.folder = widgets.Text(value="explorer-export", description="Folder", layout=_L(width="420px"))
        self.export = widgets.Button(description="Export", button_style="primary")
        self.result = widgets.HTML()
        self.export.on_click(self._clicked)
        about = widgets.HTML(
            "<div class='gd-about'><code>explorer.json</code> re-creates this setup: "
            "<code>Explorer(config=\"FOLDER/explorer.json\")</code>. The current run adds <code>config.json</code> "
            "(for <code>gdtuo-explore run --config</code>), <code>metrics.csv</code>, <code>evaluations.csv</code> "
            "and <code>report.html</code> (its charts, offline); overlays go to <code>compare-N/</code>, the sweep "
            "to <code>sweep/</code>.</div>")
        self.widget = widgets.VBox([about, widgets.HBox([self.folder, self.export], layout=_L(grid_gap="6px")),
                                    self.result])

    def _clicked(self, _) -> None:
        try:
            paths = self.state.export(self.folder.value.strip() or ".")
        except (OSError, ValueError) as err:
            self.result.value = f"<div class='gd-error'>Export failed: {html.escape(str(err))}</div>"
            return
        items = "".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in paths.values())
        self.result.value = f"<div class='gd-about'>Wrote {len(paths)} files:<ul>{items}</ul></div>"
