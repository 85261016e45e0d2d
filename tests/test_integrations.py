"""gdtuo_explore.integrations with the real libraries: a Lightning Trainer with a TensorBoard and a CSV logger, and
torch.utils.tensorboard's SummaryWriter, each read back from the files they wrote (TensorBoard's own event reader,
the CSV file): every level's hyperparameters at every step, equal to the optimizer's history."""
import csv
import doctest
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter

import gdtuo_explore.core.checkpoint
import gdtuo_explore.core.hyperoptimizer
import gdtuo_explore.integrations
from gdtuo_explore import HyperOptimizer
from gdtuo_explore.integrations import HyperparameterLogger, log_hyperparameters
from oracle import MLP, batches

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["level1.alpha", "level1.beta1", "level1.beta2", "level1.log_eps", "level2.alpha", "level2.mu"]


def _scalars(logdir) -> dict:
    """Every scalar in the TensorBoard event files under ``logdir``: {tag: (steps, values)}."""
    found = {}
    for events in sorted(Path(logdir).rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events.parent))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            points = acc.Scalars(tag)
            found[tag] = ([p.step for p in points], [p.value for p in points])
    return found


class Classifier(L.LightningModule):
    def __init__(self, groups=1):
        super().__init__()
        torch.manual_seed(0)
        self.model, self.groups = MLP(64, 16, 10), groups

    def training_step(self, batch, index):
        x, y = batch
        loss = F.nll_loss(self.model(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        if self.groups == 1:
            return HyperOptimizer(self.parameters(), "adam/sgd(1e-5)")
        return HyperOptimizer([{"params": self.model.layer1.parameters()},
                               {"params": self.model.layer2.parameters(), "tower": "sgd(0.05)/sgd(1e-3)"}],
                              "adam/sgd(1e-5)")


def _loader(n=9):
    data = batches(n)
    return DataLoader(TensorDataset(torch.cat([b[0] for b in data]), torch.cat([b[1] for b in data])), batch_size=32)


def _fit(tmp_path, callback, steps=9, groups=1, log_every=50):
    module = Classifier(groups)
    loggers = [TensorBoardLogger(tmp_path, name="tb"), CSVLogger(tmp_path, name="csv")]
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=loggers, callbacks=[callback],
                        log_every_n_steps=log_every, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(module, _loader(steps))
    return trainer.optimizers[0], loggers


@pytest.mark.parametrize("every", [None, 1, 4])
def test_lightning_logs_every_level_every_step_to_tensorboard_and_csv(tmp_path, every):
    """However often it writes (the Trainer's log_every_n_steps, 50 here, every step, or every 4 steps), each of
    the 9 steps is logged with its own step number, to both loggers."""
    opt, (tb, csv_logger) = _fit(tmp_path, HyperparameterLogger(every_n_steps=every))
    history = opt.history()
    assert list(history["step"]) == list(range(1, 10))
    assert history["level1.alpha"][-1] != pytest.approx(1e-3, rel=1e-3)  # it learned: the values vary
    scalars = _scalars(tb.log_dir)
    for column in COLUMNS:
        steps, values = scalars[f"hyper/{column}"]
        assert steps == list(range(1, 10)), column
        np.testing.assert_allclose(values, history[column], rtol=1e-6, err_msg=column)  # float32 in the event file
    with open(Path(csv_logger.log_dir) / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("hyper/level1.alpha")]
    assert [int(r["step"]) for r in rows] == list(range(1, 10))
    for column in COLUMNS:
        np.testing.assert_allclose([float(r[f"hyper/{column}"]) for r in rows], history[column], rtol=1e-12)


def test_lightning_names_each_parameter_group(tmp_path):
    opt, (tb, _) = _fit(tmp_path, HyperparameterLogger(), steps=5, groups=2)
    scalars = _scalars(tb.log_dir)
    assert {"hyper/group0/level1.beta1", "hyper/group1/level1.alpha", "hyper/group1/level2.alpha"} <= set(scalars)
    steps, values = scalars["hyper/group1/level1.alpha"]
    assert steps == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(values, opt.history(1)["level1.alpha"], rtol=1e-6)


def test_summary_writer_gets_every_step_once(tmp_path):
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
    writer = SummaryWriter(tmp_path)
    last = 0
    for i, (x, y) in enumerate(batches(10)):
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()
        if i in (3, 9):  # written twice: steps 1-4, then 5-10
            last = log_hyperparameters(writer, opt, since=last)
    writer.close()
    assert last == 10
    history = opt.history()
    scalars = _scalars(tmp_path)
    assert set(scalars) == {f"hyper/{c}" for c in COLUMNS}
    for column in COLUMNS:
        steps, values = scalars[f"hyper/{column}"]
        assert steps == list(range(1, 11))
        np.testing.assert_allclose(values, history[column], rtol=1e-6)


def test_an_optimizer_without_history_gives_its_current_values(tmp_path):
    torch.manual_seed(0)
    model = MLP(64, 16, 10)
    opt = HyperOptimizer(model.parameters(), "sgd(0.05)/sgd(1e-3)", history=False)
    writer = SummaryWriter(tmp_path)
    for x, y in batches(3):
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()
    assert log_hyperparameters(writer, opt) == 3
    writer.close()
    steps, values = _scalars(tmp_path)["hyper/level1.alpha"]
    assert steps == [3] and values == pytest.approx([opt.hyperparameters()[0]["alpha"]], rel=1e-6)


@pytest.mark.parametrize("call,message", [
    (lambda opt: log_hyperparameters(object(), opt), "writer must have add_scalar"),
    (lambda opt: log_hyperparameters(SummaryWriter, torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)),
     "optimizer must be a HyperOptimizer, not SGD"),
    (lambda opt: HyperparameterLogger(every_n_steps=0), "every_n_steps=0 is invalid"),
    (lambda opt: log_hyperparameters(SummaryWriter, opt, since=-1), "since=-1 is invalid"),
])
def test_bad_arguments_are_refused_naming_them(call, message):
    opt = HyperOptimizer(MLP(4, 2, 2).parameters(), "adam/sgd(1e-5)")
    with pytest.raises(ValueError, match=message):
        call(opt)


def test_importing_the_integrations_imports_neither_lightning_nor_tensorboard():
    code = ("import sys, gdtuo_explore.integrations\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning', "
            "'tensorboard')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", [gdtuo_explore.integrations, gdtuo_explore.core.checkpoint,
                                    gdtuo_explore.core.hyperoptimizer], ids=lambda m: m.__name__)
def test_the_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
