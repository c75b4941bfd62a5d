"""CORAL: the covariance distance against a hand computation, and its gradient aligning two domains."""

import pytest
import torch

from serlab.adaptation.coral import CoralAlignment, coral_distance, covariance
from tests.adaptation.domains import domain


def test_covariance_matches_torch():
    x = torch.randn(10, 3)
    assert torch.allclose(covariance(x), torch.cov(x.T), atol=1e-6)


def test_the_distance_by_hand():
    source = torch.tensor([[0.0, 0.0], [2.0, 0.0]])  # covariance [[2, 0], [0, 0]]
    target = torch.tensor([[0.0, 0.0], [0.0, 2.0]])  # covariance [[0, 0], [0, 2]]
    assert coral_distance(source, target).item() == pytest.approx((4 + 4) / (4 * 4))
    assert coral_distance(source, source + 5.0).item() == 0.0  # a shift alone is not a covariance difference
    assert coral_distance(source[:1], target).item() == 0.0  # one row has no covariance


def test_minimising_the_term_aligns_the_covariances():
    torch.manual_seed(0)
    source, target = torch.randn(64, 3), torch.randn(64, 3) * torch.tensor([3.0, 1.0, 0.2])
    scale = torch.ones(3, requires_grad=True)
    coral = CoralAlignment(weight=10.0)
    before = coral_distance(source, target).item()
    optimizer = torch.optim.Adam([scale], lr=0.05)
    for _ in range(300):
        loss = coral(domain(source * scale), domain(target, prefix="t"), progress=0.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert coral_distance(source * scale.detach(), target).item() < 0.05 * before
    assert scale[0] > 2.0 and scale[2].abs() < 0.5
