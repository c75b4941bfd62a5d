"""Reading audio files into checked mono float waveforms at a target sample rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

LOUDNESS = ("none", "peak", "rms")


class AudioError(ValueError):
    """An audio file that cannot be used, with its path and the reason."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class AudioSettings:
    """How files become waveforms (`data.audio`); any change here invalidates the decoded cache."""

    sample_rate: int = 16000
    loudness: str = "none"  # none | peak (scale the peak to target_db) | rms (scale the RMS level to target_db)
    target_db: float = -20.0
    min_duration: float = 0.1  # seconds; shorter files are refused
    silence_db: float = -60.0  # a file whose peak stays below this level (dBFS) is refused as silent

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"data.audio.sample_rate must be positive, got {self.sample_rate}")
        if self.loudness not in LOUDNESS:
            raise ValueError(f"data.audio.loudness must be one of {list(LOUDNESS)}, got {self.loudness!r}")
        if self.min_duration < 0:
            raise ValueError(f"data.audio.min_duration must be >= 0, got {self.min_duration}")

    def as_dict(self) -> dict[str, float | int | str]:
        """The settings as plain values (the cache key)."""
        return asdict(self)


def _decibels(x: float) -> float:
    return 20 * float(np.log10(x)) if x > 0 else float("-inf")


def decode(path: Path, sample_rate: int) -> torch.Tensor:
    """Decode any container libsndfile reads (by content, not by extension), down-mix, resample."""
    if not Path(path).is_file():
        raise AudioError(path, "file not found")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise AudioError(path, f"unreadable audio ({err})") from err
    if data.shape[0] == 0:
        raise AudioError(path, "no samples (empty audio)")
    if not np.isfinite(data).all():
        raise AudioError(path, "holds NaN or infinite samples")
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if rate != sample_rate:
        wave = AF.resample(wave, rate, sample_rate)
    return wave


def load_audio(path: Path, settings: AudioSettings) -> torch.Tensor:
    """A checked, optionally loudness-normalised waveform; AudioError says why a file is unusable."""
    wave = decode(path, settings.sample_rate)
    duration = len(wave) / settings.sample_rate
    if duration < settings.min_duration:
        raise AudioError(path, f"too short ({duration:.3f} s < data.audio.min_duration {settings.min_duration} s)")
    peak = float(wave.abs().max())
    if _decibels(peak) < settings.silence_db:
        raise AudioError(path, f"silent (peak {_decibels(peak):.1f} dBFS < data.audio.silence_db {settings.silence_db})")
    if settings.loudness == "peak":
        wave = wave * (10 ** (settings.target_db / 20) / peak)
    elif settings.loudness == "rms":
        rms = float(wave.pow(2).mean().sqrt())
        wave = (wave * (10 ** (settings.target_db / 20) / rms)).clamp(-1.0, 1.0)
    return wave
