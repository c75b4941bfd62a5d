"""Length-aware pooling over time: padded frames never contribute.

Every pooling is built for the encoder's `channels` and says its `out_features`, so models take
any of them as a `pooling(channels)` factory (the model/pooling config group).
"""

from __future__ import annotations

import torch
from torch import nn

from serlab.lengths import length_mask, masked_mean


class Pooling(nn.Module):
    """(batch, time, channels) sequences and their lengths -> (batch, out_features) vectors."""

    out_features: int


class MeanPooling(Pooling):
    """Average of the valid frames of (batch, time, channels) sequences."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.out_features = channels

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_mean(x, lengths, dim=1)


class StatsPooling(Pooling):
    """Mean and standard deviation of the valid frames, concatenated (statistics pooling, as in x-vectors)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.out_features = 2 * channels
        self.eps = eps

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mean = masked_mean(x, lengths, dim=1)
        variance = masked_mean((x - mean.unsqueeze(1)).square(), lengths, dim=1)
        # eps keeps the gradient finite for one-frame utterances, whose spread is zero
        return torch.cat([mean, (variance + self.eps).sqrt()], dim=-1)


class AttentivePooling(Pooling):
    """Weighted mean of frames with softmax weights from a learned score (Mirsamadi et al. 2017)."""

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        self.out_features = channels
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
