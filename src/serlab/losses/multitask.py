"""Weighted sum of per-task losses: emotion cross-entropy plus auxiliary heads."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from serlab.data.collate import Batch
from serlab.data.targets import MISSING_CLASS
from serlab.losses.ccc import regression_loss
from serlab.losses.cross_entropy import CrossEntropy
from serlab.models.output import ModelOutput


class MultiTask(CrossEntropy):
    """`emotion` weighs the categorical emotion loss; every other weight names a model head.

    A head of size one is a dimensional rating trained with 1 - CCC; a wider head is a
    categorical task (gender, corpus, a corpus's own emotion head) trained with cross-entropy,
    ignoring rows that lack it.
    """

    def __init__(self, weights: Mapping[str, float], label_smoothing: float = 0.0, class_weights: str = "none") -> None:
        super().__init__(label_smoothing, class_weights)
        negative = {k: v for k, v in weights.items() if v < 0}
        if negative or not weights:
            raise ValueError(f"loss.weights must be non-negative and name at least one task, got {dict(weights)}")
        self.weights = dict(weights)

    def task_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of one auxiliary head."""
        if prediction.shape[-1] == 1:
            return regression_loss(prediction, target)
        target = target.long()
        if (target != MISSING_CLASS).sum() == 0:
            return prediction.sum() * 0.0
        return nn.functional.cross_entropy(prediction.float(), target, ignore_index=MISSING_CLASS)

    def forward(self, output: ModelOutput, batch: Batch) -> torch.Tensor:
        untrained = sorted(set(output.heads) - set(self.weights))
        if untrained:
            raise ValueError(f"model head(s) {untrained} have no loss.weights entry, so nothing would train them")
        total = self.weights.get("emotion", 0.0) * super().forward(output, batch)
        for task, weight in self.weights.items():
            if task == "emotion":
                continue
            if task not in output.heads:
                raise ValueError(
                    f"loss.weights.{task}: the model has no '{task}' head (model.tasks: {list(output.heads)})"
                )
            total = total + weight * self.task_loss(output.heads[task], batch.aux[task])
        return total
