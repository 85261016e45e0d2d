"""Shared test set-up. tests/ is on sys.path (pytest's rootdir-less import), so helpers import as `browser`, `oracle`."""


def pytest_report_header(config):
    import torch

    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    return f"torch {torch.__version__}, device: {device}, threads: {torch.get_num_threads()}"
