"""Reading audio files into checked mono float waveforms at a target sample rate."""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from serlab.errors import UserError

LOUDNESS = ("none", "peak", "rms")
# Float files may go beyond full scale, but a million times over is damaged or mis-scaled data,
# not a recording (and its power spectra approach the float32 range).
MAX_PEAK_DB = 120.0
# Exact resampling between rates without a large common divisor (44101 -> 16000 Hz) needs a kernel
# of about rate x target taps; the nearest ratio with terms up to this bound is off by < 0.1 %.
MAX_RATIO_TERM = 1000
# Every container libsndfile names, plus the usual alternative spellings; headerless RAW cannot be read blind.
AUDIO_SUFFIXES = frozenset(f".{name.lower()}" for name in sf.available_formats() if name != "RAW") | {
    ".aif", ".oga", ".opus", ".wave"
}  # fmt: skip
# Chunked containers whose header states the byte length of the samples: magic -> (byte order, data chunk id).
# libsndfile quietly shortens such a file's frame count to what the file holds, so the header is read here.
SIZED_CONTAINERS = {b"RIFF": ("<", b"data"), b"RIFX": (">", b"data"), b"FORM": (">", b"SSND")}
# Writers that cannot seek back (pipes, recorders) leave these sizes, meaning "until the end of the file".
UNKNOWN_SIZES = (0, 0xFFFFFFFF)
# Real headers have a handful of chunks before the data; the walk stops here on damaged ones.
MAX_CHUNKS = 64


class AudioError(UserError, ValueError):
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


def resample(wave: torch.Tensor, rate: int, target: int) -> torch.Tensor:
    """Bring `wave` from `rate` to `target` Hz with a kernel of bounded size, whatever the rates."""
    ratio = Fraction(target, rate).limit_denominator(MAX_RATIO_TERM)
    return AF.resample(wave, ratio.denominator, ratio.numerator)


def read_frames(f: sf.SoundFile, block_samples: int = 1 << 20) -> np.ndarray:
    """Every frame up to the real end of the data: a damaged header may claim billions more."""
    block = max(1, block_samples // f.channels)
    # float64, so that float files beyond the float32 range are refused as too loud, not as infinite
    chunks = [f.read(block, dtype="float64", always_2d=True)]
    while len(chunks[-1]) == block:
        chunks.append(f.read(block, dtype="float64", always_2d=True))
    return np.concatenate(chunks)


def declared_data(path: Path) -> tuple[int, int] | None:
    """(offset, byte length) of the samples as a WAV or AIFF header states them; None for other containers,
    for a length left unknown, or when the header has no data chunk where its chunk sizes lead."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in SIZED_CONTAINERS:
            return None
        order, data_id = SIZED_CONTAINERS[head[:4]]
        offset = 12
        for _ in range(MAX_CHUNKS):
            f.seek(offset)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            name, length = struct.unpack(f"{order}4sI", chunk)
            if name == data_id:
                return (offset + 8, length) if length not in UNKNOWN_SIZES else None
            offset += 8 + length + (length & 1)  # chunks are padded to an even length
    return None


def truncation(seconds: float, promised: float) -> str:
    """The reason given for a file that holds less audio than its header promises."""
    return f"truncated: decoded {seconds:.2f} s of a header that promises {promised:.2f} s"


def check_file(path: Path) -> None:
    """Refuse a missing, empty, unreadable or truncated file with an AudioError; reads only the file's
    size and header, so a whole corpus is checked before training at a small cost."""
    try:
        size = Path(path).stat().st_size
    except FileNotFoundError:
        raise AudioError(path, "file not found") from None
    except OSError as err:
        raise AudioError(path, f"cannot be read ({err.strerror})") from err
    if not Path(path).is_file():
        raise AudioError(path, "not a file")
    if size == 0:
        raise AudioError(path, "empty (0 bytes)")
    try:
        info = sf.info(str(path))
        data = declared_data(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(path, f"unreadable audio ({err})") from err
    if info.frames == 0:
        raise AudioError(path, "no samples (empty audio)")
    if data is not None and data[1] > size - data[0]:
        promised = info.duration * data[1] / (size - data[0])
        if (promised - info.duration) * info.samplerate >= 1:  # a cut inside the last frame loses no sample
            raise AudioError(path, truncation(info.duration, promised))


def decode(path: Path, sample_rate: int) -> torch.Tensor:
    """Decode any container libsndfile reads (by content, not by extension), down-mix, resample."""
    check_file(path)
    try:
        with sf.SoundFile(str(path)) as f:
            rate, promised, data = f.samplerate, f.frames, read_frames(f)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise AudioError(path, f"unreadable audio ({err})") from err
    if 0 < data.shape[0] < promised:
        raise AudioError(path, truncation(data.shape[0] / rate, promised / rate))
    if data.shape[0] == 0:
        raise AudioError(path, "no samples (empty audio)")
    if not np.isfinite(data).all():
        raise AudioError(path, "holds NaN or infinite samples")
    peak_db = _decibels(float(np.abs(data).max()))
    if peak_db > MAX_PEAK_DB:
        raise AudioError(path, f"peak +{peak_db:.0f} dBFS is louder than any recording (> +{MAX_PEAK_DB:.0f} dBFS)")
    wave = torch.from_numpy(data.mean(axis=1).astype(np.float32))
    if rate != sample_rate:
        wave = resample(wave, rate, sample_rate)
    return wave


def load_audio(path: Path, settings: AudioSettings) -> torch.Tensor:
    """A checked, optionally loudness-normalised waveform; AudioError says why a file is unusable."""
    wave = decode(path, settings.sample_rate)
    duration = len(wave) / settings.sample_rate
    if duration < settings.min_duration:
        raise AudioError(path, f"too short ({duration:.3f} s < data.audio.min_duration {settings.min_duration} s)")
    peak = float(wave.abs().max())
    if _decibels(peak) < settings.silence_db:
        raise AudioError(
            path, f"silent (peak {_decibels(peak):.1f} dBFS < data.audio.silence_db {settings.silence_db})"
        )
    if settings.loudness == "peak":
        wave = wave * (10 ** (settings.target_db / 20) / peak)
    elif settings.loudness == "rms":
        rms = float(wave.pow(2).mean().sqrt())
        wave = (wave * (10 ** (settings.target_db / 20) / rms)).clamp(-1.0, 1.0)
    return wave
