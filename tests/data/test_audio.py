import numpy as np
import pytest
import soundfile as sf

from serlab.data.audio import AudioError, AudioSettings, load_audio

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
        (lambda p: p.write_bytes(b""), "unreadable audio"),
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


@pytest.mark.parametrize("loudness,level", [("peak", lambda w: w.abs().max()), ("rms", lambda w: w.pow(2).mean().sqrt())])
def test_loudness_normalisation_reaches_the_target(tmp_path, loudness, level):
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "quiet.wav", 0.01 * np.sin(2 * np.pi * 200 * t), 16000)
    wave = load_audio(tmp_path / "quiet.wav", AudioSettings(loudness=loudness, target_db=-20.0))
    assert float(level(wave)) == pytest.approx(0.1, rel=0.02)


def test_settings_refuse_unknown_loudness():
    with pytest.raises(ValueError, match="data.audio.loudness"):
        AudioSettings(loudness="lufs")
