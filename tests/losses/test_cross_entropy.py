import pytest
import torch

from serlab.losses.cross_entropy import CrossEntropy
from serlab.models.output import ModelOutput
from tests.conftest import batch_of


def test_matches_torch_cross_entropy():
    logits, y = torch.randn(5, 3), [0, 1, 2, 1, 0]
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor(y), label_smoothing=0.1)
    torch.testing.assert_close(CrossEntropy(label_smoothing=0.1)(ModelOutput(logits), batch_of(y)), expected)


def test_balanced_weights_are_inverse_training_frequencies():
    loss = CrossEntropy(class_weights="balanced")
    loss.set_class_counts(torch.tensor([30, 10, 20]))
    torch.testing.assert_close(loss.weight, torch.tensor([2 / 3, 2.0, 1.0]))
    logits, y = torch.randn(4, 3), [0, 1, 2, 1]
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor(y), weight=loss.weight)
    torch.testing.assert_close(loss(ModelOutput(logits), batch_of(y)), expected)


def test_bad_options_name_the_key():
    with pytest.raises(ValueError, match="loss.label_smoothing"):
        CrossEntropy(label_smoothing=1.0)
    with pytest.raises(ValueError, match="loss.class_weights"):
        CrossEntropy(class_weights="inverse")


def test_class_weights_stay_out_of_checkpoints():
    trained = CrossEntropy(class_weights="balanced")
    trained.set_class_counts(torch.tensor([3, 1]))
    CrossEntropy(class_weights="balanced").load_state_dict(trained.state_dict(), strict=True)
