"""Training with additive noise at a random signal-to-noise ratio."""

from __future__ import annotations

import torch

from serlab.lengths import length_mask
from serlab.regularizers.protocol import WaveformAugment


def mix_at_snr(
    waveforms: torch.Tensor, lengths: torch.Tensor, snr_db: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """Adds `noise` scaled to each row's SNR (dB) against the power of its valid samples; padding stays zero."""
    mask = length_mask(lengths, waveforms.shape[-1]).to(waveforms.dtype)
    power = (waveforms.pow(2) * mask).sum(-1) / lengths.clamp_min(1)
    noise_power = (noise.pow(2) * mask).sum(-1) / lengths.clamp_min(1)
    scale = (power / 10 ** (snr_db / 10) / noise_power.clamp_min(1e-12)).sqrt()
    return waveforms + noise * scale[:, None] * mask


class AdditiveNoise(WaveformAugment):
    """Adds white noise to a fraction `p` of training utterances, at an SNR drawn from [min_snr_db, max_snr_db]."""

    def __init__(self, min_snr_db: float = 5.0, max_snr_db: float = 30.0, p: float = 0.5) -> None:
        if min_snr_db > max_snr_db or not 0 <= p <= 1:
            raise ValueError("regularizer.noise: need min_snr_db <= max_snr_db and p in [0, 1]")
        self.min_snr_db = min_snr_db
        self.max_snr_db = max_snr_db
        self.p = p

    def on_waveform(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Noisy copies of the valid samples; padding stays zero."""
        rows = waveforms.shape[0]
        snr = torch.empty(rows, device=waveforms.device).uniform_(self.min_snr_db, self.max_snr_db)
        chosen = (torch.rand(rows, device=waveforms.device) < self.p).to(waveforms.dtype)
        return mix_at_snr(waveforms, lengths, snr, torch.randn_like(waveforms) * chosen[:, None])
