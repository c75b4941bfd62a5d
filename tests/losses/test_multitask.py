import math

import pytest
import torch

from serlab.losses.multitask import MultiTask
from serlab.models.output import ModelOutput
from tests.conftest import batch_of


def test_weighted_sum_of_emotion_gender_and_rating_losses():
    logits, gender = torch.randn(4, 3), torch.randn(4, 2)
    arousal = torch.tensor([[0.0], [1.0], [2.0], [5.0]])
    output = ModelOutput(logits=logits, heads={"gender": gender, "arousal": arousal})
    batch = batch_of([0, 1, 2, 0], gender=[0, 1, -1, 1], arousal=[0.0, 1.0, 2.0, math.nan])
    loss = MultiTask({"emotion": 1.0, "gender": 0.5, "arousal": 2.0})(output, batch)
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0]))
    gender_ce = torch.nn.functional.cross_entropy(gender[[0, 1, 3]], torch.tensor([0, 1, 1]))
    torch.testing.assert_close(loss, ce + 0.5 * gender_ce + 2.0 * 0.0, atol=1e-4, rtol=1e-4)


def test_weights_must_name_existing_heads():
    output = ModelOutput(logits=torch.randn(2, 3), heads={})
    with pytest.raises(ValueError, match="loss.weights.gender"):
        MultiTask({"emotion": 1.0, "gender": 0.3})(output, batch_of([0, 1], gender=[0, 1]))


def test_a_corpus_head_learns_only_from_its_corpus():
    logits, emodb_head = torch.randn(4, 3), torch.randn(4, 3)
    output = ModelOutput(logits=logits, heads={"emotion_emodb": emodb_head})
    # rows 0 and 2 come from emodb; the others carry -1 for this head
    batch = batch_of([0, 1, 2, 0], emotion_emodb=[0, -1, 2, -1])
    loss = MultiTask({"emotion": 0.0, "emotion_emodb": 1.0})(output, batch)
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(emodb_head[[0, 2]], torch.tensor([0, 2])))


def test_a_head_without_a_weight_is_refused():
    output = ModelOutput(logits=torch.randn(2, 3), heads={"emotion_ravdess": torch.randn(2, 3)})
    with pytest.raises(ValueError, match=r"\['emotion_ravdess'\] have no loss.weights entry"):
        MultiTask({"emotion": 1.0})(output, batch_of([0, 1], emotion_ravdess=[0, 1]))
