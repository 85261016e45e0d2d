"""``Snapshot``: a picture of the explorer's charts among the notebook's outputs, for the places where the live charts
cannot draw (a notebook opened with no kernel, ``jupyter nbconvert --to html``, GitHub, nbviewer).

When the explorer is displayed, an output for the picture goes below it (``display(..., display_id=True)``); once it
was, when the run on the charts ends, stops or pauses, and on :meth:`Snapshot.take` (``explorer.snapshot()``), that
same output is replaced by a PNG of the charts as they are (``update_display_data``: one picture per explorer,
updated in place; JupyterLab, nbclient and ``jupyter nbconvert --execute`` record it as well). The PNG is drawn by
:mod:`gdtuo_explore.engine.static` (matplotlib, no browser) and carries :data:`.figure.STAND_IN_TEXT`, so a page where
the live charts draw hides it (:data:`.figure.HIDE_STAND_INS`).

What it shows: the Train tab's charts (on the surface task the landscape and the loss, else the loss and the test
accuracy; a chart per level that learns), two a row, and the Sweep tab's two charts below them once a sweep has
results.
"""
from __future__ import annotations

import base64
import io
import threading

from ..engine import static
from ..engine.status import Status
from .figure import mark_stand_in
from .figures import named_charts

#: The statuses of the run on the charts that leave a picture (a run's last update has one of them, or paused).
TAKEN_ON = frozenset((Status.PAUSED, Status.DONE, Status.STOPPED, Status.DIVERGED, Status.ERROR))
COLUMNS = 2
GAP = 10   # px between charts
EMPTY = {"text/plain": ""}   # the output before the first picture: nothing to show


def picture(figures, columns: int = COLUMNS) -> bytes:
    """One PNG of ``figures`` (plotly figures or FigureWidgets), ``columns`` a row, each at its own size."""
    from PIL import Image

    images = [Image.open(io.BytesIO(static.render(fig))).convert("RGB") for fig in figures]
    if not images:
        raise ValueError("figures must hold at least one figure")
    rows = [images[i:i + columns] for i in range(0, len(images), columns)]
    width = max(sum(im.width for im in row) + GAP * (len(row) - 1) for row in rows)
    height = sum(max(im.height for im in row) for row in rows) + GAP * (len(rows) - 1)
    sheet = Image.new("RGB", (width, height), "white")
    y = 0
    for row in rows:
        x = 0
        for im in row:
            sheet.paste(im, (x, y))
            x += im.width + GAP
        y += max(im.height for im in row) + GAP
    out = io.BytesIO()
    sheet.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        out, format="png", optimize=True)
    return out.getvalue()


class Snapshot:
    """The picture output of one explorer: ``explorer`` shows its charts (``charts.figures``, ``sweep_panel``)."""

    def __init__(self, explorer):
        self.explorer = explorer
        self.handle = None   # the output's DisplayHandle, once the explorer was displayed
        self.png: bytes | None = None   # the last picture taken
        self.caption = ""               # what it shows, as text (the output's text/plain)
        self._lock = threading.Lock()
        explorer.state.on_update(self._on_update)

    def figures(self) -> list:
        """The charts the picture shows: the Train tab's, and the Sweep tab's once they have data."""
        return list(named_charts(self.explorer).values())

    def bundle(self) -> tuple[dict, dict]:
        """The output's data and metadata for the last picture (:data:`EMPTY` before one was taken)."""
        if self.png is None:
            return dict(EMPTY), {}
        from PIL import Image

        with Image.open(io.BytesIO(self.png)) as image:
            size = {"width": image.width, "height": image.height}
        return ({"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.caption},
                {"image/png": size})

    def show(self) -> None:
        """Display the picture's output (the last picture, or an empty output) and remember it to update in place."""
        from IPython.display import display

        data, metadata = self.bundle()
        self.handle = display(data, metadata=metadata, raw=True, display_id=True)

    def take(self, status=None, message: str | None = None) -> bytes:
        """Draw the charts as they are and put the picture in the output (if the explorer was displayed); returns
        the PNG. ``status`` and ``message`` (default: the explorer's status line) go in the output's text."""
        state = self.explorer.state
        current = state.current
        what = f"{current.config.tower} on {current.config.task}" if current is not None else \
            f"{state.tower} on {state.task}"
        with self._lock:
            self.png = mark_stand_in(picture(self.figures()))
            self.caption = (f"<the explorer's charts: {what}, {status or state.status}: "
                            f"{state.message if message is None else message}>")
            if self.handle is not None:
                data, metadata = self.bundle()
                self.handle.update(data, metadata=metadata, raw=True)
            return self.png

    def _on_update(self, shown, update) -> None:
        """A picture when the run on the charts ends, stops or pauses (after the charts drew that update), if the
        explorer was displayed (a script's or a test's explorer draws none)."""
        if update is None or self.handle is None or shown is not self.explorer.state.current:
            return
        if update.final or update.status in TAKEN_ON:
            self.take(update.status, update.message)
