"""MFCCs (DCT of log-mel energies), with optional deltas that never look into padding."""

from __future__ import annotations

import torch
import torchaudio.functional as AF

from serlab.features.deltas import with_deltas
from serlab.features.logmel import LogMel
from serlab.features.stft import SpectralFrontend


class MFCC(SpectralFrontend):
    """`n_mfcc` cepstral coefficients of a log-mel spectrum, plus `deltas` orders of their deltas."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mfcc: int = 13,
        n_mels: int = 40,
        deltas: int = 2,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        normalize: str = "none",
    ) -> None:
        if not 0 <= deltas <= 2 or not 0 < n_mfcc <= n_mels:
            raise ValueError(
                f"frontend: need 0 <= deltas <= 2 and 0 < n_mfcc <= n_mels, got {deltas}, {n_mfcc}, {n_mels}"
            )
        super().__init__(sample_rate, win_ms, hop_ms, n_mfcc * (deltas + 1), normalize)
        self.logmel = LogMel(sample_rate, n_mels, win_ms, hop_ms)
        self.register_buffer("dct", AF.create_dct(n_mfcc, n_mels, norm="ortho"))
        self.deltas = deltas

    def features(self, waveforms: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        cepstra = torch.einsum("bmt,mc->bct", self.logmel.log_mel(waveforms), self.dct)
        return with_deltas(cepstra, frames, self.deltas)
