"""L1 and L2 penalties on the model's weights, added to the training loss."""

from __future__ import annotations

import torch
from torch import nn

from serlab.regularizers.protocol import LossPenalty


class WeightPenalty(LossPenalty):
    """l1 * sum|w| + l2 * sum w^2 over weight matrices and kernels (biases and norms are left alone).

    For decoupled weight decay use optimizer=adamw with optimizer.weight_decay instead.
    """

    def __init__(self, l1: float = 0.0, l2: float = 1e-4) -> None:
        if l1 < 0 or l2 < 0:
            raise ValueError(f"regularizer.weight_penalty: l1 and l2 must be >= 0, got {l1}, {l2}")
        self.l1 = l1
        self.l2 = l2

    def penalty(self, model: nn.Module) -> torch.Tensor:
        """The penalty term for the current weights."""
        weights = [p for name, p in model.named_parameters() if p.dim() > 1 and "weight" in name]
        total = sum(self.l1 * p.abs().sum() + self.l2 * p.pow(2).sum() for p in weights)
        return total if isinstance(total, torch.Tensor) else torch.zeros(())
