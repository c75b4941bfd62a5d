"""SpecAugment time and frequency masking (Park et al., Interspeech 2019), on features during training."""

from __future__ import annotations

import torch

from serlab.regularizers.protocol import FeatureAugment


class SpecAugment(FeatureAugment):
    """Zeroes `freq_masks` bands of up to `freq_width` features and `time_masks` spans of up to
    `time_width` (a fraction of each utterance's frames), inside the valid frames only."""

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: float = 0.05) -> None:
        if min(freq_masks, freq_width, time_masks) < 0 or not 0 <= time_width <= 1:
            raise ValueError("regularizer.specaugment: counts and widths must be >= 0, time_width in [0, 1]")
        self.freq_masks = freq_masks
        self.freq_width = freq_width
        self.time_masks = time_masks
        self.time_width = time_width

    def on_features(self, feats: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """A masked copy of (batch, features, time) features."""
        batch, n_feats, steps = feats.shape
        keep = torch.ones(batch, n_feats, steps, dtype=torch.bool, device=feats.device)
        band = torch.arange(n_feats, device=feats.device)[None, :]
        step = torch.arange(steps, device=feats.device)[None, :]
        for _ in range(self.freq_masks):
            width = torch.randint(0, self.freq_width + 1, (batch, 1), device=feats.device)
            start = (torch.rand(batch, 1, device=feats.device) * (n_feats - width + 1)).long()
            keep &= ~((band >= start) & (band < start + width))[:, :, None]
        for _ in range(self.time_masks):
            longest = (frames[:, None].float() * self.time_width).long()
            width = (torch.rand(batch, 1, device=feats.device) * (longest + 1)).long()
            start = (torch.rand(batch, 1, device=feats.device) * (frames[:, None] - width + 1).clamp_min(1)).long()
            keep &= ~((step >= start) & (step < start + width))[:, None, :]
        return feats * keep
