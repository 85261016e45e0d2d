"""Helpers shared by the tests (tests/ is on sys.path, so they import as ``helpers``): waiting with a deadline, and
driving the explorer without a browser (an explorer set up for a tower, a chart's traces, an HTML widget's text), ending
a gloo worker process."""
import html
import re
import time

LONG = 1_000_000  # steps: a run that only ends when stopped


def end_gloo_worker() -> None:
    """End a process that ``torch.multiprocessing.spawn`` started for a gloo process group, once its results are
    written: destroy the group, then leave without Python's shutdown, as the command line ends its torchrun ranks
    (``cli._exit_now``, which says why: pytorch/pytorch#179291)."""
    import torch.distributed as dist

    from gdtuo_explore.cli import _exit_now

    dist.destroy_process_group()
    _exit_now(0)


def wait_until(predicate, what="the condition", timeout=60.0, poll=0.01):
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


def trace(fig, name):
    """The one trace of ``fig`` named ``name``."""
    matches = [t for t in fig.data if t.name == name]
    assert len(matches) == 1, f"expected one trace {name!r} in {[t.name for t in fig.data]}"
    return matches[0]


def points(fig, name):
    """How many points the trace ``name`` of ``fig`` has (0 if there is no such trace)."""
    t = [t for t in fig.data if t.name == name]
    return 0 if not t or t[0].x is None else len(t[0].x)


def text(widget):
    """The visible text of an HTML widget."""
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))


def explorer_for(tower, steps, **setup):
    """An explorer set to train ``tower`` for ``steps`` steps, as fast as it goes unless ``setup`` sets a pace."""
    from gdtuo_explore import Explorer

    e = Explorer()
    e.state.set_tower(tower)
    e.state.unit, e.state.budget = "steps", steps
    e.state.pace = None
    for key, value in setup.items():
        setattr(e.state, key, value)
    return e


def no_observer_errors(e):
    """Fail with the first error an observer of the explorer's runs raised."""
    runs = [e.current_run] + [s.run for s in e.state.compared]
    errors = [err for r in runs if r is not None for err in r.observer_errors]
    assert not errors, errors[0]
