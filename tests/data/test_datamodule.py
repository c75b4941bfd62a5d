from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from serlab.cli.train import train
from serlab.data.audio import AudioError
from serlab.data.checks import EmptyClassError, UnusableFilesError
from serlab.data.collate import pad_collate
from serlab.data.corpora.synthetic import SyntheticCorpus
from serlab.data.corpora.table import ManifestCorpus
from serlab.data.datamodule import SERDataModule
from serlab.data.dataset import Example
from serlab.data.splits import SpeakerFolds
from serlab.errors import UserError
from tests.conftest import TINY, compose_train, write_tone


def _datamodule(data_dir, label_map=None, fold=0):
    corpus = SyntheticCorpus(data_dir / "synthetic", **TINY)
    label_map = label_map or {e: e for e in ("neutral", "happy", "angry", "sad")}
    return SERDataModule(corpus, label_map, SpeakerFolds(n_folds=5, n_val_speakers=1), fold=fold, batch_size=4)


def test_splits_are_speaker_disjoint_and_complete(data_dir):
    dm = _datamodule(data_dir)
    dm.prepare_data()
    dm.setup()
    speakers = {side: {r.speaker for r in data.rows} for side, data in dm.datasets.items()}
    assert not speakers["train"] & speakers["test"] and not speakers["val"] & (speakers["train"] | speakers["test"])
    assert sum(len(d) for d in dm.datasets.values()) == len(dm.rows)
    record = dm.split_record()
    assert {r["split"] for r in record} == {"train", "val", "test"}


def test_batches_are_padded_with_true_lengths(data_dir):
    dm = _datamodule(data_dir)
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    assert batch.waveforms.shape[0] == len(batch) == batch.lengths.shape[0]
    assert batch.waveforms.shape[1] == int(batch.lengths.max())
    for row, length in enumerate(batch.lengths.tolist()):
        assert batch.waveforms[row, length:].abs().sum() == 0


def test_label_map_drops_and_merges(data_dir):
    dm = _datamodule(data_dir, label_map={"angry": "high", "happy": "high", "sad": "low"})
    dm.setup("test")
    assert dm.classes == ["high", "low"]
    assert set(dm.dropped) == {"neutral"}
    assert {r.label for r in dm.rows} == {"high", "low"}


def test_pad_collate_orders_targets_with_examples():
    batch = pad_collate([Example("a", torch.ones(3), 1), Example("b", torch.ones(5), 0)])
    assert batch.ids == ["a", "b"] and batch.targets.tolist() == [1, 0] and batch.lengths.tolist() == [3, 5]


def _manifest_datamodule(tmp_path, on_bad_file, **options):
    for speaker in ("s1", "s2", "s3"):
        for k in range(2):
            write_tone(tmp_path / f"{speaker}_{k}.wav", seconds=1.0 + k)
    (tmp_path / "silent.wav").parent.mkdir(exist_ok=True)
    sf.write(tmp_path / "silent.wav", np.zeros(16000), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    lines = [f"{s}_{k}.wav,happy,{s}" for s in ("s1", "s2", "s3") for k in range(2)]
    lines += ["silent.wav,happy,s1", "broken.wav,happy,s3", "gone.wav,happy,s2"]
    (tmp_path / "list.csv").write_text("path,label,speaker\n" + "\n".join(lines) + "\n")
    return SERDataModule(
        ManifestCorpus(tmp_path / "list.csv"),
        {"happy": "happy"},
        SpeakerFolds(3, 1),
        on_bad_file=on_bad_file,
        **options,
    )


def test_bad_files_stop_the_run_with_their_path_by_default(tmp_path):
    dm = _manifest_datamodule(tmp_path, "error")
    with pytest.raises(AudioError, match=r"(silent|unreadable|not found).*data.on_bad_file=skip"):
        dm.setup()


def test_skipped_files_are_counted_and_listed(tmp_path):
    dm = _manifest_datamodule(tmp_path, "skip")
    dm.setup()
    reasons = {Path(s.path).name: s.reason for s in dm.skipped()}
    assert set(reasons) == {"silent.wav", "broken.wav", "gone.wav"}
    assert reasons["gone.wav"] == "file not found" and reasons["silent.wav"].startswith("silent")
    assert sum(len(d) for d in dm.datasets.values()) == 6 and dm.split_summary()["skipped_files"] == 3


def test_training_crops_at_random_and_evaluation_keeps_full_length(tmp_path):
    dm = _manifest_datamodule(tmp_path, "skip", max_duration=0.5, cache_dir=tmp_path / "cache")
    dm.setup()
    train = dm.datasets["train"]
    crops = {tuple(train[i].waveform[:50].tolist()) for i in range(len(train)) for _ in range(3)}
    assert all(len(train[i].waveform) == 8000 for i in range(len(train)))
    assert len(crops) > len(train)  # the crop start varies between draws
    assert sorted(len(dm.datasets["test"][i].waveform) for i in range(2)) == [16000, 32000]
    assert any((tmp_path / "cache").rglob("*.npy"))


def _three_speakers(tmp_path, extra_lines=(), labels=("happy", "sad")):
    """A manifest of three speakers with one tone per label each (SpeakerFolds(3, 1): one speaker per side)."""
    lines = []
    for speaker in ("s1", "s2", "s3"):
        for label in labels:
            write_tone(tmp_path / f"{speaker}_{label}.wav")
            lines.append(f"{speaker}_{label}.wav,{label},{speaker}")
    (tmp_path / "list.csv").write_text("path,label,speaker\n" + "\n".join([*lines, *extra_lines]) + "\n")
    return ManifestCorpus(tmp_path / "list.csv")


def _truncated(path):
    write_tone(path, seconds=1.9)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - round(1.27 * 16000) * 2])


def test_a_missing_file_of_any_split_stops_the_run_before_fitting(tmp_path):
    corpus = _three_speakers(tmp_path, ["gone.wav,sad,s1"])
    dm = SERDataModule(corpus, {"happy": "happy", "sad": "sad"}, SpeakerFolds(3, 1))
    with pytest.raises(UnusableFilesError, match=r"gone\.wav: file not found \(set data\.on_bad_file=skip") as err:
        dm.setup("fit")  # what Lightning calls before the first epoch; s1 is the test speaker
    assert isinstance(err.value, UserError) and not dm.datasets


def test_several_unusable_files_are_counted_and_the_first_few_named(tmp_path):
    corpus = _three_speakers(tmp_path, ["gone.wav,sad,s3", "empty.wav,happy,s1", "cut.wav,sad,s2", "lost.wav,sad,s2"])
    (tmp_path / "empty.wav").write_bytes(b"")
    _truncated(tmp_path / "cut.wav")
    dm = SERDataModule(corpus, {"happy": "happy", "sad": "sad"}, SpeakerFolds(3, 1))
    with pytest.raises(UnusableFilesError) as err:
        dm.n_folds()
    message = str(err.value)
    assert "4 unusable files in all" in message and "\n" not in message
    assert "gone.wav: file not found" in message and r"empty.wav: empty (0 bytes)" in message
    assert "cut.wav: truncated: decoded 0.63 s of a header that promises 1.90 s" in message


def test_skipped_unusable_files_of_every_split_are_counted_listed_and_warned_before_fitting(tmp_path, caplog):
    corpus = _three_speakers(tmp_path, ["gone.wav,sad,s3", "empty.wav,happy,s1", "cut.wav,sad,s2"])
    (tmp_path / "empty.wav").write_bytes(b"")
    _truncated(tmp_path / "cut.wav")
    dm = SERDataModule(corpus, {"happy": "happy", "sad": "sad"}, SpeakerFolds(3, 1), on_bad_file="skip")
    dm.setup("fit")
    reasons = {Path(s.path).name: s.reason for s in dm.skipped()}
    assert reasons == {
        "gone.wav": "file not found",
        "empty.wav": "empty (0 bytes)",
        "cut.wav": "truncated: decoded 0.63 s of a header that promises 1.90 s",
    }
    assert dm.split_summary()["skipped_files"] == 3 and len(dm.rows) == 6
    assert "skipped 3 unusable file(s)" in caplog.text


def test_a_misspelt_label_that_leaves_a_class_without_training_utterances_is_an_error(tmp_path):
    corpus = _three_speakers(tmp_path, labels=("Happy", "sad"))
    dm = SERDataModule(corpus, {"happy": "happy", "sad": "sad"}, SpeakerFolds(3, 1))
    with pytest.raises(EmptyClassError, match=r"data.label_map: no training utterances for class 'happy'; "
                       r"the map dropped the corpus labels 'Happy' \(3\)") as err:  # fmt: skip
        dm.setup("fit")
    assert isinstance(err.value, UserError)


def test_a_class_held_only_by_evaluation_speakers_is_an_error(tmp_path):
    corpus = _three_speakers(tmp_path, ["extra.wav,angry,s1"])  # s1 is the test speaker of fold 0
    write_tone(tmp_path / "extra.wav")
    dm = SERDataModule(corpus, {"happy": "happy", "sad": "sad", "angry": "angry"}, SpeakerFolds(3, 1))
    with pytest.raises(EmptyClassError, match=r"class 'angry' \(1 in the corpus, none of training speakers\)"):
        dm.setup("fit")


def test_a_run_with_a_missing_test_file_stops_before_the_first_epoch(tmp_path, data_dir):
    _three_speakers(tmp_path / "corpus", ["gone.wav,sad,s1"])
    cfg = compose_train(tmp_path, data_dir, "data=manifest", f"data.path={tmp_path / 'corpus' / 'list.csv'}",
                        "data.label_map={happy: happy, sad: sad}", "data/split=speaker_folds", "data.split.n_folds=3",
                        "data.batch_size=2", "debug=limit", "trainer.max_epochs=1")  # fmt: skip
    with pytest.raises(UnusableFilesError, match=r"gone\.wav: file not found"):
        train(cfg)
    assert not list((tmp_path / "run").rglob("*.ckpt"))


class Energy:
    """A vector stream whose one value is the utterance's mean square, to see which audio it was computed from."""

    shape = (1,)
    per_speaker = False

    def __call__(self, waveforms, sample_rate, speakers):
        return torch.stack([w.pow(2).mean()[None] for w in waveforms])


def test_a_degraded_test_split_is_decoded_through_the_condition_and_its_streams_follow(data_dir):
    corpus = SyntheticCorpus(data_dir / "synthetic", **TINY)
    label_map = {e: e for e in ("neutral", "happy", "angry", "sad")}
    dm = SERDataModule(corpus, label_map, SpeakerFolds(n_folds=5, n_val_speakers=1), streams={"energy": Energy()})
    dm.setup("test")
    clean = dm.datasets["test"]
    loud = lambda wave, uid: 3 * wave  # noqa: E731
    dm.degrade_test(loud)
    dm.setup("test")
    degraded = dm.datasets["test"]
    assert [r.id for r in degraded.rows] == [r.id for r in clean.rows]
    for i in range(len(clean)):
        torch.testing.assert_close(degraded.waveforms[i], 3 * clean.waveforms[i])
    torch.testing.assert_close(degraded.vectors["energy"], 9 * clean.vectors["energy"])
    dm.degrade_test(None)
    dm.setup("test")
    torch.testing.assert_close(dm.datasets["test"].vectors["energy"], clean.vectors["energy"])
