"""Shared test set-up. tests/ is on sys.path (pytest's rootdir-less import), so helpers import as `browser`, `oracle`."""
import os

import pytest


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs two workers), each worker's PyTorch takes its share of the cores, and
    so do the processes its tests start: two workers each computing on all the cores make the core's tests slower
    than one worker, not faster."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        from gdtuo_explore.engine.threads import usable_cores

        share = max(1, usable_cores() // int(workers))
        torch.set_num_threads(share)
        os.environ.setdefault("OMP_NUM_THREADS", str(share))   # and the processes the tests start (CLI, kernels)


def pytest_report_header(config):
    import torch

    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    return f"torch {torch.__version__}, device: {device}, threads: {torch.get_num_threads()}"


@pytest.fixture(params=["host", "tensor"])
def tower_path(request, monkeypatch):
    """Run a test twice: with new towers on the CPU's host path (hyperparameters read as Python floats) and on the
    accelerator's tensor path (one-element tensors, never read back), through ``Tower.default_host``. A tower-math
    module opts in with ``pytestmark = pytest.mark.usefixtures("tower_path")``; its value is ``"host"`` or
    ``"tensor"``."""
    from gdtuo_explore.core.tower import Tower

    if request.param == "tensor":
        monkeypatch.setattr(Tower, "default_host", False)
    return request.param


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of the tests' own, started once per session and stopped at its end
    (:class:`pg_server.PostgresServer`); ``postgres.database()`` gives a new database's URL."""
    from pg_server import PostgresServer

    with PostgresServer.start() as server:
        yield server
