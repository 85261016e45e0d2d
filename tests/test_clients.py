"""Real training stacks drive a HyperOptimizer: PyTorch Lightning's Trainer (with an LR scheduler, gradient clipping
and gradient accumulation) and Hugging Face Accelerate (test extras: ``pip install -e '.[dev]'``)."""
import lightning as L
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, TensorDataset

from gdtuo_explore import HyperOptimizer
from oracle import MLP, batches


def _loader(n_batches=12):
    data = batches(n_batches)
    x, y = torch.cat([b[0] for b in data]), torch.cat([b[1] for b in data])
    return DataLoader(TensorDataset(x, y), batch_size=32)


class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.model = MLP(64, 16, 10)
        self.losses = []

    def training_step(self, batch, index):
        x, y = batch
        loss = F.nll_loss(self.model(x), y)
        self.losses.append(loss.item())
        return loss

    def configure_optimizers(self):
        opt = HyperOptimizer(self.parameters(), "adam/sgd(1e-5)")
        warmup = LambdaLR(opt, lambda step: min(1.0, (step + 1) / 4))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}


def test_lightning_trainer_with_a_scheduler_clipping_and_accumulation():
    module = Classifier()
    trainer = L.Trainer(max_steps=6, accelerator="cpu", devices=1, gradient_clip_val=0.5,
                        accumulate_grad_batches=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, _loader(12))
    opt = trainer.optimizers[0]
    assert isinstance(opt, HyperOptimizer) and opt.nonfinite() is None
    assert len(opt.history()["step"]) == 6 and len(module.losses) == 12  # two batches per step
    assert opt.param_groups[0]["lr"] == 1.0  # the warmup ran its 4 steps
    assert opt.hyperparameters()[0]["alpha"] != 1e-3


def test_accelerate_prepare_and_backward():
    try:
        accelerator = Accelerator(cpu=True)
        torch.manual_seed(0)
        model = MLP(64, 16, 10)
        opt = HyperOptimizer(model.parameters(), "adam/sgd(1e-5)")
        model, prepared, loader = accelerator.prepare(model, opt, _loader(8))
        losses = []
        for x, y in loader:
            prepared.zero_grad()
            loss = F.nll_loss(model(x), y)
            accelerator.backward(loss)
            prepared.step()
            losses.append(loss.item())
        assert opt.nonfinite() is None and len(opt.history()["step"]) == 8
        assert opt.hyperparameters()[0]["alpha"] != 1e-3 and losses[-1] < losses[0]
    finally:
        AcceleratorState._reset_state(True)
