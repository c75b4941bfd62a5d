"""Length-aware pooling over time: padded frames never contribute."""

from __future__ import annotations

import torch
from torch import nn

from serlab.lengths import length_mask, masked_mean


class MeanPooling(nn.Module):
    """Average of the valid frames of (batch, time, channels) sequences."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_mean(x, lengths, dim=1)


class AttentivePooling(nn.Module):
    """Weighted mean of frames with softmax weights from a learned score (Mirsamadi et al. 2017)."""

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        # hidden=None is the paper's single inner product u . h_t; a hidden size adds a tanh layer.
        self.score = nn.Linear(channels, 1) if hidden is None else nn.Sequential(
            nn.Linear(channels, hidden), nn.Tanh(), nn.Linear(hidden, 1)
        )

    def weights(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, time) attention weights, zero on padded frames."""
        scores = self.score(x).squeeze(-1).float()
        scores = scores.masked_fill(~length_mask(lengths, x.shape[1]), float("-inf"))
        return scores.softmax(dim=1).to(x.dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bt,btc->bc", self.weights(x, lengths), x)
