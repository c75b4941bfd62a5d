"""Cross-entropy on utterance logits."""

from __future__ import annotations

import torch
from torch import nn

from serlab.data.collate import Batch
from serlab.models.output import ModelOutput

CLASS_WEIGHTS = ("none", "balanced")


class CrossEntropy(nn.Module):
    """Categorical cross-entropy with label smoothing and optional class weights from training counts."""

    frame_level = False

    weight: torch.Tensor | None

    def __init__(self, label_smoothing: float = 0.0, class_weights: str = "none") -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"loss.label_smoothing must be in [0, 1), got {label_smoothing}")
        if class_weights not in CLASS_WEIGHTS:
            raise ValueError(f"loss.class_weights must be one of {list(CLASS_WEIGHTS)}, got {class_weights!r}")
        self.label_smoothing = label_smoothing
        self.class_weights = class_weights
        # Recomputed from the training counts at every fit start, so not part of checkpoints; a plain attribute,
        # not a buffer, since weight averaging (callbacks.ema) pairs the module's buffers with its copy's made before
        self.weight = None

    def n_outputs(self, n_classes: int) -> int:
        """Scores the model must emit per utterance."""
        return n_classes

    def set_class_counts(self, counts: torch.Tensor) -> None:
        """Weight each class by the inverse of its training frequency (balanced: mean weight 1)."""
        if self.class_weights == "balanced":
            counts = counts.float().clamp_min(1)
            self.weight = counts.sum() / (len(counts) * counts)

    def forward(self, output: ModelOutput, batch: Batch) -> torch.Tensor:
        logits = output.utterance_logits()
        weight = None if self.weight is None else self.weight.to(logits.device)
        return nn.functional.cross_entropy(
            logits.float(), batch.targets, weight=weight, label_smoothing=self.label_smoothing
        )

    def predict(self, output: ModelOutput) -> torch.Tensor:
        """Class probabilities per utterance."""
        return output.utterance_logits().float().softmax(dim=-1)
