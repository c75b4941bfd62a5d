"""Linear-frequency STFT magnitude, log-compressed."""

from __future__ import annotations

import torch

from serlab.features.stft import SpectralFrontend, fft_size


class Spectrogram(SpectralFrontend):
    """log(1 + |STFT|) of Hann-windowed frames, up to `max_hz` (all bins when None)."""

    def __init__(
        self,
        sample_rate: int = 16000,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        max_hz: float | None = 4000.0,
        normalize: str = "none",
    ) -> None:
        _, n_fft = fft_size(sample_rate, win_ms)
        bins = n_fft // 2 + 1
        if max_hz is not None:
            bins = min(bins, int(max_hz / (sample_rate / n_fft)) + 1)
        super().__init__(sample_rate, win_ms, hop_ms, bins, normalize)

    def features(self, waveforms: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        return torch.log1p(self.power_spectrum(waveforms)[:, : self.out_features].sqrt())
