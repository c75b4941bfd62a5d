"""The LightningModule: frontend -> model -> loss, with UAR, WAR, macro-F1 and confusion matrices."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import lightning as L
import torch
from torch import nn
from torchmetrics.classification import MulticlassConfusionMatrix
from torchmetrics.regression import ConcordanceCorrCoef

from serlab.adaptation.protocol import Adaptation, Corrupting, Domain, PseudoLabelling, input_summary
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

if TYPE_CHECKING:
    from serlab.training.distillation import Distillation

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class SERModule(L.LightningModule):
    """Trains and scores one utterance-level emotion classifier.

    Its inputs are the frame stream the frontend makes of the waveforms and the vector streams the
    model reads (`batch.vectors`), each standardised by its normaliser in `vector_norms`, and the reconstruction
    error of the optional autoencoder (`reconstruction`); the StreamStatistics callback gathers their statistics
    and fits the autoencoder when fitting starts. With an `adaptation`, each training step gets a labelled batch
    and an unlabelled one of the target (test) speakers, and adds the adaptation's loss term on both. With a
    `distillation`, the label loss of each training step is blended with the distillation term, which compares the
    student's utterance logits with the teachers' probabilities of the same utterances (taken when fitting starts).
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
        adaptation: Adaptation | None = None,
        distillation: Distillation | None = None,
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
        self.adaptation = adaptation
        self.distillation = distillation
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

    def configure_callbacks(self) -> list[L.Callback]:
        # whichever Trainer fits this module gathers its inputs' statistics first
        return [StreamStatistics()]

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        labelled, unlabelled = batch, batch.unlabelled
        features, frames, vectors = self._training_inputs(labelled)
        teacher = self.distillation.targets(labelled.ids).to(self.device) if self.distillation is not None else None
        if self.regularizers.mixer is not None:
            features, frames, order, lam = self.regularizers.mixer.mix(features, frames)
            vectors = {name: lam * values + (1 - lam) * values[order] for name, values in vectors.items()}
            output = self._training_forward(features, frames, vectors)
            loss = lam * self.loss(output, labelled) + (1 - lam) * self.loss(output, labelled.permuted(order))
            # the teachers' view of a blend is the same blend of their views
            teacher = None if teacher is None else lam * teacher + (1 - lam) * teacher[order]
        else:
            output = self._training_forward(features, frames, vectors)
            loss = self.loss(output, labelled)
        if self.distillation is not None and teacher is not None:
            self.log("train/label_loss", loss, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(labelled))
            loss, distilling = self.distillation(loss, output.utterance_logits(), teacher)
            self.log(
                "train/distillation", distilling, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(labelled)
            )
        for term in self.regularizers.penalties:
            loss = loss + term.penalty(cast(nn.Module, self.model))
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(labelled))
        if self.adaptation is not None and unlabelled is not None:
            source = self._domain(output, features, frames, vectors, labelled.ids)
            target_inputs = self._training_inputs(unlabelled)
            target = self._domain(self._training_forward(*target_inputs), *target_inputs, unlabelled.ids)
            adapting = self.adaptation(source, target, self.progress)
            self.log("train/adaptation", adapting, on_step=False, on_epoch=True, batch_size=len(labelled))
            loss = loss + adapting
        return loss

    def _training_inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Features, frame counts and standardised vector streams of a training batch, augmented as the
        regularizers say (mixing aside)."""
        waveforms = batch.waveforms
        for waveform_augment in self.regularizers.waveform:
            waveforms = waveform_augment.on_waveform(waveforms, batch.lengths)
        features, frames = self.frontend(waveforms, batch.lengths, batch.speakers)
        for feature_augment in self.regularizers.features:
            features = feature_augment.on_features(features, frames)
        return features, frames, self.standardized(batch.vectors)

    def _training_forward(
        self, features: torch.Tensor, frames: torch.Tensor, vectors: dict[str, torch.Tensor]
    ) -> ModelOutput:
        if isinstance(self.adaptation, Corrupting):
            vectors = self.adaptation.corrupt(vectors)
        return self.model(features, frames, vectors)

    def _domain(
        self,
        output: ModelOutput,
        features: torch.Tensor,
        frames: torch.Tensor,
        vectors: dict[str, torch.Tensor],
        ids: list[str],
    ) -> Domain:
        inputs = input_summary(features, frames, vectors, self.model.reads)
        return Domain(output.utterance_embedding(), output.utterance_logits(), inputs, ids)

    @property
    def progress(self) -> float:
        """How far the fit has come, from 0 to 1 (an adaptation's schedule follows it)."""
        return min(1.0, self.global_step / max(1, int(self.trainer.estimated_stepping_batches)))

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.distillation is not None:
            # after the datamodule's setup: its split and training utterances are known
            datamodule: Any = self.trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning, not declared
            self.distillation.prepare(datamodule, self.trainer.strategy.root_device)

    def on_train_epoch_start(self) -> None:
        if isinstance(self.frontend, TunableFrontend):
            # e.g. a pretrained encoder held frozen for its first epochs (frontend.warmup_epochs); its modes
            # follow, and the held parts stay held
            self.frontend.start_epoch(self.current_epoch)
            self.train(self.training)
        if isinstance(self.adaptation, PseudoLabelling) and self.adaptation.relabels_at(self.current_epoch):
            self.adaptation.relabel(*self.score_unlabelled())

    @torch.no_grad()
    def score_unlabelled(self) -> tuple[list[str], torch.Tensor]:
        """The ids and class probabilities of every unlabelled target utterance, by the current model in eval mode."""
        datamodule: Any = self.trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning, not declared
        was_training = self.training
        self.eval()
        ids, probs = [], []
        for batch in datamodule.unlabelled_dataloader():
            output = self(batch.waveforms.to(self.device), batch.lengths.to(self.device), batch.speakers,
                          {name: values.to(self.device) for name, values in batch.vectors.items()})  # fmt: skip
            ids += batch.ids
            probs.append(self.loss.predict(output).float().cpu())
        self.train(was_training)
        scored = (ids, torch.cat(probs))
        if self.trainer.world_size > 1:
            # each process scored its shard; every one labels them all, as its batches may hold any
            shards: list[tuple[list[str], torch.Tensor]] = [([], torch.empty(0))] * self.trainer.world_size
            torch.distributed.all_gather_object(shards, scored)
            scored = ([i for shard in shards for i in shard[0]], torch.cat([shard[1] for shard in shards]))
        return scored

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
