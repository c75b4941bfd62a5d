"""Adapting (batch, features, time) frontend output to encoders that read (batch, time, features)."""

from __future__ import annotations

import torch
from torch import nn

from serlab.lengths import ceil_div, length_mask
from serlab.models.rnn import RecurrentEncoder


def stack_frames(x: torch.Tensor, lengths: torch.Tensor, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, time, features) -> (batch, ceil(time / factor), features x factor): neighbours side by side."""
    if factor == 1:
        return x, lengths
    # A trailing group may hold padding; zeroing it makes that group the same padded or not.
    x = x * length_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)
    x = nn.functional.pad(x, (0, 0, 0, -x.shape[1] % factor))
    return x.reshape(x.shape[0], -1, x.shape[2] * factor), ceil_div(lengths, factor)


class Encoder(nn.Module):
    """(batch, features, time) features and frame lengths -> (batch, time, out_features) and their lengths."""

    out_features: int


class FramesFirst(Encoder):
    """Transposes features to frames-first, stacks every `stack` frames into one, then runs `encoder`.

    Stacking shortens the sequence a recurrent encoder walks through step by step, which is what
    makes BLSTMs affordable on a CPU; the encoder must read `features x stack` inputs.
    """

    def __init__(self, encoder: RecurrentEncoder, stack: int = 1) -> None:
        super().__init__()
        self.encoder = encoder
        self.stack = stack
        self.out_features = encoder.out_features

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(*stack_frames(features.transpose(1, 2), lengths, self.stack))
