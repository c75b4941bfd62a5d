"""Self-training: which target utterances get pseudo-labels, when rounds start, and the term they give."""

import pytest
import torch
from torch import nn

from serlab.adaptation.self_training import SelfTraining, confident_picks
from tests.adaptation.domains import domain

PROBS = torch.tensor([
    [0.95, 0.05, 0.0], [0.91, 0.09, 0.0], [0.99, 0.01, 0.0], [0.92, 0.08, 0.0],  # four confident of class 0
    [0.05, 0.93, 0.02],  # one confident of class 1
    [0.5, 0.3, 0.2],  # unsure
])  # fmt: skip


def test_picks_reach_the_threshold_and_balance_caps_each_class_at_an_equal_share():
    assert confident_picks(PROBS, 0.9, balance=False).tolist() == [0, 1, 2, 3, 4]
    # 5 picks over 3 classes: at most 1 each, the most confident of class 0 kept
    assert confident_picks(PROBS, 0.9, balance=True).tolist() == [2, 4]
    assert confident_picks(PROBS, 0.999, balance=True).tolist() == []


def test_rounds_start_at_start_epoch_every_few_epochs_and_stop_after_the_last():
    rounds = SelfTraining(start_epoch=5, every=3, rounds=2)
    assert [e for e in range(20) if rounds.relabels_at(e)] == [5, 8]


def test_the_term_is_the_cross_entropy_of_the_pseudo_labelled_target_rows_only():
    st = SelfTraining(threshold=0.9, balance=False, weight=0.5)
    st.relabel([f"t{i}" for i in range(6)], PROBS)
    assert st.pseudo == {"t0": 0, "t1": 0, "t2": 0, "t3": 0, "t4": 1}
    logits = torch.randn(3, 3)
    target = domain(torch.zeros(3, 2), logits, prefix="t")
    target.ids = ["t4", "t5", "t0"]  # t5 was not confident
    expected = 0.5 * nn.functional.cross_entropy(logits[[0, 2]], torch.tensor([1, 0]))
    assert st(domain(torch.zeros(2, 2)), target, 0.0).item() == pytest.approx(expected.item())
    target.ids = ["t5", "x", "y"]
    assert st(domain(torch.zeros(2, 2)), target, 0.0).item() == 0.0


def test_pseudo_labels_travel_in_the_state_dict():
    st = SelfTraining()
    st.relabel(["a", "b", "c", "d", "e", "f"], PROBS)
    fresh = SelfTraining()
    fresh.load_state_dict(st.state_dict())
    assert fresh.pseudo == st.pseudo and fresh.pseudo


def test_settings_out_of_range_are_refused_naming_them():
    with pytest.raises(ValueError, match="threshold must lie in"):
        SelfTraining(threshold=0.0)
