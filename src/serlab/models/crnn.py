"""Convolutional recurrent network over time-frequency features."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from serlab.lengths import ceil_div, length_mask
from serlab.models.classifier import Classifier
from serlab.models.pooling import MeanPooling, Pooling
from serlab.models.rnn import RecurrentEncoder
from serlab.models.sequence import Encoder


class ConvBlock(nn.Module):
    """Conv -> batch norm -> ReLU -> max-pool, re-masking padded frames."""

    def __init__(self, c_in: int, c_out: int, pool: Sequence[int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)
        self.time_pool = int(pool[1])
        # ceil_mode keeps a trailing partial window, whose max over ReLU outputs ignores zero padding.
        self.pool = nn.MaxPool2d(kernel_size=tuple(pool), ceil_mode=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = length_mask(lengths, x.shape[-1])[:, None, None, :]
        x = torch.relu(self.norm(self.conv(x))) * mask
        return self.pool(x), ceil_div(lengths, self.time_pool)


class ConvRecurrentEncoder(Encoder):
    """Conv blocks over (frequency, time), then a recurrent stack over time."""

    def __init__(
        self, n_features: int, channels: Sequence[int], pools: Sequence[Sequence[int]], rnn: Mapping[str, Any]
    ) -> None:
        super().__init__()
        if len(channels) != len(pools):
            raise ValueError(f"model: channels {list(channels)} and pools {list(pools)} need one entry per block")
        blocks, c_in, freq = [], 1, n_features
        for c_out, pool in zip(channels, pools):
            blocks.append(ConvBlock(c_in, c_out, pool))
            c_in, freq = c_out, -(-freq // int(pool[0]))
        self.blocks = nn.ModuleList(blocks)
        self.rnn = RecurrentEncoder(c_in * freq, **rnn)
        self.out_features = self.rnn.out_features

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = features.unsqueeze(1)  # (batch, 1, freq, time)
        for block in self.blocks:
            x, lengths = block(x, lengths)
        return self.rnn(x.flatten(1, 2).transpose(1, 2), lengths)


class CRNN(Classifier):
    """Conv blocks, a GRU/LSTM over time, length-aware pooling (`pooling(channels)`, mean by default), a linear head."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        channels: Sequence[int] = (16, 32, 64),
        pools: Sequence[Sequence[int]] = ((2, 2), (2, 2), (2, 2)),
        rnn: str = "gru",
        hidden: int = 128,
        rnn_layers: int = 1,
        bidirectional: bool = True,
        frame_level: bool = False,
        pooling: Callable[[int], Pooling] = MeanPooling,
    ) -> None:
        recurrent = {"hidden": hidden, "layers": rnn_layers, "bidirectional": bidirectional, "cell": rnn}
        encoder = ConvRecurrentEncoder(n_features, channels, pools, recurrent)
        super().__init__(encoder, pooling(encoder.out_features), n_classes, frame_level)
