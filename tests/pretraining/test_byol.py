"""BYOL-A's objective: the loss, the target's moving average and schedule, gradients to the online network only."""

import math

import pytest
import torch

from serlab.errors import UserError
from serlab.features.byol_s import AudioNTT2020
from serlab.pretraining.augment import LogMixup, RandomLinearFader, RandomResizeCrop, Views
from serlab.pretraining.byol import BYOLA, byol_loss, cosine_tau, ema_update, load_encoder
from tests.features.pretrained import random_byol_s


def small_byol(**kwargs) -> BYOLA:
    torch.manual_seed(0)
    views = Views(LogMixup(0.4, 16), RandomResizeCrop(), RandomLinearFader(1.0))
    return BYOLA(AudioNTT2020(), views, hidden=32, projection=16, **kwargs)


def test_the_loss_is_two_minus_twice_the_cosine():
    prediction = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    target = torch.tensor([[3.0, 3.0], [0.0, -1.0]])
    # cosines 1/sqrt(2) and -1
    expected = ((2 - 2 / math.sqrt(2)) + (2 + 2)) / 2
    assert float(byol_loss(prediction, target)) == pytest.approx(expected)
    # the same as the squared distance of the unit vectors
    unit = torch.nn.functional.normalize
    distance = (unit(prediction) - unit(target)).pow(2).sum(1).mean()
    assert float(byol_loss(prediction, target)) == pytest.approx(float(distance))


def test_the_target_moves_towards_the_online_weights_by_one_minus_tau():
    online, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        online.weight.fill_(3.0), online.bias.fill_(-1.0), target.weight.fill_(1.0), target.bias.fill_(1.0)
    ema_update(target, online, tau=0.9)
    torch.testing.assert_close(target.weight, torch.full((1, 2), 0.9 * 1.0 + 0.1 * 3.0))
    torch.testing.assert_close(target.bias, torch.tensor([0.9 * 1.0 + 0.1 * -1.0]))
    torch.testing.assert_close(online.weight, torch.full((1, 2), 3.0))  # the online network is not touched


def test_the_cosine_schedule_rises_from_tau_to_tau_end():
    assert cosine_tau(0.99, 1.0, 0, 100) == pytest.approx(0.99)
    assert cosine_tau(0.99, 1.0, 50, 100) == pytest.approx(0.995)
    assert cosine_tau(0.99, 1.0, 100, 100) == pytest.approx(1.0)
    assert cosine_tau(0.99, 1.0, 25, 100) < 0.995


def test_only_the_online_network_gets_gradients():
    byol = small_byol()
    loss = byol.loss(*byol.views.pair(torch.randn(4, 64, 16)))
    loss.backward()
    assert all(not p.requires_grad and p.grad is None for p in byol.target.parameters())
    assert all(p.grad is not None for p in [*byol.online.parameters(), *byol.predictor.parameters()])
    optimized = {id(p) for group in byol.configure_optimizers().param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in byol.target.parameters()}


def test_the_target_starts_as_a_copy_of_the_online_network_and_then_follows_it():
    byol = small_byol()
    for t, o in zip(byol.target.parameters(), byol.online.parameters()):
        torch.testing.assert_close(t, o)
        assert t.data_ptr() != o.data_ptr()
    before = [p.clone() for p in byol.target.parameters()]
    with torch.no_grad():
        for p in byol.online.parameters():
            p.add_(1.0)
    byol.on_train_batch_end(None, torch.empty(0), 0)
    for b, t in zip(before, byol.target.parameters()):
        torch.testing.assert_close(t, b + 0.01)  # tau 0.99


def test_the_encoder_starts_from_the_given_state_dict(tmp_path):
    state = torch.load(random_byol_s(tmp_path / "init.pth"), weights_only=True)
    byol = BYOLA(load_encoder(str(tmp_path / "init.pth")), small_byol().views, hidden=32, projection=16)
    for name, value in state.items():
        torch.testing.assert_close(byol.encoder.state_dict()[name], value)
        torch.testing.assert_close(byol.target.encoder.state_dict()[name], value)
    with pytest.raises(UserError, match="pretrain.init"):
        load_encoder(str(tmp_path / "missing.pth"))


def test_a_decay_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="byol.tau_end"):
        small_byol(tau_end=1.5)
