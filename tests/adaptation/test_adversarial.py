"""Domain-adversarial training: the reversed gradient, its schedule, and a representation that forgets the domain."""

import math

import pytest
import torch
from torch import nn

from serlab.adaptation.adversarial import DomainAdversarial, GradientReversal, reversal_scale
from tests.adaptation.domains import domain, shifted_domains


def test_the_reversal_layer_passes_values_and_returns_minus_scale_times_the_gradient():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = GradientReversal.apply(x, 0.5)
    assert torch.equal(y, x.detach())
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.5, -1.0, -1.5]))


def test_the_schedule_ramps_from_zero_to_near_one_and_a_zero_ramp_holds_one():
    assert reversal_scale(0.0, 10.0) == 0.0
    assert reversal_scale(0.5, 10.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert reversal_scale(1.0, 10.0) > 0.999
    assert reversal_scale(0.0, 0.0) == reversal_scale(0.7, 0.0) == 1.0


def test_the_term_is_the_domain_classifiers_cross_entropy():
    torch.manual_seed(0)
    adversary = DomainAdversarial(embedding_size=2, hidden=4)
    source, target = shifted_domains(8)
    term = adversary(domain(source), domain(target, prefix="t"), progress=0.5)
    logits = adversary.classifier(torch.cat([source, target])).squeeze(-1)
    expected = nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([0.0] * 8 + [1.0] * 8))
    assert term.item() == pytest.approx(expected.item(), rel=1e-6)


def train_encoder(adversarial: bool) -> torch.Tensor:
    """A linear 2 -> 2 encoder trained to keep dimension 0 (a stand-in for the emotion) of source points, with or
    without the adversary; returns its weights."""
    torch.manual_seed(0)
    encoder = nn.Linear(2, 2)
    adversary = DomainAdversarial(embedding_size=2, hidden=16, weight=1.0, ramp=0.0)
    optimizer = torch.optim.Adam([*encoder.parameters(), *adversary.parameters()], lr=1e-2)
    for step in range(400):
        source, target = shifted_domains(64, seed=step)
        code_s, code_t = encoder(source), encoder(target)
        loss = nn.functional.mse_loss(code_s[:, 0], source[:, 0])
        if adversarial:
            loss = loss + adversary(domain(code_s), domain(code_t, prefix="t"), progress=1.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return encoder.weight.detach()


def test_the_adversary_makes_the_representation_drop_what_tells_the_domains_apart():
    # the weight the encoder puts on the shifted dimension, into its second output, stays where it started
    # without the adversary and is driven towards 0 with it
    plain, adapted = train_encoder(False), train_encoder(True)
    assert adapted[:, 1].abs().sum() < 0.5 * plain[:, 1].abs().sum()


def test_settings_out_of_range_are_refused_naming_them():
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        DomainAdversarial(embedding_size=2, hidden=0)
