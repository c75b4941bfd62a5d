"""The waveform itself, for models that learn their own filters."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from serlab.features.normalize import feature_norm
from serlab.lengths import length_mask


class Raw(nn.Module):
    """(batch, samples) -> (batch, 1, samples), or non-overlapping frames (batch, frame samples, frames)."""

    kind = "waveform"

    def __init__(self, sample_rate: int = 16000, frame_ms: float | None = 40.0, normalize: str = "none") -> None:
        super().__init__()
        self.frame = 1 if frame_ms is None else round(sample_rate * frame_ms / 1000)
        if self.frame < 1:
            raise ValueError(f"frontend.frame_ms must give at least one sample, got {frame_ms}")
        self.out_features = self.frame
        # Per-utterance or global scaling of the samples themselves (one feature: amplitude).
        self.norm = feature_norm(1, normalize)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Whole frames per utterance (at least one)."""
        return (lengths // self.frame).clamp_min(1).long()

    def raw_features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked samples as (batch, 1, samples) and their lengths."""
        x = waveforms.float() * length_mask(lengths, waveforms.shape[-1])
        return x.unsqueeze(1), lengths

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor, speakers: Sequence[str] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        samples, lengths = self.raw_features(waveforms, lengths)
        x = self.norm(samples, lengths, speakers).squeeze(1) * length_mask(lengths, waveforms.shape[-1])
        frames = self.frame_lengths(lengths)
        needed = self.frame * int(frames.max())
        x = nn.functional.pad(x, (0, max(0, needed - x.shape[-1])))[:, :needed]
        framed = x.view(x.shape[0], -1, self.frame).transpose(1, 2)
        return framed * length_mask(frames, framed.shape[-1]).unsqueeze(1), frames
