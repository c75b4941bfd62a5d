"""Self-attention (transformer encoder) over feature frames, with attentive pooling."""

from __future__ import annotations

import math

import torch
from torch import nn

from serlab.lengths import length_mask
from serlab.models.classifier import Classifier
from serlab.models.pooling import AttentivePooling
from serlab.models.sequence import Encoder


def sinusoids(length: int, channels: int, device: torch.device) -> torch.Tensor:
    """Fixed sine/cosine position codes, (length, channels)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, channels, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / channels))
    codes = torch.zeros(length, channels, device=device)
    codes[:, 0::2] = torch.sin(position * rate)
    codes[:, 1::2] = torch.cos(position * rate[: channels // 2])
    return codes


class TransformerEncoder(Encoder):
    """Project frames, add position codes, run self-attention layers that ignore padded frames."""

    def __init__(self, n_features: int, d_model: int, heads: int, layers: int, ff: int, subsample: int) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"model.d_model ({d_model}) must be divisible by model.heads ({heads})")
        self.subsample = subsample
        # Strided conv shortens the sequence, so attention cost stays low on long utterances.
        self.project = nn.Conv1d(n_features, d_model, kernel_size=subsample, stride=subsample)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_features = d_model

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if features.shape[-1] < self.subsample:
            features = nn.functional.pad(features, (0, self.subsample - features.shape[-1]))
        x = self.project(features).transpose(1, 2)
        lengths = (lengths // self.subsample).clamp_min(1)
        x = x + sinusoids(x.shape[1], x.shape[2], x.device).to(x.dtype)
        return self.layers(x, src_key_padding_mask=~length_mask(lengths, x.shape[1])), lengths


class SelfAttention(Classifier):
    """Transformer encoder over frames with attentive pooling: the self-attention variant of `attention`."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        d_model: int = 128,
        heads: int = 4,
        layers: int = 2,
        ff: int = 256,
        subsample: int = 2,
        frame_level: bool = False,
    ) -> None:
        encoder = TransformerEncoder(n_features, d_model, heads, layers, ff, subsample)
        super().__init__(encoder, AttentivePooling(d_model), n_classes, frame_level)
