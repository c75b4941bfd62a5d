"""Length-aware pooling over time."""

from __future__ import annotations

import torch
from torch import nn

from serlab.lengths import masked_mean


class MeanPooling(nn.Module):
    """Average of the valid frames of (batch, time, channels) sequences."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_mean(x, lengths, dim=1)
