import math

import pytest
import torch

from serlab.training.metrics import macro_f1, per_class_recall, summarize, uar, war


def test_uar_is_mean_recall_and_war_is_accuracy():
    cm = torch.tensor([[8, 2, 0], [1, 1, 0], [0, 0, 0]])  # class 2 absent from the reference
    assert uar(cm) == pytest.approx((0.8 + 0.5) / 2)
    assert war(cm) == pytest.approx(9 / 12)
    assert math.isnan(per_class_recall(cm)[2])


def test_macro_f1():
    cm = torch.tensor([[8, 2], [1, 1]])
    f1_a, f1_b = 2 * 8 / (10 + 9), 2 * 1 / (2 + 3)
    assert macro_f1(cm) == pytest.approx((f1_a + f1_b) / 2)


def test_uar_differs_from_war_on_imbalanced_data():
    cm = torch.tensor([[90, 0], [10, 0]])  # always predicts the majority class
    assert summarize(cm) == pytest.approx({"uar": 0.5, "war": 0.9, "f1": (2 * 90 / 190) / 2})
