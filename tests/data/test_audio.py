import numpy as np
import pytest
import soundfile as sf

from serlab.data.audio import AudioError, AudioSettings, check_file, load_audio

SETTINGS = AudioSettings(sample_rate=16000)


def test_stereo_44k_flac_becomes_mono_16k(tmp_path):
    t = np.arange(44100) / 44100
    left, right = np.sin(2 * np.pi * 440 * t), np.zeros_like(t)
    sf.write(tmp_path / "x.flac", np.stack([left, right], axis=1), 44100)
    wave = load_audio(tmp_path / "x.flac", SETTINGS)
    assert wave.ndim == 1 and abs(len(wave) - 16000) <= 1
    assert wave.abs().max() == pytest.approx(0.5, abs=0.02)  # the down-mix averages channels


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b"not audio at all"), "unreadable audio"),
        (lambda p: p.write_bytes(b""), r"empty \(0 bytes\)"),
        (lambda p: sf.write(p, np.zeros(0), 16000), "no samples"),
        (lambda p: sf.write(p, np.r_[np.full(1600, 0.1), np.nan], 16000, subtype="FLOAT"), "NaN"),
        (lambda p: sf.write(p, np.zeros(16000), 16000), "silent"),
        (lambda p: sf.write(p, np.full(800, 0.3), 16000), "too short"),
    ],
)
def test_bad_files_name_path_and_reason(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=reason) as err:
        load_audio(path, SETTINGS)
    assert str(path) in str(err.value)


def test_container_is_read_by_content_not_by_name(tmp_path):
    path = tmp_path / "really_aiff.wav"
    sf.write(path, np.full(8000, 0.25), 8000, format="AIFF")
    wave = load_audio(path, SETTINGS)
    assert len(wave) == 16000 and wave[4000:12000].mean() == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize(
    "loudness,level", [("peak", lambda w: w.abs().max()), ("rms", lambda w: w.pow(2).mean().sqrt())]
)
def test_loudness_normalisation_reaches_the_target(tmp_path, loudness, level):
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "quiet.wav", 0.01 * np.sin(2 * np.pi * 200 * t), 16000)
    wave = load_audio(tmp_path / "quiet.wav", AudioSettings(loudness=loudness, target_db=-20.0))
    assert float(level(wave)) == pytest.approx(0.1, rel=0.02)


def test_settings_refuse_unknown_loudness():
    with pytest.raises(ValueError, match="data.audio.loudness"):
        AudioSettings(loudness="lufs")


def _cut(path, seconds):
    """Keep the header of `path` and its first `seconds` of 16 kHz 16-bit mono samples, as a broken copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - round((sf.info(str(path)).duration - seconds) * 16000) * 2])


@pytest.mark.parametrize("container", ["WAV", "AIFF"])
def test_a_truncated_file_is_refused_from_its_header_with_what_it_holds_and_promises(tmp_path, container):
    path = tmp_path / f"cut.{container.lower()}"
    sf.write(path, np.full(30400, 0.3), 16000, format=container, subtype="PCM_16")
    _cut(path, 0.63)
    message = r"truncated: decoded 0\.63 s of a header that promises 1\.90 s"
    with pytest.raises(AudioError, match=message) as err:
        check_file(path)  # the header check alone finds it, without decoding
    assert err.value.path == path
    with pytest.raises(AudioError, match=message):
        load_audio(path, SETTINGS)


def test_a_compressed_file_that_decodes_short_of_its_header_is_refused(tmp_path):
    path = tmp_path / "cut.mp3"
    sf.write(path, np.random.default_rng(0).uniform(-0.3, 0.3, 30400), 16000, format="MP3")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(AudioError, match=r"truncated: decoded 0\.\d\d s of a header that promises 1\.90 s"):
        load_audio(path, SETTINGS)


def test_whole_files_and_streamed_wavs_of_unknown_length_are_not_truncated(tmp_path):
    whole, streamed = tmp_path / "whole.wav", tmp_path / "streamed.wav"
    sf.write(whole, np.full(16000, 0.3), 16000)
    data = bytearray(whole.read_bytes())
    data[40:44] = b"\xff\xff\xff\xff"  # the data size a writer that cannot seek back leaves
    streamed.write_bytes(bytes(data))
    with open(whole, "ab") as f:  # a chunk after the samples (tags) is no truncation
        f.write(b"LIST\x04\x00\x00\x00INFO")
    for path in (whole, streamed):
        check_file(path)
        assert len(load_audio(path, SETTINGS)) == 16000
