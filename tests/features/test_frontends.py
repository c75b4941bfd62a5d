"""What every frontend keeps: padding never changes features, and normalisation modes work."""

import pytest
import torch
from hydra.utils import instantiate

from serlab.features.logmel import LogMel
from serlab.features.raw import Raw
from tests.conftest import compose_train
from tests.options import FRONTENDS, frontend_overrides


def build(tmp_path, data_dir, *overrides: str) -> torch.nn.Module:
    """The frontend serlab-train builds from `overrides` (build_module instantiates cfg.frontend likewise)."""
    return instantiate(compose_train(tmp_path, data_dir, *overrides).frontend)


def assert_padding_free(frontend: torch.nn.Module) -> None:
    """Features of an utterance are the same alone and padded in a batch, and zero past its frames."""
    wave = torch.randn(12345)
    alone, n = frontend(wave[None], torch.tensor([12345]))
    padded = torch.stack([torch.cat([wave, torch.zeros(5000)]), torch.randn(17345)])
    batched, m = frontend(padded, torch.tensor([12345, 17345]))
    assert batched.shape[1] == alone.shape[1] == frontend.out_features
    assert alone.shape[2] == n[0] == m[0] < m[1] == batched.shape[2]
    torch.testing.assert_close(batched[0, :, : int(n)], alone[0, :, : int(n)], atol=1e-4, rtol=1e-4)
    assert batched[0, :, int(n) :].abs().sum() == 0


@pytest.mark.parametrize("normalize", ["none", "utterance"])
@pytest.mark.parametrize("name", FRONTENDS)
def test_padding_does_not_change_features(tmp_path, data_dir, name, normalize):
    overrides = [f"frontend={name}", *frontend_overrides(name), f"frontend.normalize={normalize}"]
    assert_padding_free(build(tmp_path, data_dir, *overrides))


def test_padding_does_not_change_deltas(tmp_path, data_dir):
    assert_padding_free(build(tmp_path, data_dir, "frontend=logmel", "frontend.deltas=2"))


def test_global_normalisation_uses_accumulated_training_statistics():
    frontend = LogMel(n_mels=16, normalize="global")
    waves, lengths = (
        torch.randn(4, 16000) * torch.tensor([[0.1], [1.0], [2.0], [0.5]]),
        torch.tensor([16000, 9000, 16000, 4000]),
    )
    assert frontend.norm.needs_statistics
    frontend.norm.accumulate(*frontend.raw_features(waves, lengths))
    assert not frontend.norm.needs_statistics
    feats, frames = frontend(waves, lengths)
    valid = torch.cat([feats[i, :, : frames[i]] for i in range(4)], dim=1)
    torch.testing.assert_close(valid.mean(dim=1), torch.zeros(16), atol=1e-4, rtol=0)
    torch.testing.assert_close(valid.std(dim=1, unbiased=False), torch.ones(16), atol=1e-3, rtol=0)


def test_raw_frames_are_consecutive_samples():
    wave = torch.arange(2000, dtype=torch.float32)
    frames, n = Raw(sample_rate=16000, frame_ms=40.0)(wave[None], torch.tensor([2000]))
    assert frames.shape == (1, 640, 3) and n.tolist() == [3]
    assert frames[0, :, 1].tolist() == wave[640:1280].tolist()


def test_speaker_normalisation_standardises_each_speaker_and_travels_in_the_state_dict():
    frontend = LogMel(n_mels=16, normalize="speaker")
    waves = torch.randn(4, 16000) * torch.tensor([[0.1], [0.2], [2.0], [3.0]])
    lengths, speakers = torch.tensor([16000, 9000, 16000, 4000]), ["quiet", "quiet", "loud", "loud"]
    assert frontend.norm.needs_statistics
    frontend.norm.accumulate(*frontend.raw_features(waves, lengths), speakers)
    feats, frames = frontend(waves, lengths, speakers)
    for rows in ([0, 1], [2, 3]):
        valid = torch.cat([feats[i, :, : frames[i]] for i in rows], dim=1)
        torch.testing.assert_close(valid.mean(dim=1), torch.zeros(16), atol=1e-4, rtol=0)
    # the same utterance, normalised as another speaker, comes out different
    as_other, _ = frontend(waves[:1], lengths[:1], ["loud"])
    assert not torch.allclose(as_other[0], feats[0, :, : frames[0]])
    with pytest.raises(ValueError, match=r"no statistics for speaker\(s\) \['new'\]"):
        frontend(waves[:1], lengths[:1], ["new"])
    restored = LogMel(n_mels=16, normalize="speaker")
    restored.load_state_dict(frontend.state_dict())
    torch.testing.assert_close(restored(waves, lengths, speakers)[0], feats)
    assert "norm._extra_state" not in LogMel(n_mels=16, normalize="global").state_dict()


def test_unknown_normalisation_is_refused():
    with pytest.raises(ValueError, match="frontend.normalize"):
        LogMel(normalize="by_corpus")


def test_logmel_deltas_follow_the_static_bands():
    wave = torch.randn(1, 8000)
    plain, n = LogMel(n_mels=20)(wave, torch.tensor([8000]))
    stacked, m = LogMel(n_mels=20, deltas=1)(wave, torch.tensor([8000]))
    assert stacked.shape[1] == 40 and n.tolist() == m.tolist()
    torch.testing.assert_close(stacked[:, :20], plain)
    with pytest.raises(ValueError, match="frontend.deltas"):
        LogMel(deltas=3)
