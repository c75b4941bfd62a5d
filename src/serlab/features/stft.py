"""What the short-time spectral frontends share: framing without centre padding, masks, normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from serlab.features.normalize import feature_norm
from serlab.lengths import length_mask


def fft_size(sample_rate: int, win_ms: float) -> tuple[int, int]:
    """Window length in samples and the power-of-two FFT size that holds it."""
    win = round(sample_rate * win_ms / 1000)
    return win, 1 << (win - 1).bit_length()


class SpectralFrontend(nn.Module):
    """Base of spectrogram, log-mel and MFCC: (batch, samples) -> (batch, features, frames).

    Frames are taken without centre padding, so a frame only ever sees samples of its own
    utterance: features are identical whether an utterance is alone or padded in a batch.
    """

    kind = "spectral"
    window: torch.Tensor

    def __init__(self, sample_rate: int, win_ms: float, hop_ms: float, out_features: int, normalize: str) -> None:
        super().__init__()
        if win_ms <= 0 or hop_ms <= 0 or out_features < 1:
            raise ValueError("frontend: win_ms, hop_ms and the number of features must be positive")
        self.win, self.n_fft = fft_size(sample_rate, win_ms)
        self.hop = round(sample_rate * hop_ms / 1000)
        self.out_features = out_features
        self.norm = feature_norm(out_features, normalize)
        self.register_buffer("window", torch.hann_window(self.win), persistent=False)

    def power_spectrum(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, n_fft // 2 + 1, frames) squared STFT magnitudes of Hann-windowed frames."""
        spectrum = torch.stft(
            waveforms, self.n_fft, self.hop, self.win, self.window, center=False, return_complex=True
        )
        # Squaring the parts separately is about 3x faster than abs().pow(2), which takes a hypot.
        return spectrum.real.square() + spectrum.imag.square()

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Number of whole frames in each utterance (at least one)."""
        return ((lengths - self.n_fft).clamp_min(0) // self.hop + 1).long()

    def features(self, waveforms: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """(batch, features, frames) before normalisation; subclasses define it."""
        raise NotImplementedError

    def raw_features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked features and frame counts, before normalisation (what global statistics are gathered on)."""
        if waveforms.shape[-1] < self.n_fft:
            waveforms = nn.functional.pad(waveforms, (0, self.n_fft - waveforms.shape[-1]))
        frames = self.frame_lengths(lengths)
        # Spectra in half precision lose the quiet bands; keep the frontend in float32.
        with torch.autocast(waveforms.device.type, enabled=False):
            feats = self.features(waveforms.float(), frames)
        return feats * length_mask(frames, feats.shape[-1]).unsqueeze(1), frames

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor, speakers: Sequence[str] = ()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feats, frames = self.raw_features(waveforms, lengths)
        return self.norm(feats, frames, speakers) * length_mask(frames, feats.shape[-1]).unsqueeze(1), frames
