"""Degraded test conditions for robustness evaluation: additive noise at fixed SNRs and packet loss.

Each condition alters one decoded utterance, the same way every time (its randomness is seeded by
the utterance id), so conditions compare models on identical degraded audio. serlab-eval has the
datamodule apply a condition to the test split as it is decoded, before any stream is computed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import torch

from serlab.regularizers.noise import mix_at_snr


def utterance_generator(seed: int, uid: str) -> torch.Generator:
    """A random generator fixed by the condition's seed and the utterance id."""
    generator = torch.Generator()
    generator.manual_seed(seed * 1_000_003 + zlib.crc32(uid.encode()))
    return generator


class NoiseAtSNR:
    """White noise at a fixed signal-to-noise ratio."""

    def __init__(self, snr_db: float, seed: int = 0) -> None:
        self.snr_db, self.seed = float(snr_db), seed
        self.name = f"noise {self.snr_db:g} dB"

    def __call__(self, waveform: torch.Tensor, uid: str) -> torch.Tensor:
        noise = torch.randn(len(waveform), generator=utterance_generator(self.seed, uid)).to(waveform)
        length = torch.tensor([len(waveform)])
        snr = torch.tensor([self.snr_db])
        return mix_at_snr(waveform[None], length, snr, noise[None])[0]


class PacketLoss:
    """Zeroes each packet of `packet_ms` with probability `rate`, as a lossy link without concealment does."""

    def __init__(self, rate: float, packet_ms: float = 20.0, sample_rate: int = 16000, seed: int = 0) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"robustness.packet_loss rates must be in [0, 1], got {rate}")
        if packet_ms <= 0:
            raise ValueError(f"robustness.packet_ms must be positive, got {packet_ms}")
        self.rate, self.seed = float(rate), seed
        self.packet = max(1, round(sample_rate * packet_ms / 1000))
        self.name = f"packet loss {self.rate:.0%}"

    def __call__(self, waveform: torch.Tensor, uid: str) -> torch.Tensor:
        packets = math.ceil(len(waveform) / self.packet)
        kept = torch.rand(packets, generator=utterance_generator(self.seed, uid)) >= self.rate
        return waveform * kept.repeat_interleave(self.packet)[: len(waveform)].to(waveform)


def conditions(
    snr_db: Sequence[float] = (),
    packet_loss: Sequence[float] = (),
    packet_ms: float = 20.0,
    sample_rate: int = 16000,
    seed: int = 0,
) -> list[NoiseAtSNR | PacketLoss]:
    """The degraded conditions `robustness.*` asks for, noise first, in the order given."""
    return [NoiseAtSNR(snr, seed) for snr in snr_db] + [
        PacketLoss(r, packet_ms, sample_rate, seed) for r in packet_loss
    ]
