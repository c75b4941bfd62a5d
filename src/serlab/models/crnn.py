"""Convolutional recurrent network over time-frequency features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from serlab.lengths import length_mask
from serlab.models.output import ModelOutput
from serlab.models.pooling import MeanPooling


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
        return self.pool(x), torch.div(lengths + self.time_pool - 1, self.time_pool, rounding_mode="floor")


class CRNN(nn.Module):
    """Conv blocks over (frequency, time), a recurrent layer over time, mean pooling, a linear head."""

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
    ) -> None:
        super().__init__()
        if len(channels) != len(pools):
            raise ValueError(f"model: channels {list(channels)} and pools {list(pools)} need one entry per block")
        rnn_types = {"gru": nn.GRU, "lstm": nn.LSTM}
        if rnn not in rnn_types:
            raise ValueError(f"model.rnn must be one of {sorted(rnn_types)}, got {rnn!r}")
        blocks, c_in, freq = [], 1, n_features
        for c_out, pool in zip(channels, pools):
            blocks.append(ConvBlock(c_in, c_out, pool))
            c_in, freq = c_out, -(-freq // int(pool[0]))
        self.blocks = nn.ModuleList(blocks)
        self.rnn = rnn_types[rnn](
            c_in * freq, hidden, num_layers=rnn_layers, batch_first=True, bidirectional=bidirectional
        )
        self.pooling = MeanPooling()
        self.dropout = nn.Dropout(0.0)  # rate set by the dropout regularizer
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), n_classes)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> ModelOutput:
        x = features.unsqueeze(1)  # (batch, 1, freq, time)
        for block in self.blocks:
            x, lengths = block(x, lengths)
        x = x.flatten(1, 2).transpose(1, 2)  # (batch, time, channels * freq)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        x, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        pooled = self.pooling(self.dropout(x), lengths)
        return ModelOutput(logits=self.head(self.dropout(pooled)))
