"""Per-corpus standardisation of vector streams: statistics from each corpus's training utterances, or for a corpus
without any from its own (unlabelled) audio, reported."""


import pytest
import torch

from serlab.data.corpus_norm import CorpusStandardiser
from serlab.inference import load_recognizer
from serlab.training.build import build_datamodule
from serlab.training.checkpointing import CheckpointError
from tests.conftest import compose_train
from tests.data.corpora.test_multi import trees  # noqa: F401  (a fixture)


def test_each_corpus_is_standardised_with_its_training_statistics():
    norm = CorpusStandardiser("s")
    train = torch.tensor([[[1.0], [3.0], [10.0], [30.0]]])  # (versions, utterances, 1)
    norm.fit(train, ["a", "a", "b", "b"])
    assert torch.allclose(norm(train, ["a", "a", "b", "b"]).flatten(), torch.tensor([-1.0, 1.0, -1.0, 1.0]))
    # new utterances of a seen corpus keep its training statistics
    assert torch.allclose(norm(torch.tensor([[[5.0]]]), ["a"]).flatten(), torch.tensor([3.0]))
    assert not norm.unseen


def test_a_corpus_without_training_utterances_takes_its_own_statistics_and_is_reported():
    norm = CorpusStandardiser("s")
    norm.fit(torch.tensor([[[1.0], [3.0]]]), ["a", "a"])
    target = torch.tensor([[[100.0], [300.0]]])
    assert torch.allclose(norm(target, ["b", "b"]).flatten(), torch.tensor([-1.0, 1.0]))
    assert norm.unseen == {"b"}


def stream_overrides(emodb, urdu, *extra: str) -> list[str]:
    return ["data=multi", f"data.roots.emodb={emodb}", f"data.roots.urdu={urdu}", "data/streams/functionals=egemaps",
            "model=vector_head", "model.streams=[functionals]", *extra]  # fmt: skip


def test_cross_corpus_target_statistics_come_from_its_test_audio_and_the_split_record_says_so(
    tmp_path, data_dir, trees  # noqa: F811
):
    emodb, urdu = trees
    cfg = compose_train(tmp_path, data_dir, *stream_overrides(emodb, urdu, "data.split.test=[urdu]",
                                                              "data.streams_per_corpus=true"))  # fmt: skip
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    for side in ("train", "test"):
        values = datamodule.datasets[side].vectors["functionals"].flatten(0, 1)
        varying = values.std(dim=0, correction=0) > 1e-6
        # each side holds one corpus here, standardised with its own statistics
        assert torch.allclose(values[:, varying].mean(dim=0), torch.zeros(int(varying.sum())), atol=1e-4)
    assert datamodule.split_summary()["statistics_from_test_audio"] == ["urdu"]
    plain = build_datamodule(compose_train(tmp_path, data_dir, *stream_overrides(emodb, urdu,
                                                                                 "data.split.test=[urdu]")))
    plain.setup()
    assert plain.split_summary()["statistics_from_test_audio"] == []
    raw = plain.datasets["test"].vectors["functionals"]
    assert not torch.allclose(raw, datamodule.datasets["test"].vectors["functionals"])


def test_predict_refuses_a_run_standardised_per_corpus(tmp_path, data_dir, monkeypatch):
    cfg = compose_train(tmp_path, data_dir, "data.streams_per_corpus=true")
    monkeypatch.setattr("serlab.inference.load_run", lambda path: ({"state_dict": {}}, cfg, ["a", "b"]))
    with pytest.raises(CheckpointError, match="data.streams_per_corpus"):
        load_recognizer(tmp_path / "x.ckpt")
