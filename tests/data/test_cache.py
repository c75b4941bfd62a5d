import os

import numpy as np
import soundfile as sf
import torch

from serlab.data.audio import AudioSettings
from serlab.data.cache import AudioCache


def tone(path, amplitude):
    sf.write(path, amplitude * np.sin(np.arange(4000) / 5), 16000, subtype="FLOAT")


def test_second_load_reads_the_cache_not_the_file(tmp_path, monkeypatch):
    tone(tmp_path / "a.wav", 0.5)
    cache = AudioCache(tmp_path / "cache", AudioSettings())
    first = cache.load(tmp_path / "a.wav")
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr("serlab.data.cache.load_audio", refuse)
    assert torch.equal(cache.load(tmp_path / "a.wav"), first)


def test_an_edited_file_or_new_settings_decode_again(tmp_path):
    path = tmp_path / "a.wav"
    tone(path, 0.5)
    cache = AudioCache(tmp_path / "cache", AudioSettings())
    assert cache.load(path).abs().max() > 0.45
    tone(path, 0.2)
    os.utime(path, ns=(1, 10**18))  # a different mtime even on coarse file-system clocks
    assert cache.load(path).abs().max() < 0.25
    louder = AudioCache(tmp_path / "cache", AudioSettings(loudness="peak", target_db=0.0))
    assert louder.load(path).abs().max() > 0.99
    assert len({p.parent for p in (tmp_path / "cache").rglob("*.npy")}) == 2


def test_a_damaged_entry_is_rebuilt(tmp_path):
    tone(tmp_path / "a.wav", 0.5)
    cache = AudioCache(tmp_path / "cache", AudioSettings())
    good = cache.load(tmp_path / "a.wav")
    (entry,) = (tmp_path / "cache").rglob("*.npy")
    entry.write_bytes(b"garbage")
    assert torch.equal(cache.load(tmp_path / "a.wav"), good)
