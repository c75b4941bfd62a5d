"""What every model returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ModelOutput:
    """Utterance-level class scores (pre-softmax)."""

    logits: torch.Tensor  # (batch, n_classes)
