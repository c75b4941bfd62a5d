"""The LightningModule: frontend -> model -> loss, with UAR, WAR, macro-F1 and confusion matrices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics.classification import MulticlassConfusionMatrix

from serlab.data.collate import Batch
from serlab.loggers.images import log_figure
from serlab.models.output import ModelOutput
from serlab.training.figures import confusion_figure
from serlab.training.metrics import summarize

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class SERModule(L.LightningModule):
    """Trains and scores one utterance-level emotion classifier."""

    def __init__(
        self,
        frontend: nn.Module,
        model: nn.Module,
        loss: nn.Module,
        optimizer: OptimizerFactory,
        classes: list[str],
        scheduler: SchedulerFactory | None = None,
        regularizers: Mapping[str, Any] | None = None,
        monitor: str = "val/uar",
        run_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.model = model
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.classes = list(classes)
        self.monitor = monitor
        self.run_config = run_config
        for regularizer in (regularizers or {}).values():
            regularizer.attach(self.model)
        n = len(self.classes)
        self.confusion = nn.ModuleDict(
            {stage: MulticlassConfusionMatrix(num_classes=n) for stage in ("val", "test")}
        )
        self.last_confusion: dict[str, torch.Tensor] = {}
        self.test_predictions: list[dict[str, Any]] = []

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> ModelOutput:
        features, frames = self.frontend(waveforms, lengths)
        return self.model(features, frames)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch.waveforms, batch.lengths), batch.targets)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch))
        return loss

    def _score(self, batch: Batch, stage: str) -> ModelOutput:
        output = self(batch.waveforms, batch.lengths)
        loss = self.loss(output, batch.targets)
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(batch))
        self.confusion[stage].update(output.logits.argmax(dim=-1), batch.targets)
        return output

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._score(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        probs = self._score(batch, "test").logits.float().softmax(dim=-1).cpu()
        for uid, target, p in zip(batch.ids, batch.targets.tolist(), probs.tolist()):
            self.test_predictions.append({"id": uid, "target": target, "probs": p})

    def _summarize(self, stage: str) -> torch.Tensor:
        cm = self.confusion[stage].compute()  # summed over processes
        self.confusion[stage].reset()
        metrics = {f"{stage}/{k}": v for k, v in summarize(cm).items()}
        self.log_dict(metrics, prog_bar=stage == "val", sync_dist=True)
        self.last_confusion[stage] = cm.cpu()
        return cm

    def on_validation_epoch_end(self) -> None:
        self._summarize("val")

    def on_test_epoch_start(self) -> None:
        self.test_predictions = []

    def on_test_epoch_end(self) -> None:
        cm = self._summarize("test")
        if self.trainer.world_size > 1:
            gathered: list[list[dict]] = [[] for _ in range(self.trainer.world_size)]
            torch.distributed.all_gather_object(gathered, self.test_predictions)
            self.test_predictions = [row for part in gathered for row in part]
        if self.trainer.is_global_zero and self.loggers:
            fig = confusion_figure(cm.cpu(), self.classes, title="test")
            log_figure(self.loggers, "test/confusion_matrix", fig, self.global_step)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The composed config and label order let serlab-eval rebuild this exact run.
        checkpoint["serlab"] = {"config": self.run_config, "classes": self.classes}
