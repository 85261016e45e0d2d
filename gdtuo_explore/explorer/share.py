"""Setups to share: a link's query (``?task=spirals&tower=sgd(0.02)/sgd(1e-5)&controls=basic``) that opens the
explorer on a setup in Voila, and the Share control that gives the current setup as that link and as JSON.

Voila hands each page's query to its kernel as ``os.environ["QUERY_STRING"]``; ``Explorer()`` reads it there
(:func:`read_query`). The keys are the :class:`RunConfig` fields a person shares (:data:`QUERY_FIELDS`: task, model,
tower, steps or epochs or until_stopped, seed, batch_size), ``controls`` (``basic`` or ``full``), ``pace`` (steps per
second as the Speed menu offers them, or ``max``) and ``tab`` (``Train``, ``Sweep`` or ``Export``), and one
``overlay`` key per overlay to re-create, oldest first (:func:`overlay_text`)::

    overlay=label:frozen: sgd(0.01);color:ff7f0e;tower:sgd(0.01)

An overlay's parts are ``;``-separated ``key:value`` pairs: its ``label``, its ``color`` (hex digits, with or without
``#``, or a colour name) and the fields of its config that differ from the page's setup (:data:`OVERLAY_FIELDS`:
task, model, tower, baseline, batch_size, seed, steps or epochs or until_stopped); its other fields are the
setup's. Each key is applied on its own: a bad value (an unknown task, a tower that does not parse, a seed that is not
a whole number, an unknown key, an overlay with a bad part) is left out with a message naming it and what is allowed,
and the rest of the setup keeps its defaults.
"""
from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode

import ipywidgets as widgets

from ..engine.config import RunConfig
from .controls import SPEEDS
from .state import MAX_COMPARED, TABS

#: The RunConfig fields a link sets, in the order they are applied (a new task resets the model to its default).
QUERY_FIELDS = ("task", "model", "tower", "batch_size", "seed", "steps", "epochs", "until_stopped")
INTEGER_FIELDS = ("batch_size", "seed", "steps", "epochs")
CONTROLS = ("full", "basic")
#: What else a link sets: the controls shown, the pace (steps per second, or max) and the open tab.
VIEW_KEYS = ("controls", "pace", "tab")
#: The key of an overlay to re-create (given once per overlay).
OVERLAY = "overlay"
#: The config fields an overlay's part sets (those that differ from the page's setup): the setup's, then the budget's.
_SETUP_FIELDS = ("task", "model", "tower", "baseline", "batch_size", "seed")
OVERLAY_FIELDS = (*_SETUP_FIELDS, "steps", "epochs", "until_stopped")
#: The parts of an overlay: its label, its colour and its config fields.
OVERLAY_PARTS = ("label", "color", *OVERLAY_FIELDS)
_HEX = re.compile(r"#?(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
_COLOR = re.compile(f"{_HEX.pattern}|[a-zA-Z]+")   # hex digits or a colour name
_L = widgets.Layout


@dataclass
class LinkSetup:
    """What a link's query sets: ``config`` (the base config with every good value applied), ``controls`` (None if
    the query does not say) and ``errors`` (one message per value left out)."""

    config: RunConfig
    controls: str | None = None
    errors: list[str] = field(default_factory=list)
    view: dict = field(default_factory=dict)   # the explorer's "pace" and "tab", where the link sets them
    #: the overlays to re-create: ``(label, colour, changes)``, ``changes`` the config fields that differ from the
    #: setup's (see :meth:`overlays_on`); label and colour None where the link does not give them
    overlays: list[tuple] = field(default_factory=list)

    def overlays_on(self, config: RunConfig) -> list[tuple[str | None, str | None, RunConfig]]:
        """The overlays as ``(label, colour, config)``: each one's changes applied on ``config`` (the explorer's
        setup, once the link set it). One whose changes do not apply there is left out, with a message."""
        out = []
        for label, color, changes in self.overlays:
            try:
                out.append((label, color, config.replace(**changes)))
            except ValueError as err:
                self.errors.append(f"overlay {label!r}: {err}; left out")
        return out


def check_controls(controls) -> str:
    """``controls`` if it is one of :data:`CONTROLS`, else ValueError naming it."""
    if controls not in CONTROLS:
        raise ValueError(f"controls={controls!r} is invalid: use {' or '.join(map(repr, CONTROLS))}")
    return controls


def read_query(query: str, base: RunConfig) -> LinkSetup:
    """The setup of a link's ``query`` (``a=1&b=2``, with or without a leading ``?``) applied on ``base``."""
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    setup = LinkSetup(base)
    values: dict[str, str] = {}
    overlays = [value for key, value in pairs if key == OVERLAY]
    for key, value in pairs:
        if key == OVERLAY:
            continue
        if key in values:
            setup.errors.append(f"{key} is given twice in the link: using {value!r}")
        values[key] = value
    for key in values:
        if key not in QUERY_FIELDS + VIEW_KEYS:
            setup.errors.append(f"{key}={values[key]!r}: unknown setting, left out; known settings: "
                                f"{', '.join(QUERY_FIELDS + VIEW_KEYS + (OVERLAY,))}")
    if "controls" in values:
        try:
            setup.controls = check_controls(values["controls"])
        except ValueError as err:
            setup.errors.append(f"{err}; showing all controls")
    if "pace" in values:
        paces = {name.split(" ")[0].replace(",", ""): value or None for name, value in SPEEDS.items()}
        if values["pace"] in paces:
            setup.view["pace"] = paces[values["pace"]]
        else:
            setup.errors.append(f"pace={values['pace']!r} is invalid: use one of {', '.join(paces)} (steps per "
                                "second); keeping the default pace")
    if "tab" in values:
        if values["tab"] in TABS:
            setup.view["tab"] = values["tab"]
        else:
            setup.errors.append(f"tab={values['tab']!r} is invalid: use one of {', '.join(TABS)}")
    for key in QUERY_FIELDS:
        if key not in values:
            continue
        raw = values[key]
        try:
            value = _field_value(key, raw, f"{key}={raw!r}", "=")
            setup.config = setup.config.replace(**{key: value})
        except ValueError as err:
            setup.errors.append(f"{err}; using {_shown(setup.config, key)} instead")
    for i, text in enumerate(overlays, 1):
        try:
            label, color, changes = read_overlay(text)
            setup.config.replace(**changes)   # checked on the setup: a bad tower or task is named here
        except ValueError as err:
            setup.errors.append(f"overlay={text!r} (overlay {i}) is left out: {err}")
            continue
        setup.overlays.append((label, color, changes))
    if len(setup.overlays) > MAX_COMPARED:
        left = setup.overlays[:-MAX_COMPARED]
        setup.overlays = setup.overlays[-MAX_COMPARED:]
        setup.errors.append(f"the link gives {len(left) + MAX_COMPARED} overlays; the explorer keeps {MAX_COMPARED}: "
                            f"the first {len(left)} are left out")
    return setup


def read_overlay(text: str) -> tuple[str | None, str | None, dict]:
    """An overlay's ``label``, ``color`` and config changes from its link value (``label:plain;tower:sgd(0.01)``;
    see :func:`overlay_text`). ValueError naming a bad part and what is allowed."""
    parts: dict[str, str] = {}
    for item in text.split(";"):
        key, colon, value = item.partition(":")
        if not colon:
            raise ValueError(f"{item!r} is not key:value; its parts are key:value pairs separated by ';', with keys "
                             f"{', '.join(OVERLAY_PARTS)}")
        if key not in OVERLAY_PARTS:
            raise ValueError(f"{key!r} is not a part of an overlay; use {', '.join(OVERLAY_PARTS)}")
        if key in parts:
            raise ValueError(f"{key} is given twice")
        parts[key] = unquote(value)
    label, color = parts.pop("label", None), parts.pop("color", None)
    if label is not None and not label.strip():
        raise ValueError("label: is empty; give a short text, or leave label out")
    if color is not None:
        if not _COLOR.fullmatch(color):
            raise ValueError(f"color:{color} is invalid: use 6 or 3 hex digits (ff7f0e, with or without #) or a colour "
                             "name (red)")
        if _HEX.fullmatch(color) and not color.startswith("#"):
            color = "#" + color
    changes = {}
    for key, raw in parts.items():
        value = _field_value(key, raw, f"{key}:{raw}", ":")
        changes[key] = (value or None) if key in ("model", "baseline") else value
    return label, color, changes


def _field_value(key: str, raw: str, shown: str, sep: str):
    """The value of the config field ``key`` from its text ``raw`` in a link (a whole number, True for
    ``until_stopped``, else the text); ValueError naming it as ``shown`` (``key=value`` or ``key:value``, ``sep``
    between them) and what is allowed."""
    if key in INTEGER_FIELDS:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{shown} is invalid: it must be a whole number") from None
    if key == "until_stopped":
        if raw.lower() not in ("1", "true", "yes", ""):
            raise ValueError(f"{shown} is invalid: use until_stopped{sep}1")
        return True
    return raw


def overlay_text(label: str | None, color: str | None, config: RunConfig, base: RunConfig) -> str:
    """An overlay's link value (before the query's own encoding): its label, its colour (``#`` left out of hex
    colours) and the fields of :data:`OVERLAY_FIELDS` in which ``config`` differs from ``base`` (the model too
    when the task differs, the budget as its one key). ``;`` and ``%`` in a value are written as ``%3B`` and ``%25``."""
    mine, theirs = config.to_dict(), base.to_dict()
    parts = {}
    if label is not None:
        parts["label"] = label
    if color is not None:
        parts["color"] = color[1:] if _HEX.fullmatch(color) and color.startswith("#") else color
    for key in _SETUP_FIELDS:
        if mine[key] != theirs[key] or (key == "model" and mine["task"] != theirs["task"]):
            parts[key] = "" if mine[key] is None else mine[key]
    if config.budget != base.budget:
        parts.update({key: (1 if value is True else value) for key, value in config.budget.fields().items()
                      if value is not None and value is not False})
    return ";".join(f"{key}:{str(value).replace('%', '%25').replace(';', '%3B')}" for key, value in parts.items())


def _shown(config: RunConfig, key: str) -> str:
    if key in ("steps", "epochs", "until_stopped"):
        return str(config.budget)
    return f"{key}={getattr(config, key)!r}"


def query(config: RunConfig, controls: str = "full", pace: float | None = None, tab: str | None = None,
          overlays=()) -> str:
    """The link's query for ``config`` (without the ``?``): the fields of :data:`QUERY_FIELDS`, ``controls``
    when it is not ``full``, ``pace`` (steps per second, None: ``max``) and ``tab`` if given, and an ``overlay`` key
    for each of ``overlays`` (``(label, colour, config)``, see :func:`overlay_text`)."""
    fields = config.to_dict()
    out = {key: fields[key] for key in QUERY_FIELDS if fields.get(key) is not None and fields.get(key) is not False}
    if out.get("until_stopped"):
        out["until_stopped"] = 1
    if controls != "full":
        out["controls"] = check_controls(controls)
    out.update({"pace": "max" if pace is None else f"{pace:g}"} if pace is not None or tab is not None else {})
    if tab is not None:
        out["tab"] = tab
    pairs = [*out.items(), *((OVERLAY, overlay_text(label, color, other, config)) for label, color, other in overlays)]
    return urlencode(pairs, safe="()/,:;")


def page_path() -> str:
    """The path of the Voila page this kernel serves (``SCRIPT_NAME``), '' outside Voila."""
    return os.environ.get("SCRIPT_NAME", "") if "QUERY_STRING" in os.environ else ""


class SharePanel:
    """The Share control, as ``widget``: a button that shows the current setup as a link (for Voila: the page's own
    path with the setup's query, or the query to add to a Voila page's address) and as the explorer's JSON (for
    ``Explorer(config=...)`` in JupyterLab or any notebook)."""

    def __init__(self, explorer):
        self.explorer = explorer
        self.button = widgets.Button(description="Share", tooltip="Show this setup as a link and as JSON",
                                     layout=_L(width="auto", flex="0 0 auto"))
        self.link = widgets.HTML()
        self.json = widgets.Textarea(layout=_L(width="100%", max_width="640px", height="140px",
                                               display="none"))
        self.button.on_click(lambda _: self.show())
        about = widgets.HTML(
            "<div class='gd-about'><b>Share</b>: this setup as a link that opens the explorer on it in Voila "
            "(<code>voila notebooks/explorer.ipynb</code>, then the link's <code>?...</code> after the page's "
            "address), and as JSON for <code>Explorer(config=...)</code>.</div>")
        self.widget = widgets.VBox([about, self.button, self.link, self.json])

    def show(self) -> None:
        """Fill in the link and the JSON for the current setup (a message instead if the setup is invalid)."""
        state = self.explorer.state
        try:
            text = query(state.config(), self.explorer.controls, state.pace, state.tab,
                         [(shown.label, shown.color, shown.config) for shown in state.compared])
            data = state.to_dict()
        except ValueError as err:
            self.link.value = f"<div class='gd-error'>Nothing to share: {html.escape(str(err))}</div>"
            self.json.layout.display = "none"
            return
        path = page_path()
        href = f"{path}?{text}"
        shown = (f"<a class='gd-share-link' href='{html.escape(href, quote=True)}' target='_blank'>"
                 f"{html.escape(href)}</a>" if path else f"<code class='gd-share-link'>?{html.escape(text)}</code>")
        self.link.value = f"<div class='gd-about'>Link: {shown}</div>"
        self.json.value = json.dumps(data, indent=2)
        self.json.layout.display = None


def link_message(errors: list[str]) -> str:
    """The HTML shown above the explorer for a link's values that were left out ('' if none)."""
    if not errors:
        return ""
    items = "".join(f"<li>{html.escape(e)}</li>" for e in errors)
    return (f"<div class='gd-error gd-link-errors'>Some of this page's link could not be used; the rest of the "
            f"setup keeps its defaults:<ul>{items}</ul></div>")
