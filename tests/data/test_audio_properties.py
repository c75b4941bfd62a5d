"""Whatever a file holds, loading it ends in a checked waveform or an AudioError naming it: never another
exception, never a hang. Hypothesis draws the files; examples are few so the module runs in seconds."""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from serlab.data.audio import MAX_PEAK_DB, AudioError, AudioSettings, load_audio
from serlab.data.cache import AudioCache
from serlab.data.dataset import AudioDataset
from serlab.data.manifest import Utterance

SETTINGS = AudioSettings(sample_rate=16000)
# Generous for a loaded 2-core machine; a decode that takes longer than HANG_S counts as a hang.
PROPERTIES = settings(
    max_examples=25,
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HANG_S = 30.0
EXTENSIONS = [".wav", ".flac", ".ogg", ".aiff", ".mp3", ""]
# (format, subtype) pairs libsndfile writes; each truncation lands in a different parser.
CONTAINERS = [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("AIFF", "PCM_24")]


def within(seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a daemon thread, failing the test if it is still running after `seconds`."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as err:  # handed to the caller below
            box["error"] = err

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)}{args} still running after {seconds} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def outcome(path: Path, audio: AudioSettings = SETTINGS) -> torch.Tensor | AudioError:
    """The waveform of `path` or the AudioError that names it; anything else fails the test."""
    try:
        wave = within(HANG_S, load_audio, path, audio)
    except AudioError as err:
        assert err.path == path and str(path) in str(err) and err.reason
        return err
    assert wave.dtype == torch.float32 and wave.ndim == 1 and bool(torch.isfinite(wave).all())
    assert len(wave) >= audio.min_duration * audio.sample_rate - 1
    return wave


def noise(frames: int, channels: int = 1, amplitude: float = 0.3, seed: int = 0) -> np.ndarray:
    """Reproducible uniform noise, frames x channels."""
    return np.random.default_rng(seed).uniform(-amplitude, amplitude, (frames, channels)).astype(np.float32)


@cache
def encoded(container: tuple[str, str]) -> bytes:
    """Half a second of noise in `container`, as file bytes."""
    buffer = io.BytesIO()
    sf.write(buffer, noise(8000), 16000, format=container[0], subtype=container[1])
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Callable[[], Path]:
    """A fresh folder per Hypothesis example, so no example sees another's files or cache entries."""
    return lambda: Path(tempfile.mkdtemp(dir=tmp_path))


# Magic numbers of WAV, FLAC, Ogg, AIFF and MP3, so random bodies reach each parser.
HEADERS = st.sampled_from(
    [b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC\x00\x00\x00\x22", b"OggS\x00\x02", b"FORM", b"\xff\xfb"]
)


@PROPERTIES
@given(header=HEADERS, body=st.binary(max_size=2048), suffix=st.sampled_from(EXTENSIONS))
def test_random_bytes_load_or_fail_naming_the_file(folder, header, body, suffix):
    path = folder() / f"random{suffix}"
    path.write_bytes(header + body)
    outcome(path)


@PROPERTIES
@given(container=st.sampled_from(CONTAINERS), cut=st.one_of(st.just(1.0), st.floats(0.0, 1.0)),
       suffix=st.sampled_from(EXTENSIONS))  # fmt: skip
def test_truncated_and_misnamed_files_load_what_is_there_or_fail(folder, container, cut, suffix):
    data = encoded(container)
    path = folder() / f"cut{suffix}"
    path.write_bytes(data[: round(cut * len(data))])
    result = outcome(path)
    if isinstance(result, torch.Tensor):
        assert len(result) <= 8000
    if cut == 1.0:  # a whole file loads by its content, whatever its name says
        assert isinstance(result, torch.Tensor) and len(result) == 8000
        if container[1] != "VORBIS":
            assert torch.allclose(result, torch.from_numpy(noise(8000)[:, 0]), atol=1e-4)


@PROPERTIES
@given(container=st.sampled_from(CONTAINERS),
       edits=st.lists(st.tuples(st.integers(0, 79), st.integers(0, 255)), min_size=1, max_size=4))  # fmt: skip
def test_damaged_headers_load_or_fail_naming_the_file(folder, container, edits):
    data = bytearray(encoded(container))
    for position, value in edits:
        data[position] = value
    path = folder() / "damaged.wav"
    path.write_bytes(bytes(data))
    outcome(path)


def test_a_header_claiming_billions_of_frames_reads_only_what_is_there(tmp_path):
    data = bytearray(encoded(("FLAC", "PCM_16")))
    # STREAMINFO follows "fLaC" and a 4-byte block header; the low 36 bits of its bytes 10..17 count the frames.
    fields = int.from_bytes(data[18:26], "big") | (1 << 36) - 1
    data[18:26] = fields.to_bytes(8, "big")
    path = tmp_path / "claims_more.flac"
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames == (1 << 36) - 1
    outcome(path)


@PROPERTIES
@given(positions=st.lists(st.integers(0, 7999), min_size=1, max_size=5),
       value=st.sampled_from([float("nan"), float("inf"), -float("inf")]))  # fmt: skip
def test_nan_or_infinite_samples_are_refused(folder, positions, value):
    wave = noise(8000)
    wave[positions, 0] = value
    path = folder() / "nan.wav"
    sf.write(path, wave, 16000, subtype="FLOAT")
    result = outcome(path)
    assert isinstance(result, AudioError) and "NaN or infinite" in result.reason


@PROPERTIES
@given(level_db=st.floats(-200.0, 800.0), loudness=st.sampled_from(["none", "peak", "rms"]))
def test_any_amplitude_loads_at_the_right_level_or_is_refused_as_silent_or_too_loud(folder, level_db, loudness):
    audio = AudioSettings(loudness=loudness)
    assume(abs(level_db - audio.silence_db) > 0.5 and abs(level_db - MAX_PEAK_DB) > 0.5)
    path = folder() / "level.wav"
    # float64 keeps peaks beyond the float32 range, up to about +6000 dBFS
    sf.write(path, noise(8000).astype(np.float64) / 0.3 * 10 ** (level_db / 20), 16000, subtype="DOUBLE")
    result = outcome(path, audio)
    if level_db < audio.silence_db:
        assert isinstance(result, AudioError) and result.reason.startswith("silent")
    elif level_db > MAX_PEAK_DB:
        assert isinstance(result, AudioError) and "louder than any recording" in result.reason
    elif loudness == "peak":
        assert float(result.abs().max()) == pytest.approx(10 ** (audio.target_db / 20), rel=1e-3)
    elif loudness == "rms":
        assert float(result.pow(2).mean().sqrt()) == pytest.approx(10 ** (audio.target_db / 20), rel=1e-2)
    else:
        assert float(result.abs().max()) == pytest.approx(10 ** (level_db / 20), rel=1e-3)


@PROPERTIES
@given(rate=st.integers(1000, 384_000), channels=st.integers(1, 16))
def test_any_rate_and_channel_count_becomes_mono_at_the_target_rate(folder, rate, channels):
    t = np.arange(rate // 4) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    path = folder() / "tone.wav"
    sf.write(path, np.repeat(tone[:, None], channels, axis=1), rate, subtype="FLOAT")
    result = outcome(path)
    assert isinstance(result, torch.Tensor) and abs(len(result) - len(t) * 16000 / rate) <= 2
    assert float(result[400:-400].abs().max()) == pytest.approx(0.3, rel=0.05)  # edges ring, the middle holds the level


KINDS = {
    "good": lambda p: sf.write(p, noise(4000), 16000),
    "random": lambda p: p.write_bytes(b"RIFF" + bytes(range(256))),
    "truncated": lambda p: p.write_bytes(encoded(("FLAC", "PCM_16"))[:300]),
    "nan": lambda p: sf.write(p, np.full(4000, np.nan), 16000, subtype="FLOAT"),
    "silent": lambda p: sf.write(p, np.zeros(4000), 16000),
    "empty": lambda p: p.write_bytes(b""),
    "missing": lambda p: None,
}


@PROPERTIES
@given(kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=6),
       on_bad_file=st.sampled_from(["error", "skip"]))  # fmt: skip
def test_the_dataset_stops_at_a_bad_file_or_counts_every_skip(folder, kinds, on_bad_file):
    root = folder()
    rows = []
    for i, kind in enumerate(kinds):
        path = root / f"{i}_{kind}.wav"
        KINDS[kind](path)
        rows.append(Utterance(id=f"{i}_{kind}", path=path, label="happy", speaker="s"))
    bad = [r for r in rows if not r.id.endswith("good")]
    load = AudioCache(root / "cache", SETTINGS).load
    try:
        data = within(HANG_S, AudioDataset, rows, ["happy"], load, on_bad_file)
    except AudioError as err:
        assert on_bad_file == "error" and err.path in {r.path for r in bad} and "data.on_bad_file=skip" in str(err)
        return
    assert on_bad_file == "skip" or not bad
    assert [r.id for r in data.rows] == [r.id for r in rows if r not in bad]
    assert [s.id for s in data.skipped] == [r.id for r in bad] and all(s.reason for s in data.skipped)


@PROPERTIES
@given(garbage=st.binary(max_size=512))
def test_a_damaged_cache_entry_is_decoded_again(folder, garbage):
    root = folder()
    sf.write(root / "a.wav", noise(4000), 16000)
    cache = AudioCache(root / "cache", SETTINGS)
    first = cache.load(root / "a.wav")
    (entry,) = (root / "cache").rglob("*.npy")
    entry.write_bytes(garbage)
    assert torch.equal(within(HANG_S, cache.load, root / "a.wav"), first)
