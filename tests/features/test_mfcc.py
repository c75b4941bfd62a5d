import torch

from serlab.features.deltas import length_aware_deltas
from serlab.features.mfcc import MFCC


def test_deltas_are_the_regression_slope_inside_and_repeat_edges():
    ramp = torch.arange(10, dtype=torch.float32).repeat(2, 1, 1)  # (2, 1, 10)
    deltas = length_aware_deltas(ramp, torch.tensor([10, 6]))
    assert torch.allclose(deltas[0, 0, 2:8], torch.ones(6))  # slope of a ramp
    assert deltas[1, 0, 5] < 1  # the last valid frame repeats instead of reading padding
    alone = length_aware_deltas(ramp[:1, :, :6], torch.tensor([6]))
    torch.testing.assert_close(deltas[1:, :, :6], alone)


def test_feature_count_follows_deltas():
    assert MFCC(n_mfcc=13, deltas=2).out_features == 39 and MFCC(n_mfcc=20, deltas=0).out_features == 20
