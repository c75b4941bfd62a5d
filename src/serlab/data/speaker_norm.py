"""The declared speaker-adaptive standardisation of utterance-level vector streams."""

from __future__ import annotations

import torch


def standardise_per_speaker(vectors: torch.Tensor, speakers: list[str]) -> torch.Tensor:
    """Each speaker's rows (utterances, *shape) minus that speaker's mean, over that speaker's deviation (1 where
    constant), value by value."""
    out = torch.empty_like(vectors)
    for speaker in set(speakers):
        rows = torch.tensor([s == speaker for s in speakers])
        mean, std = moments(vectors[rows])
        out[rows] = (vectors[rows] - mean) / std
    return out


def moments(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and deviation over the rows of (n, *shape) values; a deviation of 1 where they are constant."""
    std = values.std(dim=0, correction=0)
    return values.mean(dim=0), torch.where(std > 1e-8, std, torch.ones_like(std))
