"""The declared speaker-adaptive standardisation of utterance-level vector streams."""

from __future__ import annotations

import torch


def standardise_per_speaker(vectors: torch.Tensor, speakers: list[str]) -> torch.Tensor:
    """Each speaker's rows (utterances, *shape) minus that speaker's mean, over that speaker's deviation (1 where
    constant), value by value."""
    out = torch.empty_like(vectors)
    for speaker in set(speakers):
        rows = torch.tensor([s == speaker for s in speakers])
        own = vectors[rows]
        std = own.std(dim=0, correction=0)
        out[rows] = (own - own.mean(dim=0)) / torch.where(std > 1e-8, std, torch.ones_like(std))
    return out
