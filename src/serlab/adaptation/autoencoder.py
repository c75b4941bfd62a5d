"""Autoencoder-based adaptation (after Deng, Zhang, Marchi & Schuller, IEEE SPL 2014): the model's
representation doubles as the code of a denoising autoencoder trained on source and target inputs alike,
so the classifier reads a code shaped by both domains."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from serlab.adaptation.protocol import Domain


class AutoencoderAdaptation(nn.Module):
    """A decoder from the embedding back to the model's clean standardised input (`Domain.inputs`); the model
    (encoder) sees inputs whose vector-stream entries are zeroed with probability `noise` (masking noise), on
    both sides. The term is `weight` times the mean squared reconstruction error over source and target."""

    def __init__(
        self, embedding_size: int, input_size: int, hidden: int = 256, noise: float = 0.1, weight: float = 1.0
    ) -> None:
        super().__init__()
        if hidden < 1 or not 0 <= noise < 1 or weight < 0:
            raise ValueError(
                f"adaptation: hidden must be >= 1, noise in [0, 1), weight >= 0; got hidden={hidden}, "
                f"noise={noise}, weight={weight}"
            )
        self.decoder = nn.Sequential(nn.Linear(embedding_size, hidden), nn.ReLU(), nn.Linear(hidden, input_size))
        self.noise = noise
        self.weight = weight

    def corrupt(self, vectors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each entry zeroed with probability `noise`, without rescaling (the autoencoder learns to fill it in)."""
        return {name: values * (torch.rand_like(values) >= self.noise) for name, values in vectors.items()}

    def forward(self, source: Domain, target: Domain, progress: float) -> torch.Tensor:
        code = torch.cat([source.embedding, target.embedding])
        clean = torch.cat([source.inputs, target.inputs])
        return self.weight * nn.functional.mse_loss(self.decoder(code), clean)
