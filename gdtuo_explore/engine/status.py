"""``Status``: where a run (or a sweep, or a run the explorer shows) is in its life, one enum for every layer above
the core.

    idle --start()--> running <--pause()/resume()--> paused
    running or paused --stop()--> stopped          the job itself ends done, stopped, diverged or error

``starting`` is a run that is still being built (the explorer builds runs in a background thread). A ``Status`` is a
``str``, so ``status == "done"`` and JSON both work; ``str(status)`` is its plain value.
"""
from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """Whether the job has ended: done, stopped, diverged or error."""
        return self in FINISHED

    @property
    def active(self) -> bool:
        """Whether the job is being built, trains or is paused."""
        return self in ACTIVE


FINISHED = frozenset((Status.DONE, Status.STOPPED, Status.DIVERGED, Status.ERROR))
ACTIVE = frozenset((Status.STARTING, Status.RUNNING, Status.PAUSED))
