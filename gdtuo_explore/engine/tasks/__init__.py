"""Tasks the explorer can train on: a registry of datasets paired with models and losses.

``TASKS`` lists them in menu order (``digits``, the default, first); ``make_task`` builds one.
Importing this package registers the built-in tasks; torchvision is imported only when an
image dataset is loaded.
"""

from .registry import (METRIC_COLUMNS, TASKS, DatasetNotFound, Task, TaskSpec, default_data_root, make_task,
                       register_task)
from . import vision, text, synthetic, surface  # noqa: F401  (registers the built-in tasks, in menu order)

__all__ = ["METRIC_COLUMNS", "TASKS", "DatasetNotFound", "Task", "TaskSpec", "default_data_root", "make_task",
           "register_task", "surface"]
