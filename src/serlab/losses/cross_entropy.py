"""Cross-entropy on utterance logits."""

from __future__ import annotations

import torch
from torch import nn

from serlab.models.output import ModelOutput


class CrossEntropy(nn.Module):
    """Categorical cross-entropy with optional label smoothing."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"loss.label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def forward(self, output: ModelOutput, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(output.logits.float(), targets, label_smoothing=self.label_smoothing)
