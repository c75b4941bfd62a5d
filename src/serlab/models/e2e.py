"""End-to-end model on raw audio frames (Trigeorgis et al., ICASSP 2016): a 1-D CNN per frame, then an LSTM."""

from __future__ import annotations

import torch
from torch import nn

from serlab.models.classifier import Classifier
from serlab.models.pooling import MeanPooling
from serlab.models.rnn import RecurrentEncoder
from serlab.models.sequence import Encoder


class FrameCNN(nn.Module):
    """Learned filters over each raw frame: conv, max-pool, conv, max-pool, flatten."""

    def __init__(self, frame_samples: int, filters: int, kernels: tuple[int, int], pools: tuple[int, int]) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(1, filters, kernels[0]),
            nn.ReLU(),
            nn.MaxPool1d(pools[0]),
            nn.Conv1d(filters, filters, kernels[1]),
            nn.ReLU(),
            nn.MaxPool1d(pools[1]),
        )
        with torch.no_grad():
            self.out_features = self.layers(torch.zeros(1, 1, frame_samples)).numel()

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.layers(frames.unsqueeze(1)).flatten(1)


class E2EEncoder(Encoder):
    """(batch, frame samples, frames) raw frames -> per-frame CNN vectors -> LSTM."""

    def __init__(self, frame_samples: int, filters: int, kernels, pools, hidden: int, layers: int) -> None:
        super().__init__()
        self.cnn = FrameCNN(frame_samples, filters, tuple(kernels), tuple(pools))
        self.rnn = RecurrentEncoder(self.cnn.out_features, hidden, layers, bidirectional=False, cell="lstm")
        self.out_features = self.rnn.out_features

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, samples, steps = frames.shape
        per_frame = self.cnn(frames.transpose(1, 2).reshape(batch * steps, samples)).view(batch, steps, -1)
        return self.rnn(per_frame, lengths)


class E2E(Classifier):
    """Raw-audio CNN + 2-layer LSTM; needs `frontend=raw` with frames (e.g. 40 ms)."""

    accepts = ("waveform",)

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        filters: int = 40,
        kernels: tuple[int, int] = (20, 40),
        pools: tuple[int, int] = (2, 10),
        hidden: int = 256,
        layers: int = 2,
        frame_level: bool = False,
    ) -> None:
        if n_features < kernels[0] * pools[0]:
            raise ValueError(
                f"model=e2e needs raw frames of at least {kernels[0] * pools[0]} samples, got {n_features}: "
                "use frontend=raw with frontend.frame_ms set"
            )
        encoder = E2EEncoder(n_features, filters, kernels, pools, hidden, layers)
        super().__init__(encoder, MeanPooling(encoder.out_features), n_classes, frame_level)
