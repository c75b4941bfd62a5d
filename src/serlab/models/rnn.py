"""Stacked recurrent encoder over padded sequences, run packed so padding is never read."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from serlab.lengths import PaddingAware

RNN_TYPES = {"gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentEncoder(PaddingAware):
    """(batch, time, in) -> (batch, time, hidden x directions) with a GRU or LSTM stack."""

    def __init__(
        self, in_features: int, hidden: int, layers: int = 1, bidirectional: bool = True, cell: str = "lstm"
    ) -> None:
        super().__init__()
        if cell not in RNN_TYPES:
            raise ValueError(f"model.rnn must be one of {sorted(RNN_TYPES)}, got {cell!r}")
        if hidden < 1 or layers < 1:
            raise ValueError(f"model: hidden and layers must be >= 1, got {hidden} and {layers}")
        self.rnn = RNN_TYPES[cell](
            in_features, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional
        )
        self.out_features = hidden * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Packing only matters when some sequence is shorter than the batch; without padding the plain
        # run is faster and, unlike packing, can be traced and exported.
        if self.whole_sequences or bool((lengths == x.shape[1]).all()):
            return self.rnn(x)[0], lengths
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        return out, lengths
