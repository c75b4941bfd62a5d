import pytest
import torch

from serlab.losses.cross_entropy import CrossEntropy
from serlab.models.output import ModelOutput


def test_matches_torch_cross_entropy():
    logits, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    expected = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1)
    torch.testing.assert_close(CrossEntropy(label_smoothing=0.1)(ModelOutput(logits), y), expected)


def test_bad_smoothing_names_the_key():
    with pytest.raises(ValueError, match="loss.label_smoothing"):
        CrossEntropy(label_smoothing=1.0)
