"""``Control``: the life cycle of a job that runs in its own thread (a run's training thread, a sweep's driver),
a state machine whose state is changed only under one lock.

    idle --start()/step(n)/run()--> running --pause()--> paused --resume()/step(n)--> running
    running or paused --stop()--> stopped        the job itself ends done, stopped, diverged or error

``status`` is a :class:`~.status.Status`. The job is a function ``body()`` that runs in the worker thread (a daemon
thread started by :meth:`start`, or the caller's thread in :meth:`run`) and returns its final ``(status, message)``
(message None: ``describe(status)``). A body that works in steps calls :meth:`gate` before each one: it honours
pause, ``step(n)``, stop and the pace, and runs what :meth:`between_steps` handed it. Controls are safe from any
thread. A job still running in its own thread when the interpreter exits is stopped, and waited for, first.

The pace is a schedule: step ``k`` after the pace was set (or the job started or resumed) is due ``k / pace`` seconds
after the first. A step that comes late (an evaluation, a busy core) is made up by the next ones, as long as the job
is at most :data:`CATCH_UP` seconds behind, so jobs started together at one pace (:meth:`Control.set_origin`) stay
together.
"""
from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import traceback
import weakref

from .status import FINISHED, Status

log = logging.getLogger(__name__)

#: How far (seconds) a paced job may fall behind its schedule and still make it up by stepping without waiting; a
#: job further behind forgets the rest (no burst of steps after a long evaluation or a stall).
CATCH_UP = 0.5
#: How long (seconds, in all) the interpreter's exit waits for the jobs it stops (see :func:`_stop_at_exit`).
EXIT_WAIT = 10.0

_in_threads: "weakref.WeakSet[Control]" = weakref.WeakSet()   # the jobs started in threads of their own


def _stop_at_exit() -> None:
    """When the interpreter exits, stop every job still running or paused in its own thread and wait for them (at
    most :data:`EXIT_WAIT` seconds in all): a script that started a run and ended (or a kernel shut down) leaves it
    ``stopped``. A daemon thread still inside torch while Python shuts down aborts the process ("terminate called
    without an active exception", exit status 134)."""
    jobs = [job for job in list(_in_threads) if job.status not in FINISHED]
    deadline = time.monotonic() + EXIT_WAIT
    for job in jobs:
        job.stop(wait=False)
    for job in jobs:
        job.wait(max(0.0, deadline - time.monotonic()))


atexit.register(_stop_at_exit)


class Control:
    """The life cycle of one job (it runs once).

    Args:
        body: the job, ``body() -> (status, message or None)``, run in the worker thread.
        describe: ``describe(state) -> str``, the message for ``"running"``, ``"paused"``, ``"stopped"`` and
            ``"interrupted"`` (read at the time, e.g. ``training: step 12 of 400``).
        name: the worker thread's name; ``what``, ``once``: for the error of a second start, e.g. ``"run"``,
            ``"a Run trains once"``.
        on_launch: called (under the lock) when the worker starts; returns threads that :meth:`wait` joins too.
        on_pause: called in the worker thread before it pauses (e.g. to fetch records).
        on_change: called (under the lock) after every change of status, with True for a finished status.
    """

    def __init__(self, body, describe, *, name: str, what: str, once: str, on_launch=None, on_pause=None,
                 on_change=None):
        self._body, self._describe, self._name, self._what, self._once = body, describe, name, what, once
        self._on_launch, self._on_pause, self._on_change = on_launch, on_pause, on_change
        self._cond = threading.Condition()
        self._status, self._message = Status.IDLE, "not started"
        self._go = False                   # run steps (else pause before the next one)
        self._stop_requested = False
        self._budget: int | None = None    # steps left of a step(n); None: no limit
        self._pace: float | None = None    # at most this many steps per second; None: as fast as possible
        self._due: float | None = None     # time.monotonic() at which the next paced step is due (None: now)
        self._queued: list[list] = []      # [fn, done, error] handed to the worker by between_steps
        self.thread: threading.Thread | None = None   # the worker: the training thread of a run
        self._own_thread = False           # whether start() made the worker (run() borrows the caller's thread)
        self._companions: tuple = ()
        self._elapsed = 0.0
        self._running_since: float | None = None
        self.error_traceback: str | None = None

    # -- state -------------------------------------------------------------------------------------------------
    @property
    def status(self) -> Status:
        return self._status

    @property
    def message(self) -> str:
        return self._describe("running") if self._status == Status.RUNNING else self._message

    @property
    def started(self) -> bool:
        return self.thread is not None

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    @property
    def elapsed(self) -> float:
        """Seconds spent running (pauses excluded)."""
        since = self._running_since
        return self._elapsed + (time.perf_counter() - since if since is not None else 0.0)

    @property
    def pace(self) -> float | None:
        """At most this many steps per second (None: as fast as possible); settable at any time, from any thread."""
        return self._pace

    @pace.setter
    def pace(self, value: float | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise ValueError(f"pace={value!r} is out of range: it must be None (as fast as possible) or a finite "
                             "number of steps per second > 0")
        with self._cond:
            self._pace = None if value is None else float(value)
            self._due = None
            self._cond.notify_all()

    def set_origin(self, origin: float) -> None:
        """Start the pace's schedule at ``origin`` (a ``time.monotonic()`` value): the first paced step is due then.
        Jobs given one origin and one pace step together (see the module docstring)."""
        with self._cond:
            self._due = float(origin)

    def _set_status(self, status: Status, message: str) -> None:
        """Change the status (the caller holds ``_cond``), waking waiters."""
        now = time.perf_counter()
        if status == Status.RUNNING and self._running_since is None:
            self._running_since = now
        elif status != Status.RUNNING and self._running_since is not None:
            self._elapsed += now - self._running_since
            self._running_since = None
        self._status, self._message = status, message
        if self._on_change is not None:
            self._on_change(status in FINISHED)
        self._cond.notify_all()

    @property
    def own_thread(self) -> bool:
        """Whether the worker is a thread that :meth:`start` made (not the caller's, borrowed by :meth:`run`)."""
        return self._own_thread

    def in_worker(self) -> bool:
        """Whether the calling thread is the worker or one of its companions (which must not wait for it)."""
        return threading.current_thread() in (self.thread, *self._companions)

    # -- controls ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the job in a background (daemon) thread; nothing if it was already started or finished."""
        with self._cond:
            if self.thread is None and self._status == Status.IDLE:
                self._go = True
                self._launch(self._new_thread()).start()

    def run(self) -> str:
        """Run the job in the calling thread until it ends; returns the final status."""
        with self._cond:
            if self.thread is not None or self._status != Status.IDLE:
                raise RuntimeError(f"this {self._what} was already started (status {self._status}): {self._once}")
            self._go = True
            self._launch(threading.current_thread())
        self._main()
        return self.wait()

    def _new_thread(self) -> threading.Thread:
        self._own_thread = True
        _in_threads.add(self)
        return threading.Thread(target=self._main, name=self._name, daemon=True)

    def _launch(self, thread: threading.Thread) -> threading.Thread:
        self.thread = thread
        self._set_status(Status.RUNNING, self._describe("running"))
        if self._on_launch is not None:
            self._companions = tuple(self._on_launch())
        return thread

    def pause(self, wait: bool = True) -> str:
        """Pause before the next step. With ``wait``, return once paused."""
        with self._cond:
            if self._status in FINISHED or self.thread is None:
                return self._status
            self._go, self._budget = False, None
            self._cond.notify_all()
            if wait and not self.in_worker():
                self._cond.wait_for(lambda: self._status == Status.PAUSED or self._status in FINISHED or self._go)
            return self._status

    def resume(self) -> str:
        """Continue after a pause (start the job if it was not started)."""
        with self._cond:
            if self._status in FINISHED:
                return self._status
            self._go, self._budget, self._due = True, None, None
            self._cond.notify_all()
        self.start()
        return self._status

    def step(self, n: int = 1, wait: bool = True) -> str:
        """Run exactly ``n`` more steps, then pause (starting the job if needed). With ``wait``, return once those
        steps are done (or the job finished)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r} is out of range: step(n) needs an integer n >= 1")
        with self._cond:
            if self._status in FINISHED:
                return self._status
            self._budget, self._go = n, True
            self._cond.notify_all()
            if self.thread is None:
                self._launch(self._new_thread()).start()
            if wait and not self.in_worker():
                self._cond.wait_for(lambda: self._status in FINISHED
                                    or (self._budget is None and self._status == Status.PAUSED))
            return self._status

    def stop(self, wait: bool = True) -> str:
        """Stop before the next step (status ``stopped``). With ``wait``, return once the worker has stopped."""
        with self._cond:
            if self._status in FINISHED:
                return self._status
            self._stop_requested = True
            if self.thread is None:
                self._set_status(Status.STOPPED, "stopped before it started")
                return self._status
            self._cond.notify_all()
            if wait and not self.in_worker():
                self._cond.wait_for(lambda: self._status in FINISHED)
            return self._status

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job has finished, its thread has ended and its companions too (or ``timeout`` seconds
        passed); returns the status. A job never started returns its status (``idle``) at once."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self.thread is None:
                return self._status
            self._cond.wait_for(lambda: self._status in FINISHED, timeout)
        if self._status in FINISHED:
            threads = ((self.thread,) if self._own_thread else ()) + self._companions  # never a borrowed thread
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self._status

    def wait_finished(self) -> str:
        """Block until the job has a finished status (its body has returned); unlike :meth:`wait`, join no thread.
        From the worker itself, return at once."""
        with self._cond:
            if self.thread is not None and threading.current_thread() is not self.thread:
                self._cond.wait_for(lambda: self._status in FINISHED)
            return self._status

    def between_steps(self, fn):
        """Call ``fn()`` between two steps of the job, holding the lock, and return what it returns (or raise what it
        raises): at once in this thread where no step can be under way (the job was not started, is paused, or this
        is the worker), else in the worker before its next step, which this waits for. ValueError, without calling
        it, if the job has finished or finishes first."""
        with self._cond:
            if self._status in FINISHED:
                raise ValueError(f"the {self._what} has finished ({self._status})")
            if self.thread is None or self._status == Status.PAUSED or self.in_worker():
                return fn()
            job = [fn, False, None, None]   # fn, done, result, error
            self._queued.append(job)
            self._cond.notify_all()
            self._cond.wait_for(lambda: job[1] or self._status in FINISHED)
            if not job[1]:
                self._queued.remove(job)
                raise ValueError(f"the {self._what} finished ({self._status}) before its next step")
            if job[3] is not None:
                raise job[3]
            return job[2]

    def _run_queued(self) -> None:
        """In the worker, holding the lock: run what :meth:`between_steps` handed over."""
        while self._queued:
            job = self._queued.pop(0)
            try:
                job[2] = job[0]()
            except Exception as err:  # noqa: BLE001 - raised again in the thread that asked
                job[3] = err
            job[1] = True
            self._cond.notify_all()

    # -- the worker ----------------------------------------------------------------------------------------------
    def _main(self) -> None:
        """The worker's body: run the job, then set the final status. It never ends without one."""
        try:
            status, message = self._body()
        except KeyboardInterrupt:  # Ctrl-C during run() in the main thread: stop, keep what was done, pass it on
            with self._cond:
                self._set_status(Status.STOPPED, self._describe("interrupted"))
            raise
        except BaseException as err:  # the thread must never die silently
            self.error_traceback = traceback.format_exc()
            log.error("%s failed:\n%s", self._name, self.error_traceback)
            status, message = Status.ERROR, f"error: {type(err).__name__}: {err}"
        with self._cond:
            status = Status(status)
            self._set_status(status, message if message is not None else self._describe(status))

    def gate(self) -> bool:
        """Called by the worker before each step: honour stop, pause, the step budget and the pace. False: stop."""
        with self._cond:
            self._run_queued()
            if self._budget == 0:
                self._go, self._budget = False, None
            if self._pace is not None:
                self._wait_for_pace()
            if self._go and not self._stop_requested:
                if self._budget is not None:
                    self._budget -= 1
                return True
        if self._on_pause is not None:
            self._on_pause()
        with self._cond:
            if not self._go and not self._stop_requested:
                self._set_status(Status.PAUSED, self._describe("paused"))
                while True:   # what was handed over before the status said paused is run here
                    self._run_queued()
                    if self._go or self._stop_requested:
                        break
                    self._cond.wait()
                self._due = None
            if self._stop_requested:
                return False
            self._set_status(Status.RUNNING, self._describe("running"))
            if self._budget is not None:
                self._budget -= 1
            return True

    def _wait_for_pace(self) -> None:
        """Wait (the caller holds ``_cond``) until the pace's schedule allows the next step, or a control or a new
        pace interrupts; the wait releases the lock, so a stop or a pause is seen at once."""
        while self._pace is not None and self._go and not self._stop_requested:
            self._run_queued()
            if self._due is None:
                self._due = time.monotonic()
            rest = self._due - time.monotonic()
            if rest <= 0:
                break
            self._cond.wait(rest)
        if self._pace is not None and self._due is not None:
            self._due = max(self._due, time.monotonic() - CATCH_UP) + 1.0 / self._pace
