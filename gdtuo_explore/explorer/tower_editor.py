"""The tower editor: presets, the tower's spec text (editable both ways) and a column of level cards, the top level
first and the weights' optimizer at the bottom. Every widget event calls a command of :class:`ExplorerState`; the
editor redraws from ``state.tower`` (in place while the tower keeps its shape, so a slider is never replaced under
the pointer)."""
from __future__ import annotations

import html

import ipywidgets as widgets

from . import tower_edits
from .charts import is_step_size
from .nudge_controls import NudgeControls

LOG_RANGE = (-8, 2)   # exponents of a step-size slider; the typed value may go beyond
_L = widgets.Layout


def _round(value: float) -> float:
    """A slider value with 3 significant digits, so specs stay readable."""
    return float(f"{value:.3g}")


class _HyperRow:
    """One hyperparameter of a card: name, slider (log scale for step sizes), typed value, learn toggle."""

    def __init__(self, editor, index: int, name: str, hyper, top: bool):
        self.editor, self.index, self.name = editor, index, name
        step_size = is_step_size(name)
        self.label = widgets.Label(name, tooltip="step size" if step_size else None, layout=_L(width="44px"))
        if step_size:
            self.slider = widgets.FloatLogSlider(base=10, min=LOG_RANGE[0], max=LOG_RANGE[1], step=0.01,
                                                 readout=False, continuous_update=False, layout=_L(width="150px"))
        else:
            low = hyper.low + (1e-3 if hyper.open_low else 0.0)
            self.slider = widgets.FloatSlider(min=low, max=0.9999, step=1e-4, readout=False,
                                              continuous_update=False, layout=_L(width="150px"))
        self.text = widgets.Text(continuous_update=False, layout=_L(width="76px"))
        self.text.add_class("gd-value")
        self.learn = widgets.Checkbox(description="learn", indent=False, layout=_L(width="64px"),
                                      tooltip=f"learn {name}: the level above tunes it while training")
        if top:
            self.learn.layout.visibility = "hidden"
        self.slider.observe(self._slid, "value")
        self.text.observe(self._typed, "value")
        self.learn.observe(self._toggled, "value")
        self.widget = widgets.HBox([self.label, self.slider, self.text, self.learn], layout=_L(align_items="center"))

    def show(self, value: float, learns: bool) -> None:
        self.slider.value = value   # the slider clamps it to its range; the typed value shows the real one
        self.text.value = f"{value:g}"
        self.learn.value = learns

    def _slid(self, change) -> None:
        if not self.editor.syncing:
            self.editor.state.edit_tower(tower_edits.with_value, self.index, self.name, _round(change["new"]))

    def _typed(self, change) -> None:
        if not self.editor.syncing:
            self.editor.state.edit_tower(tower_edits.with_value, self.index, self.name, change["new"].strip())

    def _toggled(self, change) -> None:
        if not self.editor.syncing:
            self.editor.state.edit_tower(tower_edits.with_learn, self.index, self.name, change["new"])


class LevelCard:
    """The card of level ``index`` (from 0, bottom first): optimizer menu, remove button, hyperparameter rows."""

    def __init__(self, editor, index: int, level, height: int):
        self.editor, self.index = editor, index
        top = index == height - 1
        role = "trains the weights" if index == 0 else f"tunes level {index}"
        note = "fixed: nothing above it" if top and height > 1 else ""
        self.title = widgets.HTML(f"<div class='gd-card-title'><b>Level {index + 1}</b> <span>{role}</span>"
                                  f"{f'<br><i>{note}</i>' if note else ''}</div>", layout=_L(flex="1 1 auto"))
        self.kind = widgets.Dropdown(options=list(tower_edits.choices()), value=tower_edits.choice(level),
                                     layout=_L(width="170px"))
        self.remove = widgets.Button(icon="times", tooltip="Remove this level", disabled=height == 1,
                                     layout=_L(width="30px"))
        self.remove.add_class("gd-remove")
        self.rows = {name: _HyperRow(editor, index, name, level.hyper(name), top)
                     for name in tower_edits.shown_hypers(level)}
        self.kind.observe(self._chose, "value")
        self.remove.on_click(lambda _: editor.state.edit_tower(tower_edits.without_level, index))
        header = widgets.HBox([self.title, self.kind, self.remove], layout=_L(align_items="center"))
        self.nudge = NudgeControls(editor.state, index, level)   # acts on the run on the charts
        self.widget = widgets.VBox([header] + [row.widget for row in self.rows.values()] + [self.nudge.widget])
        self.widget.add_class("gd-card")
        self.widget.add_class("gd-card-weights" if index == 0 else ("gd-card-top" if top else "gd-card-middle"))
        self.show(level)

    def show(self, level) -> None:
        self.kind.value = tower_edits.choice(level)
        for name, row in self.rows.items():
            row.show(level.values[name], name in level.learn)

    def _chose(self, change) -> None:
        if not self.editor.syncing:
            self.editor.state.edit_tower(tower_edits.with_choice, self.index, change["new"])


def _shape(levels) -> tuple:
    """What decides the cards' widgets: height, and each level's menu choice and shown hyperparameters."""
    return tuple((tower_edits.choice(level), tuple(tower_edits.shown_hypers(level)), k == len(levels) - 1)
                 for k, level in enumerate(levels))


class TowerEditor:
    """Presets, spec text, error line, "add a level" button and the level cards, as ``widget``."""

    def __init__(self, state):
        self.state = state
        self.syncing = False
        self.preset = widgets.Dropdown(description="Preset", options=[("custom tower", "")] + [
            (name, name) for name in tower_edits.PRESETS], layout=_L(width="97%"))
        self.spec = widgets.Text(description="Spec", continuous_update=False, layout=_L(width="97%"),
                                 tooltip="the tower as text, bottom level first, e.g. adam/sgd(1e-5); Enter applies")
        self.spec.add_class("gd-spec")
        self.error = widgets.HTML()
        self.add_level = widgets.Button(description="Add a level on top",
                                        tooltip="a copy of the current top level, which then starts learning",
                                        layout=_L(width="100%"))
        self.add_level.add_class("gd-add")
        self.cards_box = widgets.VBox()
        self.cards: list[LevelCard] = []
        self._shape = None
        self.preset.observe(self._preset_chosen, "value")
        self.spec.observe(self._spec_typed, "value")
        self.add_level.on_click(lambda _: state.edit_tower(tower_edits.with_level_on_top))
        state.observe(self._tower_changed, "tower")
        state.observe(self._error_changed, "spec_error")
        state.observe(self._new_run, "current")
        self.widget = widgets.VBox([self.preset, self.spec, self.error, self.add_level, self.cards_box])
        self._tower_changed(None)

    def _preset_chosen(self, change) -> None:
        if change["new"] and not self.syncing:
            self.state.apply_preset(change["new"])

    def _spec_typed(self, change) -> None:
        if not self.syncing:
            self.state.set_tower(change["new"])

    def _error_changed(self, change) -> None:
        message = change["new"]
        self.error.value = f"<div class='gd-error'>{html.escape(message)}</div>" if message else ""

    def _new_run(self, _) -> None:
        """A new run on the charts (Run, Race, Reset): the nudge lines spoke of the last one."""
        for card in self.cards:
            card.nudge.message.value = ""

    def _tower_changed(self, _) -> None:
        spec = self.state.tower
        levels = tower_edits.levels(spec)
        self.syncing = True
        try:
            self.spec.value = spec
            self.preset.value = tower_edits.preset_of(spec) or ""
            if _shape(levels) == self._shape:
                for card, level in zip(self.cards, levels):
                    card.show(level)
            else:
                self._shape = _shape(levels)
                self.cards = [LevelCard(self, k, level, len(levels)) for k, level in enumerate(levels)]
                self._lay_out()
        finally:
            self.syncing = False

    def _lay_out(self) -> None:
        """Cards top level first, with an arrow from each level to the one it tunes, and the weights below."""
        children = []
        for card in reversed(self.cards):
            if children:
                children.append(widgets.HTML("<div class='gd-link'>&#9660; tunes</div>"))
            children.append(card.widget)
        children.append(widgets.HTML("<div class='gd-link'>&#9660; trains</div><div class='gd-weights'>"
                                     "the model's weights</div>"))
        self.cards_box.children = children
