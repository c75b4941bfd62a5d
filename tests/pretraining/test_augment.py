"""BYOL-A's augmentations: shapes kept, a new draw per view and per segment, and each one's own arithmetic."""

import pytest
import torch

from serlab.pretraining.augment import LogMixup, RandomLinearFader, RandomResizeCrop, Views


def views(**crop) -> Views:
    return Views(LogMixup(0.4, memory=8), RandomResizeCrop(**crop), RandomLinearFader(1.0))


@pytest.mark.parametrize(
    "augment", [LogMixup(0.4, 8), RandomResizeCrop(), RandomLinearFader(1.0), views()], ids=type
)
def test_each_augmentation_keeps_the_shape_and_draws_anew_per_call_and_segment(augment):
    torch.manual_seed(0)
    x = torch.randn(6, 64, 32)
    first, second = augment(x), augment(x)
    assert first.shape == second.shape == x.shape
    assert not torch.allclose(first, second)
    # each segment of the batch gets its own draw: the changes differ between segments
    change = first - x
    assert not torch.allclose(change[0], change[1])


def test_the_two_views_of_a_batch_differ_and_the_batch_then_joins_the_memory():
    torch.manual_seed(0)
    augment, x = views(), torch.randn(5, 64, 32)
    first, second = augment.pair(x)
    assert first.shape == second.shape == x.shape and not torch.allclose(first, second)
    torch.testing.assert_close(augment.mixup.memory_bank, x)
    augment.pair(torch.randn(5, 64, 32))
    assert augment.mixup.memory_bank.shape == (8, 64, 32)  # the oldest dropped beyond `memory`


def test_post_normalisation_standardises_each_view():
    torch.manual_seed(0)
    view = views()(torch.randn(4, 64, 32) * 3 + 5)
    assert abs(float(view.mean())) < 1e-5 and abs(float(view.std()) - 1) < 1e-4


def test_mixup_adds_power_not_log_values():
    torch.manual_seed(0)
    mixup = LogMixup(0.4, memory=0)
    same = torch.randn(1, 64, 16).repeat(3, 1, 1)
    # mixing a segment with itself in the power domain gives it back
    torch.testing.assert_close(mixup(same), same)
    x = torch.stack([torch.zeros(64, 16), torch.full((64, 16), 2.0)])
    mixed = mixup(x)
    # a mix of log(1) and log(e^2) lies between them, the first at most log(0.6 + 0.4 e^2) with weight l <= 0.4
    assert torch.all(mixed >= -1e-6) and torch.all(mixed <= 2 + 1e-6)
    assert torch.all(mixed[0] <= torch.tensor(0.6 + 0.4 * torch.e**2).log() + 1e-6)
    assert torch.allclose(mixed[0], mixed[0, 0, 0]) and torch.allclose(mixed[1], mixed[1, 0, 0])


def test_a_crop_of_the_whole_segment_resized_to_itself_is_the_segment():
    crop = RandomResizeCrop(virtual=(1.0, 1.0), freq_scale=(1.0, 1.0), time_scale=(1.0, 1.0))
    x = torch.randn(3, 64, 32)
    torch.testing.assert_close(crop(x), x)


def test_the_fader_adds_a_gain_linear_in_time_within_its_bound():
    torch.manual_seed(0)
    x = torch.randn(4, 64, 20)
    gain = RandomLinearFader(0.5)(x) - x
    assert torch.allclose(gain, gain[:, :1, :].expand_as(gain), atol=1e-6)  # the same for every band
    steps = gain[:, 0, 1:] - gain[:, 0, :-1]
    assert torch.allclose(steps, steps[:, :1].expand_as(steps), atol=1e-5)  # constant slope
    assert float(gain.abs().max()) <= 0.5 + 1e-6
    torch.testing.assert_close(RandomLinearFader(0.0)(x), x)


@pytest.mark.parametrize(
    "make",
    [lambda: LogMixup(1.5), lambda: RandomResizeCrop(virtual=(0.5, 1.0)), lambda: RandomResizeCrop(time_scale=(2, 1)),
     lambda: RandomLinearFader(-1.0)],
)
def test_out_of_range_strengths_are_refused(make):
    with pytest.raises(ValueError, match="pretrain"):
        make()
