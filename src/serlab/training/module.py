"""The LightningModule: frontend -> model -> loss, with UAR, WAR, macro-F1 and confusion matrices."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import lightning as L
import torch
from torch import nn
from torchmetrics.classification import MulticlassConfusionMatrix
from torchmetrics.regression import ConcordanceCorrCoef

from serlab.data.collate import Batch
from serlab.features.normalize import VectorNorm
from serlab.features.reconstruction import Autoencoder, vector_inputs
from serlab.interfaces import Frontend, Loss, Model, TunableFrontend
from serlab.loggers.images import log_figure
from serlab.models.output import ModelOutput
from serlab.regularizers.protocol import Regularizers
from serlab.training.figures import confusion_figure
from serlab.training.metrics import per_class_recall, summarize
from serlab.training.statistics import StreamStatistics

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class SERModule(L.LightningModule):
    """Trains and scores one utterance-level emotion classifier.

    Its inputs are the frame stream the frontend makes of the waveforms and the vector streams the
    model reads (`batch.vectors`), each standardised by its normaliser in `vector_norms`, and the reconstruction
    error of the optional autoencoder (`reconstruction`); the StreamStatistics callback gathers their statistics
    and fits the autoencoder when fitting starts.
    """

    def __init__(
        self,
        frontend: Frontend,
        model: Model,
        loss: Loss,
        optimizer: OptimizerFactory,
        classes: list[str],
        scheduler: SchedulerFactory | None = None,
        regularizers: Mapping[str, object] | None = None,
        vector_norms: Mapping[str, VectorNorm] | None = None,
        reconstruction: Autoencoder | None = None,
        monitor: str = "val/uar",
        run_config: dict | None = None,
    ) -> None:
        super().__init__()
        # the interfaces are checked by the builder; as modules they are registered here
        self.frontend: Frontend = frontend
        self.model: Model = model
        self.loss: Loss = loss
        self.vector_norms = nn.ModuleDict(dict(vector_norms or {}))
        # fitted like the normalisers; its reconstruction error is the `reconstruction` stream
        self.reconstruction = reconstruction
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.classes = list(classes)
        self.monitor = monitor
        self.run_config = run_config
        self.regularizers = Regularizers.sort(regularizers or {})
        for setting in self.regularizers.settings:
            setting.attach(cast(nn.Module, self.model))
        n = len(self.classes)
        self.confusion = nn.ModuleDict(
            {stage: MulticlassConfusionMatrix(num_classes=n) for stage in ("val", "test")}
        )
        # Concordance of every rating head (size 1), e.g. arousal, as val/ccc_arousal and test/ccc_arousal.
        ratings = [name for name, head in model.tasks.items() if head.out_features == 1]
        self.concordance = nn.ModuleDict(
            {f"{stage}_{task}": ConcordanceCorrCoef() for stage in ("val", "test") for task in ratings}
        )
        self.last_confusion: dict[str, torch.Tensor] = {}
        self.test_predictions: list[dict[str, Any]] = []
        # Where the weights came from (serlab.training.transfer.init_from); kept in checkpoints, so a resumed run
        # and its tested best checkpoint still say it.
        self.transfer: dict[str, Any] | None = None
        # Parts whose parameters are all frozen (`freeze`): held in eval mode, so that they compute as loaded
        # (batch-norm statistics fixed, no dropout) whatever mode the module is put in.
        self.held: list[str] = []

    def forward(
        self,
        waveforms: torch.Tensor,
        lengths: torch.Tensor,
        speakers: Sequence[str] = (),
        vectors: Mapping[str, torch.Tensor] | None = None,
    ) -> ModelOutput:
        # speakers matter only to speaker-adaptive normalisation (frontend.normalize=speaker)
        features, frames = self.frontend(waveforms, lengths, speakers)
        return self.model(features, frames, self.standardized(vectors or {}))

    def standardized(self, vectors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each vector stream through its normaliser, and the reconstruction error when the run has an autoencoder."""
        return vector_inputs(vectors, self.vector_norms, self.reconstruction)

    def train(self, mode: bool = True) -> SERModule:
        super().train(mode)
        for name in self.held:
            self.get_submodule(name).eval()
        return self

    def on_train_epoch_start(self) -> None:
        if isinstance(self.frontend, TunableFrontend):
            # e.g. a pretrained encoder held frozen for its first epochs (frontend.warmup_epochs); its modes
            # follow, and the held parts stay held
            self.frontend.start_epoch(self.current_epoch)
            self.train(self.training)

    def configure_callbacks(self) -> list[L.Callback]:
        # whichever Trainer fits this module gathers its inputs' statistics first
        return [StreamStatistics()]

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        waveforms = batch.waveforms
        for waveform_augment in self.regularizers.waveform:
            waveforms = waveform_augment.on_waveform(waveforms, batch.lengths)
        features, frames = self.frontend(waveforms, batch.lengths, batch.speakers)
        for feature_augment in self.regularizers.features:
            features = feature_augment.on_features(features, frames)
        vectors = self.standardized(batch.vectors)
        if self.regularizers.mixer is not None:
            features, frames, order, lam = self.regularizers.mixer.mix(features, frames)
            vectors = {name: lam * values + (1 - lam) * values[order] for name, values in vectors.items()}
            output = self.model(features, frames, vectors)
            loss = lam * self.loss(output, batch) + (1 - lam) * self.loss(output, batch.permuted(order))
        else:
            loss = self.loss(self.model(features, frames, vectors), batch)
        for term in self.regularizers.penalties:
            loss = loss + term.penalty(cast(nn.Module, self.model))
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch))
        return loss

    def _score(self, batch: Batch, stage: str) -> torch.Tensor:
        output = self(batch.waveforms, batch.lengths, batch.speakers, batch.vectors)
        loss = self.loss(output, batch)
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(batch))
        probs = self.loss.predict(output)
        self.confusion_of(stage).update(probs.argmax(dim=-1), batch.targets)
        for task, metric in self.concordance_of(stage).items():
            rated = ~torch.isnan(batch.aux[task])
            if rated.any():
                metric.update(output.heads[task].squeeze(-1)[rated].float(), batch.aux[task][rated].float())
        return probs

    def confusion_of(self, stage: str) -> MulticlassConfusionMatrix:
        """The confusion matrix metric of `stage` (val or test)."""
        return cast(MulticlassConfusionMatrix, self.confusion[stage])

    def concordance_of(self, stage: str) -> dict[str, ConcordanceCorrCoef]:
        """The concordance metric of each rating task in `stage`, by task."""
        prefix = f"{stage}_"
        return {
            key.removeprefix(prefix): cast(ConcordanceCorrCoef, metric)
            for key, metric in self.concordance.items()
            if key.startswith(prefix)
        }

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._score(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        probs = self._score(batch, "test").cpu()
        for uid, target, p in zip(batch.ids, batch.targets.tolist(), probs.tolist()):
            self.test_predictions.append({"id": uid, "target": target, "probs": p})

    def _summarize(self, stage: str) -> torch.Tensor:
        cm = self.confusion_of(stage).compute()  # summed over processes
        self.confusion_of(stage).reset()
        metrics = {f"{stage}/{k}": v for k, v in summarize(cm).items()}
        # per-class recall beside UAR, so dashboards show which emotions carry or sink it
        recall = per_class_recall(cm).tolist()
        metrics.update({f"{stage}/recall_{c}": r for c, r in zip(self.classes, recall) if r == r})
        for task, metric in self.concordance_of(stage).items():
            if metric.update_count:
                metrics[f"{stage}/ccc_{task}"] = float(metric.compute())
                metric.reset()
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

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The optimizer's groups: a tunable frontend's own (e.g. a pretrained encoder at frontend.encoder_lr),
        then every other trainable parameter at the optimizer's learning rate; frozen ones (`freeze`) in none."""
        groups = self.frontend.parameter_groups() if isinstance(self.frontend, TunableFrontend) else []
        taken = {id(p) for group in groups for p in group["params"]}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in taken]
        return [*groups, {"params": rest}] if rest else groups

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameter_groups())
        if self.scheduler_factory is None:
            return optimizer
        # Per-step schedules (one-cycle, warm-up) size themselves from the run's number of steps.
        if "total_steps" in inspect.signature(self.scheduler_factory).parameters:
            total = int(self.trainer.estimated_stepping_batches)
            scheduler = self.scheduler_factory(optimizer=optimizer, total_steps=total)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The composed config and label order let serlab-eval rebuild this exact run.
        # The validation scores the checkpoint was kept for, so a run reports those of the model it tests.
        scores = {k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith("val/")}
        checkpoint["serlab"] = {
            "config": self.run_config,
            "classes": self.classes,
            "val_metrics": scores,
            "init_from": self.transfer,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.transfer = checkpoint.get("serlab", {}).get("init_from")
