"""BYOL-S as a frontend: the published weights load strictly, its log-mel, length-aware frames, padding-free."""

import pytest
import torch
import torchaudio

from serlab.errors import UserError
from serlab.features.byol_s import AudioNTT2020, ByolLogMel, ByolS
from tests.features.pretrained import random_byol_s, real_model
from tests.features.test_frontends import assert_padding_free


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    return str(random_byol_s(tmp_path_factory.mktemp("byol_s") / "byol_s.pth"))


def test_the_published_state_dict_loads_strictly():
    state = torch.load(real_model("byol-s-512") / "byol-s-512.pth", weights_only=True)
    assert len(state) == 25 and set(state) == set(AudioNTT2020().state_dict())
    frontend = ByolS(str(real_model("byol-s-512") / "byol-s-512.pth"))
    torch.testing.assert_close(frontend.encoder.fc[3].weight, state["fc.3.weight"])


def test_log_mel_is_its_authors_on_frames_of_the_utterance_alone():
    wave = torch.randn(1, 5000)
    mel, frames = ByolLogMel()(wave, torch.tensor([5000]))
    assert mel.shape == (1, 64, 29) and frames.tolist() == [(5000 - 400) // 160 + 1]
    theirs = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=1024, win_length=400, hop_length=160, n_mels=64, f_min=60.0, f_max=7800.0,
        center=False,
    )(torch.nn.functional.pad(wave, (312, 312)))
    torch.testing.assert_close(mel, (theirs + torch.finfo(torch.float32).eps).log(), atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("normalize", ["none", "utterance", "global"])
def test_padding_does_not_change_features(weights, normalize):
    assert_padding_free(ByolS(weights, normalize=normalize).eval())


def test_one_frame_per_eight_input_frames_the_last_group_partial(weights):
    frontend = ByolS(weights, normalize="none").eval()
    lengths = torch.tensor([400 + 160 * 79, 400 + 160 * 80, 300])  # 80, 81 and 1 log-mel frames
    feats, frames = frontend(torch.randn(3, int(lengths.max())), lengths)
    assert frontend.out_features == 512 and feats.shape == (3, 512, 11) and frames.tolist() == [10, 11, 1]


def test_its_layers_are_the_convolution_output_and_the_fc_output(weights):
    frontend = ByolS(weights, layer=None, normalize="none").eval()
    mel, frames = frontend.log_mel(torch.randn(1, 16000), torch.tensor([16000]))
    hidden, out_frames = frontend.hidden_states(mel, frames)
    assert hidden.shape == (2, 1, 13, 512) and out_frames.tolist() == [13]
    torch.testing.assert_close(frontend.encoder.fc(hidden[0]), hidden[1])
    torch.testing.assert_close(frontend.mix.weights, torch.tensor([0.5, 0.5]))


def test_global_statistics_standardise_the_log_mel_input(weights):
    frontend = ByolS(weights, normalize="global")
    waves, lengths = torch.randn(3, 16000) * torch.tensor([[0.1], [1.0], [3.0]]), torch.tensor([16000, 9000, 4000])
    values, counts = frontend.raw_features(waves, lengths)
    assert values.shape[1] == 1 and counts.tolist() == (ByolLogMel().frame_lengths(lengths) * 64).tolist()
    frontend.norm.accumulate(values, counts)
    standardised = frontend.norm(values, counts)
    valid = torch.cat([standardised[i, 0, : counts[i]] for i in range(3)])
    assert abs(valid.mean().item()) < 1e-4 and valid.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-3)


FC = {"encoder.fc.0", "encoder.fc.3"}


@pytest.mark.parametrize(
    ("freeze", "trains"), [("all", set()), ("top:1", FC), ("top:2", FC | {"encoder.features.8", "encoder.features.9"})]
)
def test_freezing_counts_its_blocks_from_the_top(weights, freeze, trains):
    frontend = ByolS(weights, freeze=freeze)
    assert {n.rsplit(".", 1)[0] for n, p in frontend.named_parameters() if p.requires_grad} == trains
    # a frozen block's batch norm keeps its running statistics while the frontend trains
    assert not frontend.train().encoder.features[1].training


def test_missing_weights_are_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"^frontend.weights: .*missing.pth is not a file"):
        ByolS(str(tmp_path / "missing.pth"))
