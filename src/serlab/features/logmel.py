"""Log-mel filterbank energies, computed on the training device."""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from serlab.lengths import length_mask, masked_mean


class LogMel(nn.Module):
    """Log mel energies with optional per-utterance mean/variance normalisation.

    Frames are taken without centre padding, so a frame only ever sees samples of its own
    utterance: features are identical whether an utterance is alone or padded in a batch.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min: float = 20.0,
        f_max: float | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if n_mels < 1 or win_ms <= 0 or hop_ms <= 0:
            raise ValueError("frontend: n_mels, win_ms and hop_ms must be positive")
        self.win = int(round(sample_rate * win_ms / 1000))
        self.hop = int(round(sample_rate * hop_ms / 1000))
        n_fft = 1 << (self.win - 1).bit_length()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=self.win,
            hop_length=self.hop,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            center=False,
        )
        self.n_fft = n_fft
        self.normalize = normalize
        self.out_features = n_mels

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Number of whole frames in each utterance (at least one)."""
        return ((lengths - self.n_fft).clamp_min(0) // self.hop + 1).long()

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if waveforms.shape[-1] < self.n_fft:
            waveforms = nn.functional.pad(waveforms, (0, self.n_fft - waveforms.shape[-1]))
        # Spectra in half precision lose the quiet bands; keep the frontend in float32.
        with torch.autocast(waveforms.device.type, enabled=False):
            feats = torch.log(self.mel(waveforms.float()) + 1e-6)
        frames = self.frame_lengths(lengths)
        mask = length_mask(frames, feats.shape[-1]).unsqueeze(1)
        if self.normalize:
            mean = masked_mean(feats, frames).unsqueeze(-1)
            var = masked_mean((feats - mean) ** 2 * mask, frames).unsqueeze(-1)
            feats = (feats - mean) / (var + 1e-5).sqrt()
        return feats * mask, frames
