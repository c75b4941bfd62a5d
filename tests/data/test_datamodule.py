import torch

from serlab.data.collate import pad_collate
from serlab.data.corpora.synthetic import SyntheticCorpus
from serlab.data.datamodule import SERDataModule
from serlab.data.dataset import Example
from serlab.data.splits import SpeakerFolds
from tests.conftest import TINY


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
