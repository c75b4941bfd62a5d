import librosa
import numpy as np
import torch

from serlab.features.logmel import LogMel


def test_shapes_and_frame_lengths():
    frontend = LogMel(n_mels=40)
    lengths = torch.tensor([16000, 8000, 300])
    feats, frames = frontend(torch.randn(3, 16000), lengths)
    assert feats.shape[:2] == (3, 40)
    assert frames.tolist() == [(16000 - 512) // 160 + 1, (8000 - 512) // 160 + 1, 1]
    assert feats[1, :, frames[1] :].abs().sum() == 0


def test_matches_librosa_log_mel_before_normalisation():
    sr, wave = 16000, np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    frontend = LogMel(sample_rate=sr, n_mels=40, normalize="none", f_min=0.0)
    ours, _ = frontend(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
    ref = librosa.feature.melspectrogram(
        y=wave, sr=sr, n_fft=512, win_length=400, hop_length=160, n_mels=40, center=False, htk=True, norm=None, fmin=0.0
    )
    np.testing.assert_allclose(ours[0].numpy(), np.log(ref + 1e-6), atol=2e-3, rtol=1e-3)
