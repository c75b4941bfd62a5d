"""Regularizers that act on inputs touch only valid samples and frames."""

import pytest
import torch

from serlab.models.crnn import CRNN
from serlab.regularizers.mixup import Mixup
from serlab.regularizers.noise import AdditiveNoise
from serlab.regularizers.specaugment import SpecAugment
from serlab.regularizers.weight_penalty import WeightPenalty


def test_specaugment_masks_bands_and_spans_inside_valid_frames():
    torch.manual_seed(0)
    feats, frames = torch.ones(4, 40, 100), torch.tensor([100, 80, 50, 10])
    feats[1, :, 80:] = 0
    masked = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_width=0.2).on_features(feats, frames)
    assert (masked == 0).any() and (masked[0] == 1).float().mean() > 0.5
    assert masked[1, :, 80:].abs().sum() == 0


def test_noise_reaches_the_drawn_snr_and_leaves_padding_silent():
    torch.manual_seed(0)
    wave = torch.zeros(2, 16000)
    wave[:, :8000] = torch.sin(torch.arange(8000) / 5.0)
    noisy = AdditiveNoise(min_snr_db=10.0, max_snr_db=10.0, p=1.0).on_waveform(wave, torch.tensor([8000, 8000]))
    noise = noisy[:, :8000] - wave[:, :8000]
    snr = 10 * torch.log10(wave[:, :8000].pow(2).mean(-1) / noise.pow(2).mean(-1))
    torch.testing.assert_close(snr, torch.tensor([10.0, 10.0]), atol=0.3, rtol=0)
    assert noisy[:, 8000:].abs().sum() == 0


def test_mixup_blends_features_and_keeps_the_longer_length():
    torch.manual_seed(0)
    feats, frames = torch.randn(6, 8, 20), torch.tensor([20, 5, 12, 20, 7, 3])
    mixed, mixed_frames, order, lam = Mixup(alpha=0.4).mix(feats, frames)
    assert 0.0 <= lam <= 1.0
    torch.testing.assert_close(mixed, lam * feats + (1 - lam) * feats[order])
    assert mixed_frames.tolist() == torch.maximum(frames, frames[order]).tolist()


def test_weight_penalty_sums_weights_only():
    model = CRNN(8, 2, channels=(2,), pools=((2, 2),), hidden=4)
    expected = sum(p.pow(2).sum() for n, p in model.named_parameters() if p.dim() > 1 and "weight" in n)
    torch.testing.assert_close(WeightPenalty(l1=0.0, l2=0.5).penalty(model), 0.5 * expected)
    with pytest.raises(ValueError, match="regularizer.weight_penalty"):
        WeightPenalty(l2=-1.0)
