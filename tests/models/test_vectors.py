"""model=vector_head: a classifier on utterance-level vector streams alone, and a run on a pretrained encoder's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from serlab.cli.train import train
from serlab.config_check import ConfigError
from serlab.models.vectors import VectorHead
from tests.conftest import compose_train
from tests.features.pretrained import real_model

SHAPES = {"functionals": (6,), "embeddings": (3, 4)}


def test_a_linear_head_reads_every_named_stream_and_ignores_the_frames():
    torch.manual_seed(0)
    head = VectorHead(40, 4, SHAPES, streams=["functionals", "embeddings"]).eval()
    assert head.reads == ("functionals", "embeddings") and head.head.in_features == 6 + 12
    vectors = {"functionals": torch.randn(2, 6), "embeddings": torch.randn(2, 3, 4)}
    a = head(torch.randn(2, 40, 9), torch.tensor([9, 4]), vectors).logits
    b = head(torch.zeros(2, 40, 3), torch.tensor([3, 1]), vectors).logits
    torch.testing.assert_close(a, b)
    changed = head(torch.zeros(2, 40, 3), torch.tensor([3, 1]), {**vectors, "embeddings": torch.zeros(2, 3, 4)})
    assert not torch.allclose(changed.logits, a)


def test_a_stream_the_data_lacks_is_refused_naming_the_model_and_what_the_data_has():
    with pytest.raises(ConfigError, match=r"model=VectorHead joins \['embeddings'\], but the data provides "
                                          r"data.streams.functionals"):  # fmt: skip
        VectorHead(40, 4, {"functionals": (6,)}, streams=["embeddings"])


@pytest.mark.slow
def test_a_probe_of_whisper_statistics_trains_and_tests_on_a_corpus(tmp_path, data_dir):
    whisper = real_model("whisper-tiny.en")
    cfg = compose_train(
        tmp_path, data_dir, "data/streams/embeddings=whisper", f"data.streams.embeddings.encoder.path={whisper}",
        "model=vector_head", "model.streams=[embeddings]", "trainer.max_epochs=2",
    )  # fmt: skip
    metrics = train(cfg)
    assert 0.0 <= metrics["test/uar"] <= 1.0
    # every utterance was encoded once, into this encoder's cache folder (other tests fill others beside it), as
    # (5 layers, 2 x 384) statistics
    entries = list(instantiate(cfg.data.streams.embeddings).cache_dir.glob("*.npy"))
    assert entries and all(np.load(e).shape == (5, 768) for e in entries)
