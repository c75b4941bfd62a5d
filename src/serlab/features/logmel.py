"""Log-mel filterbank energies, computed on the training device."""

from __future__ import annotations

import torch
import torchaudio.functional as AF

from serlab.features.deltas import with_deltas
from serlab.features.stft import SpectralFrontend


class LogMel(SpectralFrontend):
    """Log mel energies of 25 ms frames every 10 ms (by default), plus `deltas` orders of their deltas."""

    filters: torch.Tensor

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        f_min: float = 20.0,
        f_max: float | None = None,
        normalize: str = "none",
        deltas: int = 0,
    ) -> None:
        if not 0 <= deltas <= 2:
            raise ValueError(f"frontend.deltas must be 0, 1 or 2, got {deltas}")
        super().__init__(sample_rate, win_ms, hop_ms, n_mels * (deltas + 1), normalize)
        self.deltas = deltas
        filters = AF.melscale_fbanks(self.n_fft // 2 + 1, f_min, f_max or sample_rate / 2, n_mels, sample_rate)
        self.register_buffer("filters", filters.T.contiguous(), persistent=False)

    def features(self, waveforms: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        return with_deltas(self.log_mel(waveforms), frames, self.deltas)

    def log_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) log mel energies, without deltas."""
        return torch.log(torch.matmul(self.filters, self.power_spectrum(waveforms)) + 1e-6)
