"""The Export panel: a folder the user picks and an Export button, which has an :class:`~.export.Exporter` write the
explorer's setup, the current run's files, the overlays' and the sweep's there; then the folder and files written."""
from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as widgets
import traitlets

_L = widgets.Layout


class ExportPanel:
    """A folder (linked to ``exporter.folder``), an Export button and the folder and files written, as ``widget``."""

    def __init__(self, exporter):
        self.exporter = exporter
        self.folder = widgets.Text(description="Folder", continuous_update=False,
                                   tooltip="where Export writes (created if needed; ~ is your home folder)",
                                   layout=_L(flex="1 1 260px", width="auto", max_width="640px"))
        traitlets.link((exporter, "folder"), (self.folder, "value"))
        self.export = widgets.Button(description="Export", button_style="primary",
                                     layout=_L(width="auto", flex="0 0 auto"))
        self.result = widgets.HTML()
        self.export.on_click(self._clicked)
        about = widgets.HTML(
            "<div class='gd-about'><code>explorer.json</code> re-creates this setup: "
            "<code>Explorer(config=\"FOLDER/explorer.json\")</code>. The current run adds <code>config.json</code> "
            "(for <code>gdtuo-explore run --config</code>), <code>metrics.csv</code>, <code>evaluations.csv</code> "
            "and <code>report.html</code> (its charts, offline); overlays go to <code>compare-N/</code>, the sweep "
            "to <code>sweep/</code>.</div>")
        self.widget = widgets.VBox([about, widgets.HBox([self.folder, self.export],
                                                        layout=_L(grid_gap="6px", flex_flow="row wrap")),
                                    self.result])

    def _clicked(self, _) -> None:
        folder = self.exporter.folder.strip()
        if not folder:
            self.result.value = "<div class='gd-error'>Export needs a folder: type one above.</div>"
            return
        try:
            paths = self.exporter.export(folder)
        except (OSError, ValueError) as err:
            self.result.value = f"<div class='gd-error'>Export failed: {html.escape(str(err))}</div>"
            return
        where = Path(folder).expanduser().resolve()
        items = "".join(f"<li><code>{html.escape(str(Path(p).resolve().relative_to(where)))}</code></li>"
                        for p in paths.values())
        self.result.value = (f"<div class='gd-about'>Wrote {len(paths)} files to <code class='gd-written'>"
                             f"{html.escape(str(where))}</code>:<ul>{items}</ul></div>")
