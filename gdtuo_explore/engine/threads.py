"""PyTorch's intra-op thread count for runs: one definite count in the threads that set up and train a run.

A float32 sum splits its work by the thread count of the thread that computes it (its last bits differ between 1
and 2 threads), and that count is per thread: a thread takes the process-wide count (``torch.set_num_threads``) on
its first parallel operation and keeps it. So a run applies its count itself, in each of its threads
(:func:`apply_threads`): ``RunConfig.threads``, or, for None, :func:`own_threads`.

And the training thread's CPU priority (:func:`lower_priority`, ``RunConfig.nice``): a run watched in the explorer
trains below the browser that draws its charts and the Jupyter server that carries them, so that on a machine with
few cores the page gets the CPU first when it needs it and training takes the rest.
"""
from __future__ import annotations

import os
import sys
import threading

import torch


def usable_cores() -> int:
    """The CPU cores this process may run on: its affinity where the system has one (Linux), else all of them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def process_threads() -> int:
    """PyTorch's process-wide intra-op thread count: the last ``torch.set_num_threads`` in any thread, or its default.

    ``torch.get_num_threads()`` answers for the calling thread, which takes the process-wide count once, on its first
    parallel operation, and keeps it: a thread that computed before another thread changed the count still uses the
    old one. A new thread reads the current one."""
    found = []
    reader = threading.Thread(target=lambda: found.append(torch.get_num_threads()), name="gdtuo-threads")
    reader.start()
    reader.join()
    return found[0]


_THREADS_LOCK = threading.Lock()
_set_by_runs: tuple[int, int] | None = None   # (the count a run's ``threads`` set last, the count before it)


def own_threads() -> int:
    """The count a run with ``threads=None`` uses: :func:`process_threads`, unless that is a count a run's
    ``threads`` set (the explorer's), in which case the count from before: so the same configuration gives the same
    numbers before and after an explorer run in the process."""
    current = process_threads()
    with _THREADS_LOCK:
        if _set_by_runs is not None and current == _set_by_runs[0]:
            return _set_by_runs[1]
    return current


def apply_threads(threads: int | None) -> None:
    """Set this thread's (and the process's) intra-op threads to ``threads``, or to :func:`own_threads` when None.
    A run's sums split their work by the thread count of the thread that computes them (the last bits of a float32
    sum differ between 1 and 2 threads), so set-up and training apply one definite count in their own thread: the
    same configuration gives the same numbers whichever thread sets it up, whatever ran before."""
    global _set_by_runs
    if threads is None:
        threads = own_threads()
    else:
        before = own_threads()
        with _THREADS_LOCK:
            _set_by_runs = (threads, before)
    torch.set_num_threads(threads)


def lower_priority(nice: int | None) -> bool:
    """Lower the calling thread's CPU priority by ``nice`` (added to its Unix niceness, at most 19); True if it was
    lowered. Only where threads are scheduled one by one and a thread's niceness is its own (Linux); elsewhere, and
    for ``nice`` 0 or None, nothing changes. An unprivileged thread cannot raise its priority again: call this only in a
    thread that ends with its work (a run's training thread)."""
    if not nice or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:  # a sandbox that forbids it: train at the priority the thread has
        return False
    return True
