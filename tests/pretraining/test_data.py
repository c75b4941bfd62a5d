"""Pretraining audio: files from a folder or a corpus's speakers, unusable files counted, random segments."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from serlab.data.audio import AudioError, AudioSettings
from serlab.data.manifest import Utterance
from serlab.data.splits import LeaveOneSpeakerOut
from serlab.pretraining.data import (
    PretrainDataError,
    Segments,
    corpus_files,
    decode_files,
    folder_files,
    input_statistics,
    log_mels,
)


def write_noise(path: Path, seconds: float = 0.5, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.random.default_rng(len(str(path))).standard_normal(int(16000 * seconds)), 16000, format=fmt)
    return path


def test_a_folder_gives_every_audio_file_under_it(tmp_path):
    found = [write_noise(tmp_path / "a.wav"), write_noise(tmp_path / "deep" / "b.FLAC"),
             write_noise(tmp_path / "deep" / "c.ogg", fmt="OGG")]  # fmt: skip
    (tmp_path / "notes.txt").write_text("not audio")
    assert folder_files(tmp_path) == sorted(found)
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "notes.txt").write_text("not audio")
    with pytest.raises(PretrainDataError, match="pretrain.audio: no audio files"):
        folder_files(tmp_path / "texts")
    with pytest.raises(PretrainDataError, match="is not a folder"):
        folder_files(tmp_path / "missing")


def test_unusable_files_are_counted_and_listed_or_stop_the_run(tmp_path):
    good = [write_noise(tmp_path / "a.wav"), write_noise(tmp_path / "b.wav")]
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    decoded = decode_files([good[0], bad, good[1]], AudioSettings(), "skip")
    assert decoded.paths == good and len(decoded.waves) == 2
    assert [s["path"] for s in decoded.skipped] == [str(bad)] and decoded.skipped[0]["reason"]
    with pytest.raises(AudioError, match="pretrain.on_bad_file=skip"):
        decode_files([good[0], bad], AudioSettings(), "error")
    with pytest.raises(PretrainDataError, match="none of the 1"):
        decode_files([bad], AudioSettings(), "skip")


def rows() -> list[Utterance]:
    speakers = ("03", "08", "09", "10")
    return [Utterance(f"{s}_{i}", Path(f"/c/{s}_{i}.wav"), "neutral", s) for s in speakers for i in (1, 2)]


def test_a_corpus_keeps_the_named_speakers_and_the_sides_of_a_fold():
    split = LeaveOneSpeakerOut(n_val_speakers=1)
    assert len(corpus_files(rows(), None, None, split, 0)) == 8
    assert [p.name for p in corpus_files(rows(), ["08", "10"], None, split, 0)] == ["08_1.wav", "08_2.wav", "10_1.wav",
                                                                                  "10_2.wav"]  # fmt: skip
    # fold 0 tests on 03 and validates on 08: training speakers only are 09 and 10
    assert {p.name[:2] for p in corpus_files(rows(), None, ["train"], split, 0)} == {"09", "10"}
    assert {p.name[:2] for p in corpus_files(rows(), ["03", "09"], ["train"], split, 0)} == {"09"}
    with pytest.raises(PretrainDataError, match=r"pretrain.speakers: \['3'\]"):
        corpus_files(rows(), [3], None, split, 0)
    with pytest.raises(PretrainDataError, match="pretrain.sides"):
        corpus_files(rows(), None, ["training"], split, 0)
    with pytest.raises(PretrainDataError, match="leave no file"):
        corpus_files(rows(), ["03"], ["train"], split, 0)


def test_segments_are_standardised_random_crops_and_short_clips_repeat():
    torch.manual_seed(0)
    mels = log_mels([torch.randn(16000), torch.randn(3000)])  # 98 and 17 frames
    assert [m.shape for m in mels] == [(64, 98), (64, 17)]
    mean, std = input_statistics(mels)
    all_values = torch.cat([m.flatten() for m in mels])
    assert mean == pytest.approx(float(all_values.mean()), rel=1e-5) and std == pytest.approx(float(all_values.std()))
    segments = Segments(mels, mean, std, frames=32)
    first, again = segments[0], segments[0]
    assert first.shape == (64, 32) and not torch.equal(first, again)
    standardised = (mels[0] - mean) / std
    assert any(torch.allclose(standardised[:, t : t + 32], first) for t in range(98 - 32 + 1))
    short = segments[1]
    assert short.shape == (64, 32)
    torch.testing.assert_close(short[:, 17:], short[:, :15])  # the clip, repeated
