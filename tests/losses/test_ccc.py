import math

import pytest
import torch

from serlab.losses.ccc import CCC, concordance, regression_loss
from serlab.models.output import ModelOutput
from tests.conftest import batch_of


def test_concordance_is_one_for_agreement_and_penalises_bias_and_scale():
    x = torch.randn(100)
    x = x - x.mean()
    assert concordance(x, x).item() == pytest.approx(1.0, abs=1e-5)
    assert concordance(x + 1, x) < 1 and concordance(2 * x, x) < 1
    assert concordance(-x, x).item() == pytest.approx(-1.0, abs=1e-5)


def test_missing_ratings_are_left_out():
    pred, target = torch.tensor([[1.0], [2.0], [3.0], [9.0]]), torch.tensor([1.0, 2.0, 3.0, math.nan])
    assert regression_loss(pred, target).item() == pytest.approx(0.0, abs=1e-5)


def test_ccc_loss_reads_named_heads():
    heads = {"arousal": torch.tensor([[0.1], [0.5], [0.9]]), "valence": torch.tensor([[0.9], [0.5], [0.1]])}
    batch = batch_of([0, 1, 0], arousal=[0.1, 0.5, 0.9], valence=[0.1, 0.5, 0.9])
    assert CCC()(ModelOutput(logits=torch.zeros(3, 2), heads=heads), batch).item() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="model=multitask"):
        CCC(["dominance"])(ModelOutput(logits=torch.zeros(3, 2), heads=heads), batch)
