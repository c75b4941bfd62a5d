"""Log-mel filterbank energies, computed on the training device."""

from __future__ import annotations

import torch
import torchaudio

from serlab.features.stft import SpectralFrontend


class LogMel(SpectralFrontend):
    """Log mel energies of 25 ms frames every 10 ms (by default)."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min: float = 20.0,
        f_max: float | None = None,
        normalize: str = "none",
    ) -> None:
        super().__init__(sample_rate, win_ms, hop_ms, n_mels, normalize)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=self.n_fft,
            win_length=self.win,
            hop_length=self.hop,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            center=False,
        )

    def features(self, waveforms: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        return torch.log(self.mel(waveforms) + 1e-6)
