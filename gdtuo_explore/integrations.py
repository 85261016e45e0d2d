"""Logging what a :class:`~gdtuo_explore.HyperOptimizer` learns: every level's hyperparameters, at every step.

* :class:`HyperparameterLogger`, a Lightning callback: it writes them to every logger the Trainer has
  (TensorBoard, CSV, Weights & Biases, MLflow, ...);
* :func:`log_hyperparameters`, for ``torch.utils.tensorboard.SummaryWriter`` (or anything with ``add_scalar``).

Both read the optimizer's own history (recorded on the device at every step, fetched in one transfer), so each
step's values are written, with its step number, however seldom they are called. A value is named
``hyper/level1.alpha``, ``hyper/level1.beta1``, ``hyper/level2.alpha``, ... (levels counted from the weights' optimizer
up, as :meth:`~gdtuo_explore.HyperOptimizer.history` does); with several parameter groups ``hyper/group1/...`` names
the second group's, and with several optimizers in one Trainer ``hyper/optimizer1/...`` the second one's. Step ``s``
holds the values after the optimizer's ``s``-th step.

Lightning and TensorBoard are imported only when asked for: ``import gdtuo_explore.integrations`` imports neither.

Example (TensorBoard without Lightning)::

    >>> import torch
    >>> from gdtuo_explore import HyperOptimizer
    >>> from gdtuo_explore.integrations import log_hyperparameters
    >>> class Writer:                                   # what SummaryWriter offers, for this example
    ...     def add_scalar(self, tag, value, global_step):
    ...         print(tag, round(value, 6), global_step)
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = HyperOptimizer(model.parameters(), "sgd(0.1)/sgd(0.01)")
    >>> for _ in range(2):
    ...     opt.zero_grad(); model(torch.ones(1, 2)).sum().backward(); opt.step()
    >>> last = log_hyperparameters(Writer(), opt)   # steps 1 and 2; the step size learned at step 2
    hyper/level1.alpha 0.1 1
    hyper/level1.mu 0.0 1
    hyper/level2.alpha 0.01 1
    hyper/level2.mu 0.0 1
    hyper/level1.alpha 0.13 2
    hyper/level1.mu 0.0 2
    hyper/level2.alpha 0.01 2
    hyper/level2.mu 0.0 2
    >>> last                                        # pass it as since= next time
    2
"""
from __future__ import annotations

from .core.hyperoptimizer import HyperOptimizer

__all__ = ["HyperparameterLogger", "log_hyperparameters", "hyperparameter_rows"]


def hyperparameter_rows(optimizer: HyperOptimizer, since: int = 0, prefix: str = "hyper", name: str = ""):
    """``(step, {tag: value})`` for every step of every parameter group of ``optimizer`` after step ``since``, in
    step order (a group's steps in order, the groups one after the other for each step). ``name`` goes between the
    prefix and the group (``"optimizer1"``). An optimizer made with ``history=False`` gives its current values
    alone, at its current step."""
    if not isinstance(optimizer, HyperOptimizer):
        raise ValueError(f"optimizer must be a HyperOptimizer, not {type(optimizer).__name__}")
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise ValueError(f"since={since!r} is invalid: it must be a step number, an int >= 0")
    rows: dict[int, dict[str, float]] = {}
    groups = len(optimizer.param_groups)
    for g, tower in enumerate(optimizer.towers):
        base = "/".join(part for part in (prefix, name, f"group{g}" if groups > 1 else "") if part)
        if not tower.records_history:
            if tower.t > since:
                values = {f"level{k + 1}.{key}": v for k, level in enumerate(tower.values()) for key, v in level.items()}
                rows.setdefault(tower.t, {}).update({f"{base}/{c}": float(v) for c, v in values.items()})
            continue
        history = optimizer.history(g, since=since)
        columns = tower.columns()
        for i, step in enumerate(history["step"]):
            rows.setdefault(int(step), {}).update({f"{base}/{c}": float(history[c][i]) for c in columns})
    return sorted(rows.items())


def log_hyperparameters(writer, optimizer: HyperOptimizer, since: int = 0, prefix: str = "hyper") -> int:
    """Write every level's hyperparameters of every step after ``since`` with ``writer.add_scalar(tag, value,
    global_step)`` (``torch.utils.tensorboard.SummaryWriter``); returns the last step written (``since`` if none),
    to pass as ``since`` next time.

    Args:
        writer: a ``SummaryWriter``, or anything with its ``add_scalar``.
        optimizer: the :class:`~gdtuo_explore.HyperOptimizer` whose hyperparameters are written.
        since: write the steps after this one (0: every recorded step).
        prefix: the first part of every tag.
    """
    if not callable(getattr(writer, "add_scalar", None)):
        raise ValueError(f"writer must have add_scalar(tag, value, global_step), as SummaryWriter does; "
                         f"{type(writer).__name__} has not")
    last = since
    for step, values in hyperparameter_rows(optimizer, since, prefix):
        for tag, value in values.items():
            writer.add_scalar(tag, value, step)
        last = step
    return last


def _callback_class():
    """The Lightning ``Callback`` base class (``lightning.pytorch``'s, else ``pytorch_lightning``'s)."""
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError:
            raise ImportError("HyperparameterLogger is a Lightning callback: pip install lightning") from None
    return Callback


def _make_logger_class():
    Callback = _callback_class()

    class HyperparameterLogger(Callback):
        """A Lightning callback that logs every level's hyperparameters of every :class:`HyperOptimizer` the
        Trainer steps, every step, to every logger the Trainer has.

        Args:
            every_n_steps: how often to write (the steps since the last write, each with its own step number);
                None (default): as often as the Trainer's ``log_every_n_steps``. The last steps are written when
                training ends.
            prefix: the first part of every name (see :mod:`gdtuo_explore.integrations`).

        Example::

            trainer = L.Trainer(logger=TensorBoardLogger("runs"), callbacks=[HyperparameterLogger()])
        """

        def __init__(self, every_n_steps: int | None = None, prefix: str = "hyper"):
            if every_n_steps is not None and (isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int)
                                              or every_n_steps < 1):
                raise ValueError(f"every_n_steps={every_n_steps!r} is invalid: it must be an int >= 1, or None for "
                                 "the Trainer's log_every_n_steps")
            if not isinstance(prefix, str):
                raise ValueError(f"prefix={prefix!r} is invalid: it must be a string")
            self.every_n_steps, self.prefix = every_n_steps, prefix
            self._written: dict[int, int] = {}  # per optimizer (by its position): the last step written

        def _write(self, trainer) -> None:
            optimizers = [o for o in trainer.optimizers if isinstance(o, HyperOptimizer)]
            for i, opt in enumerate(trainer.optimizers):
                if not isinstance(opt, HyperOptimizer):
                    continue
                name = f"optimizer{i}" if len(optimizers) > 1 else ""
                rows = hyperparameter_rows(opt, self._written.get(i, 0), self.prefix, name)
                for step, values in rows:
                    for logger in trainer.loggers:
                        logger.log_metrics(values, step=step)
                if rows:
                    self._written[i] = rows[-1][0]

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            every = self.every_n_steps or max(1, trainer.log_every_n_steps)
            if trainer.global_step > 0 and trainer.global_step % every == 0:
                self._write(trainer)

        def on_train_end(self, trainer, pl_module) -> None:
            self._write(trainer)

        def state_dict(self) -> dict:
            return {"written": dict(self._written)}

        def load_state_dict(self, state_dict: dict) -> None:
            self._written = {int(k): int(v) for k, v in state_dict.get("written", {}).items()}

    HyperparameterLogger.__module__ = __name__
    return HyperparameterLogger


def __getattr__(name):
    if name == "HyperparameterLogger":  # Lightning is imported only here
        cls = globals()["HyperparameterLogger"] = _make_logger_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
