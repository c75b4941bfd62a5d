"""Per-feature mean/variance normalisation: per utterance, or with statistics of the training set."""

from __future__ import annotations

import torch
from torch import nn

from serlab.lengths import length_mask, masked_mean

MODES = ("none", "utterance", "global")


class FeatureNorm(nn.Module):
    """Normalises (batch, features, time) over valid frames.

    `utterance` uses each utterance's own statistics; `global` uses statistics gathered over the
    training set by `accumulate` before training (never from validation or test speakers) and
    stored in the checkpoint.
    """

    def __init__(self, n_features: int, mode: str = "none") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"frontend.normalize must be one of {list(MODES)}, got {mode!r}")
        self.mode = mode
        self.register_buffer("total", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("squares", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @property
    def needs_statistics(self) -> bool:
        """True while global statistics have not been gathered yet."""
        return self.mode == "global" and self.count.item() == 0

    def accumulate(self, feats: torch.Tensor, frames: torch.Tensor) -> None:
        """Add one batch of training features to the running sums."""
        mask = length_mask(frames, feats.shape[-1]).unsqueeze(1).to(torch.float64)
        x = feats.to(torch.float64) * mask
        self.total += x.sum(dim=(0, 2))
        self.squares += (x * x).sum(dim=(0, 2))
        self.count += mask.sum()

    def forward(self, feats: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        if self.mode == "utterance":
            mask = length_mask(frames, feats.shape[-1]).unsqueeze(1)
            mean = masked_mean(feats, frames).unsqueeze(-1)
            var = masked_mean((feats - mean) ** 2 * mask, frames).unsqueeze(-1)
            return (feats - mean) / (var + 1e-5).sqrt()
        if self.mode == "global" and self.count > 0:
            mean = self.total / self.count
            std = (self.squares / self.count - mean**2).clamp_min(1e-10).sqrt()
            return (feats - mean[:, None].to(feats.dtype)) / std[:, None].to(feats.dtype)
        return feats
