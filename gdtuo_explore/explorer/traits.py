"""Traits the explorer's models share."""
from __future__ import annotations

from traitlets import UseEnum

from ..engine.status import Status


class StatusTrait(UseEnum):
    """A :class:`~gdtuo_explore.engine.status.Status` trait that also takes a status's value (``"running"``)."""

    def __init__(self, default_value=Status.IDLE, **kwargs):
        super().__init__(Status, default_value=default_value, **kwargs)

    def validate(self, obj, value):
        if isinstance(value, str) and not isinstance(value, Status):
            try:
                value = Status(value)
            except ValueError:
                pass   # UseEnum's own error names the value and the choices
        return super().validate(obj, value)
