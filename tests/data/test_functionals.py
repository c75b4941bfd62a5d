"""openSMILE functionals: one vector per utterance, cached by content, clear errors."""

import numpy as np
import pytest
import torch

from serlab.data.functionals import OpenSmileFunctionals
from serlab.data.speaker_norm import standardise_per_speaker


def tones(n: int, seconds: float = 0.5, rate: int = 16000) -> list[torch.Tensor]:
    t = torch.arange(int(seconds * rate)) / rate
    return [0.3 * torch.sin(2 * torch.pi * (150 + 50 * i) * t) for i in range(n)]


def test_one_vector_per_utterance_and_a_second_pass_reads_the_cache(tmp_path, monkeypatch):
    extractor = OpenSmileFunctionals("eGeMAPSv02", cache_dir=tmp_path)
    first = extractor(tones(3), 16000, ["a"] * 3)
    assert first.shape == (3, extractor.size) == (3, 88) and torch.isfinite(first).all()
    assert not torch.equal(first[0], first[1])
    assert len(list((tmp_path / "eGeMAPSv02").glob("*.npy"))) == 3

    def refuse(*args, **kwargs):
        raise AssertionError("openSMILE ran again although every utterance is cached")

    monkeypatch.setattr(extractor.smile, "process_signal", refuse)
    torch.testing.assert_close(extractor(tones(3), 16000, ["a"] * 3), first)


def test_a_damaged_entry_is_computed_again(tmp_path):
    extractor = OpenSmileFunctionals("eGeMAPSv02", cache_dir=tmp_path)
    first = extractor(tones(1), 16000, ["a"])
    (entry,) = (tmp_path / "eGeMAPSv02").glob("*.npy")
    entry.write_bytes(b"not an array")
    torch.testing.assert_close(extractor(tones(1), 16000, ["a"]), first)


def test_non_finite_values_become_zero_and_are_reported(monkeypatch, caplog):
    extractor = OpenSmileFunctionals("eGeMAPSv02")
    monkeypatch.setattr(
        extractor, "compute", lambda samples, rate: [np.full(extractor.size, np.nan, np.float32)] * len(samples)
    )
    out = extractor(tones(2), 16000, ["a", "b"])
    assert torch.all(out == 0) and "non-finite" in caplog.text


@pytest.mark.slow
def test_worker_processes_give_the_serial_vectors_in_order(tmp_path):
    waves = tones(8, seconds=0.3)
    serial = OpenSmileFunctionals("eGeMAPSv02", workers=1)(waves, 16000, ["a"] * 8)
    pooled = OpenSmileFunctionals("eGeMAPSv02", cache_dir=tmp_path, workers=2)
    torch.testing.assert_close(pooled(waves, 16000, ["a"] * 8), serial)
    assert len(list((tmp_path / "eGeMAPSv02").glob("*.npy"))) == 8


def test_negative_workers_name_the_key():
    with pytest.raises(ValueError, match="data.streams.functionals.workers"):
        OpenSmileFunctionals("eGeMAPSv02", workers=-1)


def test_an_unknown_feature_set_names_the_key_and_the_choices():
    with pytest.raises(ValueError, match=r"data.streams.functionals.feature_set .*ComParE_2016"):
        OpenSmileFunctionals("ComParE_2099")


def test_per_speaker_standardisation_uses_each_speakers_own_statistics():
    vectors = torch.tensor([[1.0, 5.0], [3.0, 5.0], [10.0, 0.0], [30.0, 2.0]])
    out = standardise_per_speaker(vectors, ["a", "a", "b", "b"])
    torch.testing.assert_close(out, torch.tensor([[-1.0, 0.0], [1.0, 0.0], [-1.0, -1.0], [1.0, 1.0]]))
