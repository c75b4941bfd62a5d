import numpy as np
import pytest
import soundfile as sf

from serlab.data.audio import AudioError, load_audio


def test_stereo_44k_flac_becomes_mono_16k(tmp_path):
    t = np.arange(44100) / 44100
    left, right = np.sin(2 * np.pi * 440 * t), np.zeros_like(t)
    sf.write(tmp_path / "x.flac", np.stack([left, right], axis=1), 44100)
    wave = load_audio(tmp_path / "x.flac", 16000)
    assert wave.ndim == 1 and abs(len(wave) - 16000) <= 1
    assert wave.abs().max() == pytest.approx(0.5, abs=0.02)  # the down-mix averages channels


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b"not audio at all"), "unreadable audio"),
        (lambda p: sf.write(p, np.zeros(0), 16000), "no samples"),
        (lambda p: sf.write(p, np.array([0.1, np.nan, 0.2]), 16000, subtype="FLOAT"), "NaN"),
    ],
)
def test_bad_files_name_path_and_reason(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=reason) as err:
        load_audio(path, 16000)
    assert str(path) in str(err.value)
