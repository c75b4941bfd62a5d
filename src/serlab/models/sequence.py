"""Adapting (batch, features, time) frontend output to encoders that read (batch, time, features)."""

from __future__ import annotations

import torch
from torch import nn


class FramesFirst(nn.Module):
    """Transposes features to frames-first, then runs `encoder`."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.out_features = encoder.out_features

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(features.transpose(1, 2), lengths)
