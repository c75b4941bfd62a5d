"""Correlation alignment of the utterance representation (Deep CORAL, Sun & Saenko, ECCV 2016 workshops)."""

from __future__ import annotations

import torch
from torch import nn

from serlab.adaptation.protocol import Domain


def covariance(x: torch.Tensor) -> torch.Tensor:
    """The (d, d) sample covariance of (n, d) rows; n >= 2."""
    centred = x - x.mean(dim=0, keepdim=True)
    return centred.T @ centred / (len(x) - 1)


def coral_distance(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius distance between the two sides' covariances over 4 d^2; 0 while a side has one row."""
    if len(source) < 2 or len(target) < 2:
        return source.new_zeros(())
    d = source.shape[1]
    return (covariance(source) - covariance(target)).pow(2).sum() / (4 * d * d)


class CoralAlignment(nn.Module):
    """`weight` times the CORAL distance between the source and target embeddings of each step."""

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"adaptation.weight must be >= 0, got {weight}")
        self.weight = weight

    def forward(self, source: Domain, target: Domain, progress: float) -> torch.Tensor:
        return self.weight * coral_distance(source.embedding, target.embedding)
